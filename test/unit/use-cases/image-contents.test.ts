/**
 * What goes into an image (issue 14), through the use cases: the scheduled run reads the exclude
 * tags once per run and hands each bake the devices to leave out and the tags to copy; a bake makes
 * no call more for it; an operator's bake gets the same.
 */
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { ScheduledRun } from '../../../shared/domain/incoming.js';
import { TAG } from '../../../shared/domain/tags.js';
import { bakeInstance } from '../../../shared/use-cases/bake-instance.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import { bakeOnDemand } from '../../../shared/use-cases/operator-actions.js';
import { runSchedule } from '../../../shared/use-cases/run-schedule.js';
import { bakeEc2, bakeRequest, instanceIdOf as id, onDemandBakeEc2, scheduleEc2, world, type World } from '../fakes.js';

const nightly = () => v.parse(ScheduledRun, { schedule: 'nightly', period: 'day', timeZone: 'UTC', scheduledTime: '2026-11-26T03:00:00Z' });

/** An opted-in instance with a root volume and two data volumes; `excludes` tags them by device. */
function withVolumes(w: World, n: number, tags: Record<string, string> = {}, excludes: Record<string, string> = {}) {
  const instance = w.account.addInstance(id(n), { [TAG.bake]: 'nightly', ...tags }, 'running', 3);
  instance.rootDeviceName = '/dev/xvda';
  instance.devices = ['/dev/xvda', '/dev/sdf', '/dev/sdg'].map((deviceName, i) => ({
    deviceName,
    volumeId: `vol-${String(n).padStart(8, '0')}${i}`,
    ...(excludes[deviceName] !== undefined ? { excludeTag: excludes[deviceName] } : {}),
  }));
  return instance;
}

const describeVolumesCalls = (w: World) => w.account.calls.filter((c) => c.action === 'DescribeVolumes');

describe('runSchedule: excluded volumes', () => {
  it('reads the exclude tags with one DescribeVolumes a run, however many pages the fleet takes', async () => {
    // Prepare: 2,500 instances (three listing pages), one with an excluded volume
    const w = world(scheduleEc2, { pageSize: 1000 });
    withVolumes(w, 1, {}, { '/dev/sdg': 'true' });
    for (let n = 2; n <= 2500; n++) w.account.addInstance(id(n), { [TAG.bake]: 'nightly' });

    // Act
    const report = await runSchedule(nightly(), w.deps);

    // Assess
    expect(describeVolumesCalls(w)).toEqual([{ action: 'DescribeVolumes', ids: [] }]);
    expect(report).toMatchObject({ bakeRequested: 2500, excludeTagged: 1, policyInvalid: 0 });
    const requests = w.bus.ofType('BakeRequested');
    expect(requests.find((r) => r.instanceId === id(1))?.excludeDevices).toEqual(['/dev/sdg']);
    expect(requests.filter((r) => r.excludeDevices !== undefined)).toHaveLength(1);
  });

  it('puts the stage copyTags on each request, the instance tags it names', async () => {
    // Prepare
    const w = world(scheduleEc2);
    w.account.addInstance(id(1), { [TAG.bake]: 'nightly', CostCenter: 'cc-1', Team: 'web' });
    w.account.addInstance(id(2), { [TAG.bake]: 'nightly', Team: 'db' });

    // Act
    await runSchedule(nightly(), { ...w.deps, copyTags: { kind: 'keys', keys: ['CostCenter'] } });

    // Assess
    const requests = w.bus.ofType('BakeRequested');
    expect(requests.find((r) => r.instanceId === id(1))?.copyTags).toEqual({ CostCenter: 'cc-1' });
    expect(requests.find((r) => r.instanceId === id(2))).not.toHaveProperty('copyTags');
  });

  it('bakes every volume when the exclude tags may not be read, and says so', async () => {
    // Prepare
    const w = world(scheduleEc2);
    withVolumes(w, 1, {}, { '/dev/sdg': 'true' });
    w.account.failListing('DescribeVolumes', new AwsCallError('UnauthorizedOperation', 'DescribeVolumes', 'not allowed', false, 403));

    // Act
    const report = await runSchedule(nightly(), w.deps);

    // Assess
    expect(report.excludeTagged).toEqual({ error: 'DescribeVolumes: UnauthorizedOperation' });
    expect(w.bus.ofType('BakeRequested')).toEqual([expect.not.objectContaining({ excludeDevices: expect.anything() })]);
    expect(w.log.at('error').map((l) => l.message)).toContain(
      'could not read which volumes are excluded; every volume goes into the images of this run',
    );
  });

  it('fails the run before it publishes anything when the read is throttled: the retried run decides with the tags', async () => {
    // Prepare
    const w = world(scheduleEc2);
    withVolumes(w, 1, {}, { '/dev/sdg': 'true' });
    w.account.failListing('DescribeVolumes', new AwsCallError('RequestLimitExceeded', 'DescribeVolumes', 'slow down', true, 503));

    // Act / Assess
    await expect(runSchedule(nightly(), w.deps)).rejects.toMatchObject({ code: 'RequestLimitExceeded' });
    expect(w.bus.ofType('BakeRequested')).toEqual([]);
  });
});

describe('bakeInstance: what goes into the image', () => {
  it('images every volume but the excluded devices, and tags the image with them', async () => {
    // Prepare
    const w = world(bakeEc2);
    withVolumes(w, 1);

    // Act
    const outcome = await bakeInstance(
      bakeRequest({ instanceId: id(1), excludeDevices: ['/dev/sdg'], copyTags: { CostCenter: 'cc' } }),
      w.deps,
    );

    // Assess
    expect(outcome.status).toBe('created');
    const image = [...w.account.images.values()][0]!;
    expect(image.snapshotIds).toHaveLength(2);
    expect(image.tags).toMatchObject({ [TAG.excluded]: '/dev/sdg', CostCenter: 'cc' });
    for (const s of image.snapshotIds) expect(w.account.snapshotTags.get(s)).toMatchObject({ CostCenter: 'cc' });
    expect(w.account.createImageCalls[0]!.noDevices).toEqual(['/dev/sdg']);
  });

  it('makes no call more than a bake of every volume without copied tags (0 calls added per bake in a steady fleet)', async () => {
    // Prepare: two identical instances, in steady state (lineage set, nothing to capture)
    const plain = world(bakeEc2);
    withVolumes(plain, 1, { [TAG.lineage]: 'web' });
    const selective = world(bakeEc2);
    withVolumes(selective, 1, { [TAG.lineage]: 'web' });

    // Act
    await bakeInstance(bakeRequest({ instanceId: id(1) }), plain.deps);
    await bakeInstance(
      bakeRequest({ instanceId: id(1), excludeDevices: ['/dev/sdf', '/dev/sdg'], copyTags: { CostCenter: 'cc' } }),
      selective.deps,
    );

    // Assess: the same calls, CreateImage alone
    const callsOf = (w: World) => ({
      createImage: w.account.createImageCalls.length,
      tags: w.account.tagCalls.length,
      listings: w.account.calls.length,
      recovery: w.account.recoveryCalls.length,
      describeImage: w.account.describeImageCalls.length,
    });
    expect(callsOf(selective)).toEqual(callsOf(plain));
    expect(callsOf(selective)).toEqual({ createImage: 1, tags: 0, listings: 0, recovery: 0, describeImage: 0 });
  });

  it('logs the copied keys left off past 50 tags', async () => {
    // Prepare
    const w = world(bakeEc2);
    withVolumes(w, 1);
    const copied = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`Key${String(i).padStart(2, '0')}`, 'v']));

    // Act
    await bakeInstance(bakeRequest({ instanceId: id(1), copyTags: copied }), w.deps);

    // Assess
    const image = [...w.account.images.values()][0]!;
    expect(Object.keys(image.tags)).toHaveLength(50);
    const warned = w.log.at('warn').find((l) => String(l.message).startsWith('copied tags left off the image'));
    expect(warned?.extra[0]).toMatchObject({ droppedTags: expect.arrayContaining(['Key49']) });
  });
});

describe('bakeOnDemand: the same exclusions as a scheduled run', () => {
  const options = { schedulePeriods: { nightly: 'day' as const } };

  it("reads the named instances' volumes in one call, and leaves out what a run would", async () => {
    // Prepare
    const w = world(onDemandBakeEc2);
    withVolumes(w, 1, {}, { '/dev/sdf': 'follow' });
    withVolumes(w, 2, { [TAG.volumes]: 'root' });
    const deps = { ...w.deps, rotation: { timeZone: 'UTC' } };

    // Act
    const results = await bakeOnDemand([id(1), id(2)], deps, options);

    // Assess
    expect(results.map((r) => ('outcome' in r ? r.outcome.status : r.status))).toEqual(['created', 'created']);
    expect(describeVolumesCalls(w)).toEqual([{ action: 'DescribeVolumes', ids: [id(1), id(2)] }]);
    const noDevices = Object.fromEntries(w.account.createImageCalls.map((c) => [c.instanceId, c.noDevices]));
    expect(noDevices).toEqual({ [id(1)]: ['/dev/sdf'], [id(2)]: ['/dev/sdf', '/dev/sdg'] });
  });

  it('reads the whole account once for --all, and copies the stage tags', async () => {
    // Prepare
    const w = world(onDemandBakeEc2);
    withVolumes(w, 1, { CostCenter: 'cc' }, { '/dev/sdg': 'true' });
    const deps = { ...w.deps, rotation: { timeZone: 'UTC' }, copyTags: { kind: 'all' as const } };

    // Act
    await bakeOnDemand('all', deps, options);

    // Assess
    expect(describeVolumesCalls(w)).toEqual([{ action: 'DescribeVolumes', ids: [] }]);
    expect(w.account.createImageCalls[0]).toMatchObject({ noDevices: ['/dev/sdg'], tags: expect.objectContaining({ CostCenter: 'cc' }) });
  });
});
