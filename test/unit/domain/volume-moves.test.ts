import { describe, expect, it } from 'vitest';
import { TAG } from '../../../shared/domain/tags.js';
import { followsTag, planVolumeMoves, type FollowingVolume } from '../../../shared/domain/volume-moves.js';

const FAILED = 'i-0aaaaaaaaaaaaaaa1';
const NEW = 'i-0bbbbbbbbbbbbbbb2';
const placement = { availabilityZone: 'us-east-1a', devices: ['/dev/xvda'] };
const vol = (over: Partial<FollowingVolume>): FollowingVolume => ({
  volumeId: 'vol-1',
  availabilityZone: 'us-east-1a',
  state: 'in-use',
  attachment: { instanceId: FAILED, device: '/dev/sdf', state: 'attached' },
  tags: { [TAG.exclude]: 'follow' },
  ...over,
});
const plan = (volumes: FollowingVolume[], failedState: string | undefined = 'stopped') =>
  planVolumeMoves({ volumes, failedInstanceId: FAILED, failedState, replacementId: NEW, replacement: placement });

describe('planVolumeMoves: every state a move can be found in, each answer safe to repeat', () => {
  it('moves a volume on the stopped failed instance', () => {
    expect(plan([vol({})])).toEqual([{ volumeId: 'vol-1', device: '/dev/sdf', action: 'move' }]);
  });

  it('moves it again when a crash came between its tag and its detach', () => {
    expect(plan([vol({ tags: { [TAG.exclude]: 'follow', ...followsTag(NEW, '/dev/sdf') } })])).toEqual([
      { volumeId: 'vol-1', device: '/dev/sdf', action: 'move' },
    ]);
  });

  it.each([
    ['detaching from the failed instance', { attachment: { instanceId: FAILED, device: '/dev/sdf', state: 'detaching' } }],
    ['available', { state: 'available', attachment: undefined }],
  ])('attaches it, at the tagged device, when it is %s and tagged for this replacement', (_label, over) => {
    expect(plan([vol({ ...over, tags: { [TAG.exclude]: 'follow', ...followsTag(NEW, '/dev/sdf') } })])).toEqual([
      { volumeId: 'vol-1', device: '/dev/sdf', action: 'attach' },
    ]);
  });

  it.each(['attaching', 'attached'])('is done when it is %s to the replacement', (state) => {
    expect(plan([vol({ attachment: { instanceId: NEW, device: '/dev/sdf', state } })])).toEqual([
      { volumeId: 'vol-1', device: '/dev/sdf', action: 'done' },
    ]);
  });

  it('leaves an available volume tagged for another replacement, and one attached elsewhere, alone', () => {
    expect(
      plan([
        vol({
          state: 'available',
          attachment: undefined,
          tags: { [TAG.exclude]: 'follow', ...followsTag('i-0ccccccccccccccc3', '/dev/sdf') },
        }),
        vol({ volumeId: 'vol-2', attachment: { instanceId: 'i-0ccccccccccccccc3', device: '/dev/sdg', state: 'attached' } }),
      ]),
    ).toEqual([]);
  });

  it.each([
    [
      'the failed instance is shutting down',
      vol({}),
      'shutting-down',
      /is shutting-down: a volume is detached only from a stopped instance/,
    ],
    ['the failed instance is terminated', vol({}), 'terminated', /is terminated/],
    [
      'a person started it again after recovery stopped it',
      vol({ tags: { [TAG.exclude]: 'follow', ...followsTag(NEW, '/dev/sdf') } }),
      'running',
      /running again after recovery stopped it/,
    ],
    [
      'the replacement is in another zone',
      vol({ availabilityZone: 'us-east-1b' }),
      'stopped',
      /the replacement is in us-east-1a, the volume in us-east-1b/,
    ],
    ['its device is taken there', vol({ attachment: { instanceId: FAILED, device: '/dev/xvda', state: 'attached' } }), 'stopped', /taken/],
  ])('keeps it on the failed instance when %s', (_label, volume, state, reason) => {
    expect(plan([volume], state)).toEqual([{ volumeId: 'vol-1', action: 'stay', reason: expect.stringMatching(reason) }]);
  });

  it.each(['running', 'stopping'])('stops a failed instance that is %s first, then moves the volume', (state) => {
    expect(plan([vol({})], state)).toEqual([{ volumeId: 'vol-1', device: '/dev/sdf', action: 'stop-then-move' }]);
  });

  it('waits for an instance it is stopping (the volume tagged already) rather than calling it started again', () => {
    expect(plan([vol({ tags: { [TAG.exclude]: 'follow', ...followsTag(NEW, '/dev/sdf') } })], 'stopping')).toEqual([
      { volumeId: 'vol-1', device: '/dev/sdf', action: 'stop-then-move' },
    ]);
  });
});
