import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { BakeRequested, PolicyInvalid } from '../../../shared/domain/events.js';
import { ScheduledRun } from '../../../shared/domain/incoming.js';
import { TAG } from '../../../shared/domain/tags.js';
import { AwsCallError, FanOutIncomplete } from '../../../shared/use-cases/errors.js';
import { bakeInstance } from '../../../shared/use-cases/bake-instance.js';
import { inspectFleet } from '../../../shared/use-cases/inspect-fleet.js';
import { runSchedule } from '../../../shared/use-cases/run-schedule.js';
import { bakeEc2, fleetViewEc2, instanceIdOf, NOW, scheduleEc2, STACK, world as worldOf, type World, type WorldOptions } from '../fakes.js';

/** A world of the scheduled run's slice only: the use case sees nothing else of EC2. */
const world = (options?: WorldOptions) => worldOf(scheduleEc2, options);

const nightly = (overrides: Partial<ScheduledRun> = {}): ScheduledRun =>
  v.parse(ScheduledRun, {
    schedule: 'nightly',
    period: 'day',
    timeZone: 'Europe/Paris',
    scheduledTime: '2026-11-26T23:30:00Z',
    ...overrides,
  });

const id = instanceIdOf;

/** A fleet of ten instances; eight of them carry the bake tag and are alive. */
function fleet(w: World) {
  w.account.addInstance(id(1), { [TAG.bake]: 'nightly', [TAG.lineage]: 'web-1', Name: 'web-1' });
  w.account.addInstance(id(2), { [TAG.bake]: 'nightly' });
  w.account.addInstance(id(3), { [TAG.bake]: 'nightly,weekly' });
  w.account.addInstance(id(4), { [TAG.bake]: 'weekly' });
  w.account.addInstance(id(5), { [TAG.bake]: 'nightly', [TAG.reboot]: 'yes' });
  w.account.addInstance(id(6), { [TAG.bake]: 'nightly', [TAG.retain]: '0d' });
  w.account.addInstance(id(7), { [TAG.bake]: 'nighlty' });
  w.account.addInstance(id(8), { [TAG.bake]: 'nightly' }, 'stopped');
  w.account.addInstance(id(9), { [TAG.bake]: 'nightly' }, 'terminated');
  w.account.addInstance(id(10), { Name: 'not opted in' });
}
const BAKED = [id(1), id(2), id(3), id(6), id(8)];

describe('runSchedule: fan-out', () => {
  it('lists the fleet a page at a time and publishes one BakeRequested per instance to bake', async () => {
    // Prepare
    const w = world({ pageSize: 3 });
    fleet(w);

    // Act
    const report = await runSchedule(nightly(), w.deps);

    // Assess
    expect(report).toEqual({
      schedule: 'nightly',
      slot: '2026-11-27',
      instancesSeen: 8,
      bakeRequested: 5,
      skipped: { gone: 0, replaced: 0, 'not-on-schedule': 2, 'invalid-policy': 1 },
      policyInvalid: 3,
      publishFailed: 0,
      reconcile: { pendingSeen: 0, good: 0, failed: 0, stillBuilding: 0, errors: 0 },
      excludeTagged: 0,
      // every lineage on the nightly schedule, none baked yet and none launched recently
      lineagesWithoutGoodImage: 6,
    });
    // one publish per page of 3, 3, 2 instances
    expect(w.bus.calls).toHaveLength(3);
    const requests = w.bus.ofType('BakeRequested');
    expect(requests.map((r) => r.instanceId)).toEqual(BAKED);
    for (const r of requests) {
      expect(v.parse(BakeRequested, r)).toMatchObject({
        managedBy: STACK,
        schedule: 'nightly',
        slot: '2026-11-27',
        requestedAt: NOW.toISOString(),
      });
    }
    expect(requests.find((r) => r.instanceId === id(1))).toMatchObject({ lineage: 'web-1', assignLineage: false, instanceName: 'web-1' });
    expect(requests.find((r) => r.instanceId === id(2))).toMatchObject({ lineage: id(2), assignLineage: true });
  });

  it('publishes a PolicyInvalid for each instance whose tags concern this run', async () => {
    // Prepare
    const w = world({ pageSize: 3 });
    fleet(w);

    // Act
    await runSchedule(nightly(), w.deps);

    // Assess
    const invalid = w.bus.ofType('PolicyInvalid').map((d) => v.parse(PolicyInvalid, d));
    expect(invalid.map((d) => [d.instanceId, d.bakeSkipped, d.problems.map((p) => p.tag)])).toEqual([
      [id(5), true, [TAG.reboot]],
      [id(6), false, [TAG.retain]],
      [id(7), true, [TAG.bake]],
    ]);
    for (const d of invalid) expect(d).toMatchObject({ managedBy: STACK, schedule: 'nightly', slot: '2026-11-27' });
    expect(w.log.at('warn')).toHaveLength(3);
  });

  it('fans out a large fleet with one listing page and one publish per 1,000 instances', async () => {
    // Prepare: 2,500 instances, every 10th of them weekly only
    const w = world({ pageSize: 1000 });
    for (let n = 1; n <= 2500; n++) w.account.addInstance(id(n), { [TAG.bake]: n % 10 === 0 ? 'weekly' : 'nightly' });

    // Act
    const report = await runSchedule(nightly(), w.deps);

    // Assess
    expect(report).toMatchObject({
      instancesSeen: 2500,
      bakeRequested: 2250,
      skipped: { gone: 0, replaced: 0, 'not-on-schedule': 250, 'invalid-policy': 0 },
    });
    expect(w.bus.calls.map((c) => c.length)).toEqual([900, 900, 450]);
    const requested = w.bus.ofType('BakeRequested').map((r) => r.instanceId);
    expect(new Set(requested).size).toBe(2250);
  });

  it('publishes nothing and reports zeros for an empty fleet', async () => {
    // Prepare
    const w = world();

    // Act
    const report = await runSchedule(nightly(), w.deps);

    // Assess
    expect(report).toMatchObject({ instancesSeen: 0, bakeRequested: 0, policyInvalid: 0, publishFailed: 0 });
    expect(w.bus.published).toEqual([]);
  });

  it('settles pending images before it fans out', async () => {
    // Prepare
    const w = world();
    fleet(w);
    const image = w.account.addImage({
      name: `${STACK}/web-1/nightly/2026-11-26`,
      state: 'available',
      tags: { [TAG.managedBy]: STACK, [TAG.status]: 'pending', [TAG.lineage]: 'web-1', [TAG.sourceInstance]: id(1) },
    });

    // Act
    const report = await runSchedule(nightly(), w.deps);

    // Assess
    expect(report.reconcile).toEqual({ pendingSeen: 1, good: 1, failed: 0, stillBuilding: 0, errors: 0 });
    expect(w.account.images.get(image.imageId)!.tags[TAG.status]).toBe('good');
    expect(w.journal[0]).toBe('publish ImageBaked');
    expect(w.journal.indexOf('publish BakeRequested')).toBeGreaterThan(0);
  });

  it('goes on with the fan-out when the reconcile pass fails', async () => {
    // Prepare
    const w = world({ pageSize: 3 });
    fleet(w);
    w.account.failListPendingImages(new AwsCallError('UnauthorizedOperation', 'DescribeImages', 'no', false, 403));

    // Act
    const report = await runSchedule(nightly(), w.deps);

    // Assess
    expect(report.reconcile).toEqual({ error: expect.stringContaining('UnauthorizedOperation') });
    expect(report.bakeRequested).toBe(5);
    expect(w.bus.ofType('BakeRequested')).toHaveLength(5);
    expect(w.log.at('error').map((r) => r.message)).toContain('reconcile pass failed; baking goes on');
  });
});

describe('runSchedule: publish failures', () => {
  it('throws FanOutIncomplete when a BakeRequested could not be published, after publishing the rest', async () => {
    // Prepare
    const w = world({ pageSize: 3 });
    fleet(w);
    w.bus.failWhen((e) => e.detailType === 'BakeRequested' && e.detail.instanceId === id(3));

    // Act
    const act = runSchedule(nightly(), w.deps);

    // Assess
    const error = await act.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FanOutIncomplete);
    expect((error as FanOutIncomplete).failed).toBe(1);
    expect(w.bus.ofType('BakeRequested').map((r) => r.instanceId)).toEqual(BAKED.filter((i) => i !== id(3)));
    expect(w.bus.ofType('PolicyInvalid')).toHaveLength(3);
    expect(w.log.at('error').map((r) => r.extra[0])).toEqual([
      expect.objectContaining({ detailType: 'BakeRequested', subject: id(3), code: 'ThrottlingException' }),
    ]);
  });

  it('counts every refused BakeRequested', async () => {
    // Prepare
    const w = world({ pageSize: 3 });
    fleet(w);
    w.bus.failWhen((e) => e.detailType === 'BakeRequested');

    // Act
    const error = await runSchedule(nightly(), w.deps).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(FanOutIncomplete);
    expect((error as FanOutIncomplete).failed).toBe(5);
  });

  it('does not fail the run when only a PolicyInvalid could not be published', async () => {
    // Prepare
    const w = world({ pageSize: 3 });
    fleet(w);
    w.bus.failWhen((e) => e.detailType === 'PolicyInvalid');

    // Act
    const report = await runSchedule(nightly(), w.deps);

    // Assess
    expect(report.publishFailed).toBe(0);
    expect(report.policyInvalid).toBe(3);
    expect(w.bus.ofType('PolicyInvalid')).toEqual([]);
    expect(w.bus.ofType('BakeRequested')).toHaveLength(5);
    expect(w.log.at('error')).toHaveLength(3);
  });

  it('publishes on a retried run what the failed run could not, with the same slot', async () => {
    // Prepare
    const w = world({ pageSize: 3 });
    fleet(w);
    w.bus.failWhen((e) => e.detailType === 'BakeRequested' && e.detail.instanceId === id(3));
    await runSchedule(nightly(), w.deps).catch(() => undefined);
    w.bus.heal();

    // Act
    const report = await runSchedule(nightly(), w.deps);

    // Assess
    expect(report.publishFailed).toBe(0);
    const forThree = w.bus.ofType('BakeRequested').filter((r) => r.instanceId === id(3));
    expect(forThree).toEqual([expect.objectContaining({ slot: '2026-11-27' })]);
  });
});

describe('runSchedule: slots', () => {
  it.each([
    ['Europe/Paris', 'day', '2026-11-26T23:30:00Z', '2026-11-27'],
    ['UTC', 'day', '2026-11-26T23:30:00Z', '2026-11-26'],
    ['America/New_York', 'day', '2026-11-27T03:30:00Z', '2026-11-26'],
    ['Asia/Kolkata', 'day', '2026-11-26T18:30:00Z', '2026-11-27'],
    ['Pacific/Auckland', 'week', '2026-11-29T11:30:00Z', '2026-W49'],
    ['Europe/Paris', 'month', '2026-11-30T23:30:00Z', '2026-12'],
    ['Europe/Paris', 'hour', '2026-11-26T23:30:00Z', '2026-11-27T00'],
    ['Europe/Paris', 'day', '2026-11-27T00:30:00+01:00', '2026-11-27'],
  ] as const)('computes the slot in the run time zone (%s, %s, %s -> %s)', async (timeZone, period, scheduledTime, slot) => {
    // Prepare
    const w = world();
    w.account.addInstance(id(1), { [TAG.bake]: 'nightly' });

    // Act
    const report = await runSchedule(nightly({ timeZone, period, scheduledTime }), w.deps);

    // Assess
    expect(report.slot).toBe(slot);
    expect(w.bus.ofType('BakeRequested').map((r) => r.slot)).toEqual([slot]);
  });

  it('takes the slot from scheduledTime, not from the clock: a late run lands in the slot it was fired for', async () => {
    // Prepare: the clock says 2026-11-28, the schedule fired for the night of the 26th
    const w = world({ now: new Date('2026-11-28T09:00:00Z') });
    w.account.addInstance(id(1), { [TAG.bake]: 'nightly' });

    // Act
    const report = await runSchedule(nightly({ timeZone: 'UTC', scheduledTime: '2026-11-26T01:00:00Z' }), w.deps);

    // Assess
    expect(report.slot).toBe('2026-11-26');
    expect(w.bus.ofType('BakeRequested')[0]).toMatchObject({ slot: '2026-11-26', requestedAt: '2026-11-28T09:00:00.000Z' });
  });
});

describe('runSchedule then bakeInstance, in memory', () => {
  it('bakes each instance once even when the run and every bake request are delivered twice', async () => {
    // Prepare
    const w = world({ pageSize: 3 });
    fleet(w);
    await runSchedule(nightly(), w.deps);
    await runSchedule(nightly(), w.deps);
    const requests = w.bus.ofType('BakeRequested');

    // Act
    // The bake function's slice, over the same account.
    const bake = { ...w.deps, ec2: bakeEc2(w.account) };
    const outcomes = [];
    for (const r of [...requests, ...requests]) outcomes.push(await bakeInstance(r, bake));

    // Assess
    expect(requests).toHaveLength(10);
    expect(outcomes.filter((o) => o.status === 'created')).toHaveLength(5);
    expect(outcomes.filter((o) => o.status === 'already-baked')).toHaveLength(15);
    expect([...w.account.images.values()].map((i) => i.sourceInstanceId).sort()).toEqual([...BAKED].sort());
    expect(w.account.instances.get(id(2))!.tags[TAG.lineage]).toBe(id(2));
  });
});

describe('runSchedule: metrics', () => {
  const HOUR = 3_600_000;
  const hoursAgo = (h: number) => new Date(NOW.getTime() - h * HOUR);

  /** An opted-in instance of its own lineage, launched long ago. */
  function member(w: World, n: number, bake = 'nightly', launchedHoursAgo = 24 * 90) {
    const instance = w.account.addInstance(id(n), { [TAG.bake]: bake, [TAG.lineage]: `web-${n}` });
    instance.launchTime = hoursAgo(launchedHoursAgo);
    return instance;
  }

  /** An image of lineage web-n, made `h` hours ago. */
  function image(w: World, n: number, h: number, status = 'good', schedule = 'nightly', state = 'available') {
    return w.account.addImage({
      name: `${STACK}/web-${n}/${schedule}/${hoursAgo(h).toISOString()}`,
      state,
      creationDate: hoursAgo(h).toISOString(),
      tags: {
        [TAG.managedBy]: STACK,
        [TAG.lineage]: `web-${n}`,
        [TAG.schedule]: schedule,
        [TAG.status]: status,
        [TAG.sourceInstance]: id(n),
      },
    });
  }

  /** Lineages 1 and 4 are fine, 2 and 3 have gone too long without a good nightly image. */
  function mixedFleet(w: World) {
    member(w, 1);
    image(w, 1, 22);
    image(w, 1, 70);
    member(w, 2);
    image(w, 2, 60); // a good image, older than twice a day
    member(w, 3);
    image(w, 3, 10, 'failed'); // only a failed one
    member(w, 4, 'nightly', 10); // launched ten hours ago: not late yet
    member(w, 5, 'weekly');
    image(w, 5, 24 * 5, 'good', 'weekly'); // weekly, five days old: not this run's schedule
    image(w, 6, 24 * 30); // lineage whose instance is gone
  }

  it('counts the lineages on its schedule without a good image within twice its period, with one paged read of the images', async () => {
    // Prepare
    const w = world({ pageSize: 2 });
    mixedFleet(w);

    // Act
    const report = await runSchedule(nightly(), w.deps);

    // Assess
    expect(report.lineagesWithoutGoodImage).toBe(2);
    expect(w.metrics.records).toEqual([{ name: 'LineagesWithoutGoodImage', unit: 'Count', value: 2 }]);
    // 6 images, 2 a page: one listing of 3 pages
    expect(w.account.callCount('DescribeImages')).toBe(3);
  });

  it('counts the same lineages as the operator status shows as without a good image', async () => {
    // Prepare
    const w = world();
    mixedFleet(w);

    // Act
    const report = await runSchedule(nightly(), w.deps);
    // The operator's status, over the same account.
    const view = await inspectFleet({ ...w.deps, ec2: fleetViewEc2(w.account) }, { nightly: 'day', weekly: 'week' });

    // Assess
    const late = view.lineages.filter((l) => l.problems.some((p) => p.startsWith('no good nightly image'))).map((l) => l.lineage);
    expect(late).toEqual(['web-2', 'web-3']);
    expect(report.lineagesWithoutGoodImage).toBe(late.length);
  });

  it('measures a weekly run against twice a week: the nightly lineages are not its business', async () => {
    // Prepare
    const w = world();
    member(w, 1, 'weekly');
    image(w, 1, 24 * 10, 'good', 'weekly'); // within 14 days
    member(w, 2, 'weekly');
    image(w, 2, 24 * 15, 'good', 'weekly'); // beyond
    member(w, 3, 'nightly,weekly');
    image(w, 3, 24 * 3, 'good', 'nightly'); // late for nightly, no weekly image at all
    member(w, 4, 'nightly');

    // Act
    const report = await runSchedule(nightly({ schedule: 'weekly', period: 'week' }), w.deps);

    // Assess
    expect(report.lineagesWithoutGoodImage).toBe(2);
    expect(w.metrics.totals()).toEqual({ LineagesWithoutGoodImage: 2 });
  });

  it('reads the images after the reconcile pass: an image it just settled good counts as good', async () => {
    // Prepare: the AMI event for last night's image was lost; the image is available but still tagged pending
    const w = world();
    member(w, 1);
    image(w, 1, 70);
    image(w, 1, 22, 'pending');

    // Act
    const report = await runSchedule(nightly(), w.deps);

    // Assess
    expect(report.reconcile).toMatchObject({ good: 1 });
    expect(w.metrics.totals()).toEqual({ ImagesGood: 1, LineagesWithoutGoodImage: 0 });
  });

  it('publishes zero for a fleet where every lineage is fine, or for no fleet at all', async () => {
    // Prepare
    const empty = world();
    const fine = world();
    member(fine, 1);
    image(fine, 1, 22);

    // Act
    await runSchedule(nightly(), empty.deps);
    await runSchedule(nightly(), fine.deps);

    // Assess
    expect(empty.metrics.records).toEqual([{ name: 'LineagesWithoutGoodImage', unit: 'Count', value: 0 }]);
    expect(fine.metrics.records).toEqual([{ name: 'LineagesWithoutGoodImage', unit: 'Count', value: 0 }]);
  });

  it('still fans out, and publishes no figure rather than a wrong one, when the images cannot be read', async () => {
    // Prepare
    const w = world();
    mixedFleet(w);
    w.account.failListing('DescribeImages', new AwsCallError('RequestLimitExceeded', 'DescribeImages', 'slow down', true, 503));

    // Act
    const report = await runSchedule(nightly(), w.deps);

    // Assess
    expect(report.bakeRequested).toBe(4);
    expect(report.lineagesWithoutGoodImage).toEqual({ error: expect.stringContaining('RequestLimitExceeded') });
    expect(w.metrics.records).toEqual([]);
    expect(w.log.at('error').map((r) => r.message)).toContain('could not count the lineages without a good image');
  });

  it('counts on a run that then fails for a bake request it could not publish', async () => {
    // Prepare
    const w = world();
    mixedFleet(w);
    w.bus.failWhen((e) => e.detailType === 'BakeRequested');

    // Act
    const act = runSchedule(nightly(), w.deps);

    // Assess
    await expect(act).rejects.toBeInstanceOf(FanOutIncomplete);
    expect(w.metrics.totals()).toEqual({ LineagesWithoutGoodImage: 2 });
  });
});
