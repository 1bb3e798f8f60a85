import { describe, expect, it } from 'vitest';
import { summariseFleet, STUCK_PENDING_HOURS, STUCK_VERIFYING_HOURS } from '../../../shared/domain/fleet-status.js';
import { TAG } from '../../../shared/domain/tags.js';
import { fleetFixture } from '../../fixtures/fleet.js';

const NOW = new Date('2026-11-26T12:00:00Z');
const { image, instance, input, hoursAgo } = fleetFixture('ami-lifecycle-test', NOW);

const WEB = { [TAG.bake]: 'nightly', [TAG.lineage]: 'web', [TAG.recover]: 'on-failure', Name: 'web-1' };

describe('summariseFleet', () => {
  it('gives a healthy lineage its instance, schedules, mode, last good image, counts, size and next deletions', () => {
    // Prepare
    const images = [image('ami-3', 'web', 10), image('ami-2', 'web', 34), image('ami-1', 'web', 58)];

    // Act
    const [row] = summariseFleet(input(images, [instance('i-0aaaaaaaaaaaaaaaa', WEB)]));

    // Assess
    expect(row).toMatchObject({
      lineage: 'web',
      name: 'web-1',
      instance: { instanceId: 'i-0aaaaaaaaaaaaaaaa', state: 'running' },
      schedules: ['nightly'],
      recover: 'on-failure',
      lastGood: { imageId: 'ami-3', ageHours: 10 },
      images: 3,
      byStatus: { good: 3 },
      snapshotBytes: 3 * 2 ** 30,
      problems: [],
    });
    expect(row!.nextRotation.map((d) => d.imageId)).toEqual(['ami-1']);
  });

  it('does not call an adopted lineage (issue 19) instance gone: it never had one', () => {
    const adopted = [
      { ...image('ami-a', 'adopted/packer', 10), adopted: true },
      { ...image('ami-b', 'adopted/packer', 30), adopted: true },
    ];
    const rows = summariseFleet(input([...adopted, image('ami-c', 'gone', 10)], []));
    expect(rows.find((r) => r.lineage === 'adopted/packer')!.problems).toEqual([]);
    expect(rows.find((r) => r.lineage === 'gone')!.problems).toEqual(['instance gone: no live instance carries the lineage']);
  });

  it('reports an instance gone, a stale last good image, a stuck pending image and invalid tags', () => {
    // Prepare
    const images = [
      image('ami-a', 'gone', 10),
      image('ami-b', 'stale', 60),
      image('ami-c', 'stuck', 5),
      image('ami-d', 'stuck', STUCK_PENDING_HOURS + 1, 'pending'),
      image('ami-f', 'stuck', STUCK_VERIFYING_HOURS + 1, 'verifying'),
      image('ami-g', 'stuck', STUCK_VERIFYING_HOURS - 1, 'verifying'),
      image('ami-e', 'typo', 5),
    ];
    const instances = [
      instance('i-0bbbbbbbbbbbbbbbb', { [TAG.bake]: 'nightly', [TAG.lineage]: 'stale' }),
      instance('i-0cccccccccccccccc', { [TAG.bake]: 'nightly', [TAG.lineage]: 'stuck' }),
      instance('i-0dddddddddddddddd', { [TAG.bake]: 'nightly', [TAG.lineage]: 'typo', [TAG.reboot]: 'maybe' }),
    ];

    // Act
    const rows = new Map(summariseFleet(input(images, instances)).map((r) => [r.lineage, r.problems]));

    // Assess
    expect(rows.get('gone')).toEqual(['instance gone: no live instance carries the lineage']);
    expect(rows.get('stale')).toEqual(['no good nightly image within 48 h (newest 60 h old)']);
    expect(rows.get('stuck')).toEqual([
      `1 image(s) pending for more than ${STUCK_PENDING_HOURS} h: ami-d`,
      expect.stringMatching(new RegExp(`^1 image\\(s\\) verifying for more than ${STUCK_VERIFYING_HOURS} h: ami-f \\(are verifySubnetId`)),
    ]);
    expect(rows.get('typo')).toEqual([expect.stringMatching(/^invalid tag ami-lifecycle:reboot=maybe: /)]);
  });

  // Issue 22, part 3: status shows an instance under maintenance, for how long, and warns past a day.
  it.each([
    [
      {},
      'under maintenance (CHG-1) since a time not recorded (ami-lifecycle:maintenance-since): recovery relaunches nothing until ami-lifecycle:maintenance is removed',
    ],
    [
      { [TAG.maintenanceSince]: hoursAgo(3).toISOString() },
      `under maintenance (CHG-1) for 3 h (since ${hoursAgo(3).toISOString()}): recovery relaunches nothing until ami-lifecycle:maintenance is removed`,
    ],
    [
      { [TAG.maintenanceSince]: hoursAgo(24).toISOString() },
      `under maintenance (CHG-1) for 24 h (since ${hoursAgo(24).toISOString()}): recovery relaunches nothing until ami-lifecycle:maintenance is removed`,
    ],
    [
      { [TAG.maintenanceSince]: hoursAgo(25).toISOString() },
      `under maintenance (CHG-1) for 25 h (since ${hoursAgo(25).toISOString()}): recovery relaunches nothing until ami-lifecycle:maintenance is removed; over a day: remove the marker if the work is done`,
    ],
    [
      { [TAG.maintenanceSince]: hoursAgo(24 * 9 + 5).toISOString() },
      `under maintenance (CHG-1) for 9 d (since ${hoursAgo(24 * 9 + 5).toISOString()}): recovery relaunches nothing until ami-lifecycle:maintenance is removed; over a day: remove the marker if the work is done`,
    ],
    [{ [TAG.maintenanceSince]: 'soon' }, expect.stringContaining('since a time not recorded')],
  ])('shows an instance under maintenance with how long it has been on (%j)', (since, problem) => {
    // Prepare
    const tags = { ...WEB, [TAG.maintenance]: 'CHG-1', ...since };

    // Act
    const [row] = summariseFleet(input([image('ami-3', 'web', 10)], [instance('i-0aaaaaaaaaaaaaaaa', tags)]));

    // Assess
    expect(row!.problems).toEqual([problem]);
  });

  // Issue 21: an instance at EC2's 50-tag limit never gets its lineage tag; status says so.
  it('reports a baked instance without its lineage tag, and why: 50 tags, or a refused write', () => {
    // Prepare: two baked instances whose lineage is their own id; one at the limit
    const full = 'i-0eeeeeeeeeeeeeeee';
    const refused = 'i-0ffffffffffffffff';
    const operator = Object.fromEntries(Array.from({ length: 48 }, (_, i) => [`cost-${i}`, 'x']));
    const images = [image('ami-f', full, 10), image('ami-g', refused, 10)];
    const instances = [
      instance(full, { ...operator, [TAG.bake]: 'nightly', [TAG.recover]: 'always', 'aws:cloudformation:stack-name': 's' }),
      instance(refused, { [TAG.bake]: 'nightly' }),
      instance('i-0aaaaaaaaaaaaaaaa', WEB),
    ];

    // Act
    const rows = new Map(summariseFleet(input([...images, image('ami-w', 'web', 10)], instances)).map((r) => [r.lineage, r.problems]));

    // Assess: aws: tags do not count; a lineage with its tag, or never baked, says nothing
    expect(rows.get(full)).toEqual([
      "lineage tag not on the instance: it carries 50 tags, EC2's limit per resource; recovery and rotation find its lineage from its images",
    ]);
    expect(rows.get(refused)).toEqual([expect.stringMatching(/^lineage tag not on the instance: the bake could not write it/)]);
    expect(rows.get('web')).toEqual([]);
  });

  it('reports a replacement launched without a captured reference that had been deleted', () => {
    // Act
    const [row] = summariseFleet(
      input([image('ami-3', 'web', 10)], [instance('i-0aaaaaaaaaaaaaaaa', { ...WEB, [TAG.launchedWithout]: 'key pair ops' })]),
    );

    // Assess
    expect(row!.problems).toEqual(['relaunched without its key pair ops: deleted since the bake; give it back by hand if it is needed']);
  });

  it('shows the replacement as the current instance, never the replaced one, and lists the relaunches', () => {
    // Prepare
    const old = instance('i-0aaaaaaaaaaaaaaaa', { ...WEB, [TAG.replacedBy]: 'i-0bbbbbbbbbbbbbbbb' }, 'stopped', 100);
    const replacement = instance(
      'i-0bbbbbbbbbbbbbbbb',
      { ...WEB, [TAG.replaces]: 'i-0aaaaaaaaaaaaaaaa', [TAG.generation]: '1' },
      'running',
      1,
    );

    // Act
    const [row] = summariseFleet(input([image('ami-3', 'web', 10)], [old, replacement]));

    // Assess
    expect(row!.instance).toEqual({ instanceId: 'i-0bbbbbbbbbbbbbbbb', state: 'running' });
    expect(row!.replacements).toEqual([
      { instanceId: 'i-0bbbbbbbbbbbbbbbb', replaces: 'i-0aaaaaaaaaaaaaaaa', generation: 1, launchTime: hoursAgo(1), state: 'running' },
    ]);
  });

  it('lists an opted-in instance never baked under its own id; no good image is a problem only once it is older than the limit', () => {
    // Act: launched 100 h ago, one on a weekly schedule (limit 336 h), one nightly (48 h)
    const rows = summariseFleet(
      input([], [instance('i-0eeeeeeeeeeeeeeee', { [TAG.bake]: 'weekly' }), instance('i-0fffffffffffffff0', { [TAG.bake]: 'nightly' })]),
    );

    // Assess
    expect(rows).toEqual([
      expect.objectContaining({ lineage: 'i-0eeeeeeeeeeeeeeee', images: 0, lastGood: undefined, schedules: ['weekly'], problems: [] }),
      expect.objectContaining({ lineage: 'i-0fffffffffffffff0', schedules: ['nightly'], problems: ['no good nightly image within 48 h'] }),
    ]);
  });
});
