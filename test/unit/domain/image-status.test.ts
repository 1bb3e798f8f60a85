import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isManagedBy, settle, statusOf, type ImageView } from '../../../shared/domain/image-status.js';
import { IMAGE_STATUSES, TAG } from '../../../shared/domain/tags.js';

const STACK = 'ami-lifecycle-test';

/** `status: null` builds an image without a status tag. */
const image = (state: string, status: string | null = 'pending', overrides: Partial<ImageView> = {}): ImageView => ({
  imageId: 'ami-0123456789abcdef0',
  name: `${STACK}/web/nightly/2026-11-26`,
  state,
  tags: {
    [TAG.managedBy]: STACK,
    [TAG.sourceInstance]: 'i-0123456789abcdef0',
    ...(status === null ? {} : { [TAG.status]: status }),
  },
  snapshotIds: ['snap-0123456789abcdef0'],
  // As EC2 records an image made by CreateImage.
  sourceInstanceId: 'i-0123456789abcdef0',
  ...overrides,
});

describe('settle: images it does not move', () => {
  // Issue 21: a person's CopyImage with its tags carries managed-by and status; EC2 records no
  // source instance for it.
  it("leaves alone, as not the stack's, an image with its tags that EC2 does not record as made from the tagged instance", () => {
    expect(settle(image('available', 'pending', { sourceInstanceId: undefined }), STACK)).toEqual({
      kind: 'not-ours',
      reason: 'EC2 records no instance it was made from (not made by CreateImage: a copy, or a registered image)',
    });
    expect(settle(image('available', 'pending', { sourceInstanceId: 'i-0fedcba9876543210' }), STACK)).toMatchObject({
      kind: 'not-ours',
      reason: expect.stringContaining('made from i-0fedcba9876543210, not from i-0123456789abcdef0'),
    });
  });

  it('leaves a missing image alone (not-found)', () => {
    // Act
    const s = settle(undefined, STACK);

    // Assess
    expect(s).toEqual({ kind: 'unchanged', why: 'not-found' });
  });

  it.each([
    ['another stack', { [TAG.managedBy]: 'ami-lifecycle-other', [TAG.status]: 'pending' }],
    ['no managed-by tag', { [TAG.status]: 'pending' }],
    ['a managed-by tag that differs only in case', { [TAG.managedBy]: STACK.toUpperCase(), [TAG.status]: 'pending' }],
  ])('leaves an image of %s alone (not-managed), even when available', (_label, tags) => {
    // Prepare
    const subject = image('available', 'pending', { tags });

    // Act
    const s = settle(subject, STACK);

    // Assess
    expect(s).toEqual({ kind: 'unchanged', why: 'not-managed' });
  });

  it.each(['good', 'failed', 'bad'])('never changes an image already %s, whatever state EC2 reports', (status) => {
    // Prepare
    const states = ['available', 'failed', 'error', 'invalid', 'pending', 'deregistered'];

    // Act
    const settlements = states.map((state) => settle(image(state, status), STACK, { errorMessage: 'boom' }));

    // Assess
    for (const s of settlements) expect(s).toEqual({ kind: 'unchanged', why: 'already-settled' });
  });

  it('never turns a bad image good on a stale available event', () => {
    // Prepare
    const bad = image('available', 'bad');

    // Act
    const s = settle(bad, STACK);

    // Assess
    expect(s.kind).not.toBe('good');
    expect(s).toEqual({ kind: 'unchanged', why: 'already-settled' });
  });

  it('treats a managed image without a readable status as settled (it does not guess)', () => {
    // Prepare
    const subjects = [image('available', null), image('available', 'PENDING'), image('available', 'done')];

    // Act
    const settlements = subjects.map((s) => settle(s, STACK));

    // Assess
    for (const s of settlements) expect(s).toEqual({ kind: 'unchanged', why: 'already-settled' });
  });
});

describe('settle: pending images', () => {
  it('turns a pending image good when EC2 says available', () => {
    // Act
    const s = settle(image('available'), STACK);

    // Assess
    expect(s).toEqual({ kind: 'good' });
  });

  it.each(['failed', 'error', 'invalid'])('turns a pending image failed when EC2 says %s, with the state reason', (state) => {
    // Prepare
    const subject = image(state, 'pending', { stateReason: 'Client.InternalError: snapshot failed' });

    // Act
    const s = settle(subject, STACK, { errorMessage: 'from the event' });

    // Assess
    expect(s).toEqual({ kind: 'failed', reason: 'Client.InternalError: snapshot failed' });
  });

  it("falls back to the event's errorMessage when the image has no state reason", () => {
    // Prepare
    const subject = image('failed', 'pending', { stateReason: '' });

    // Act
    const s = settle(subject, STACK, { errorMessage: 'from the event' });

    // Assess
    expect(s).toEqual({ kind: 'failed', reason: 'from the event' });
  });

  it('falls back to a generic text naming the state when there is neither', () => {
    // Prepare
    const subject = image('error');

    // Act
    const s = [settle(subject, STACK), settle(subject, STACK, {}), settle(subject, STACK, { errorMessage: '' })];

    // Assess
    for (const x of s) expect(x).toEqual({ kind: 'failed', reason: 'image entered state error' });
  });

  it.each(['pending', 'transient'])('leaves a pending image still building while EC2 says %s', (state) => {
    // Act
    const s = settle(image(state), STACK);

    // Assess
    expect(s).toEqual({ kind: 'unchanged', why: 'still-building' });
  });

  it.each(['deregistered', 'disabled', 'unknown'])('does not settle a pending image in state %s', (state) => {
    // Act
    const s = settle(image(state), STACK);

    // Assess
    expect(s).toEqual({ kind: 'unchanged', why: 'unsettleable-state' });
  });
});

describe('statusOf and isManagedBy', () => {
  it.each([...IMAGE_STATUSES, 'other', null])('reads status %j', (status) => {
    // Act
    const s = statusOf(image('available', status));

    // Assess
    expect(s).toBe(status === 'other' || status === null ? undefined : status);
  });

  it('matches the managed-by tag exactly', () => {
    // Prepare
    const tags = { [TAG.managedBy]: STACK };

    // Act
    const results = [isManagedBy(tags, STACK), isManagedBy(tags, `${STACK}-2`), isManagedBy({}, STACK)];

    // Assess
    expect(results).toEqual([true, false, false]);
  });
});

describe('settle (property)', () => {
  it('moves only pending images this stack made, only to good or failed, and never a settled one', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('pending', 'available', 'invalid', 'deregistered', 'transient', 'failed', 'error', 'disabled'),
        fc.option(fc.constantFrom(...IMAGE_STATUSES, 'junk'), { nil: null }),
        fc.constantFrom(STACK, 'other-stack'),
        // What EC2 records: made by CreateImage from the tagged instance, a copy, or from another instance
        fc.constantFrom<string | undefined>('i-0123456789abcdef0', undefined, 'i-0fedcba9876543210'),
        fc.option(fc.string(), { nil: undefined }),
        fc.option(fc.string(), { nil: undefined }),
        (state, status, owner, sourceInstanceId, stateReason, errorMessage) => {
          // Prepare
          const subject = image(state, status, {
            stateReason,
            sourceInstanceId,
            tags: { [TAG.managedBy]: owner, [TAG.sourceInstance]: 'i-0123456789abcdef0', ...(status ? { [TAG.status]: status } : {}) },
          });

          // Act
          const s = settle(subject, STACK, errorMessage === undefined ? undefined : { errorMessage });

          // Assess
          const ours = owner === STACK && sourceInstanceId === 'i-0123456789abcdef0';
          const movable = ours && status === 'pending';
          if (owner === STACK && !ours) expect(s.kind).toBe('not-ours');
          else if (!movable) expect(s.kind).toBe('unchanged');
          if (s.kind === 'good') expect(state).toBe('available');
          if (s.kind === 'failed') {
            expect(['failed', 'error', 'invalid']).toContain(state);
            expect(s.reason.length).toBeGreaterThan(0);
          }
          if (movable && state === 'available') expect(s.kind).toBe('good');
        },
      ),
      { numRuns: 500 },
    );
  });
});
