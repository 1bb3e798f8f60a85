/**
 * Reliability: a nightly cycle of 200 instances while AWS throttles 20% of the
 * calls and answers 5% with server errors (500 InternalError / 503 Unavailable),
 * on EC2 and on EventBridge alike, with images that take a while to build. The
 * real handlers, their SDK retries and Lambda's and Scheduler's retries are all
 * that stands between those faults and the result, which must be exactly what a
 * clean night makes: one good AMI per instance named for the slot, its snapshot,
 * its launch template, nothing more.
 *
 * The SDK's retry waits are a twentieth of AWS's (sdk-retry-waits.ts): the faults are drawn by
 * call count, so the same calls fail and are retried. With AWS's waits, two bakes at a time
 * (bakeConcurrency) slept through about 400 s of backoff: 164 s of the file's time in CI.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  paginateDescribeImages,
  paginateDescribeInstances,
  paginateDescribeLaunchTemplates,
  paginateDescribeSnapshots,
  type Image,
} from '@aws-sdk/client-ec2';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import type { FaultOptions } from '../harness/faults.js';
import { shortenSdkRetryWaits } from '../harness/sdk-retry-waits.js';
import { all } from '../harness/state.js';
import { tagRecord } from '../../shared/domain/tags.js';

const MANAGED_BY = 'ami-lifecycle-dev';
const NIGHT = new Date('2026-11-26T03:00:00Z');
const SLOT = '2026-11-26';
const FLEET = 200;
/** 20% throttling, 5% server errors, on every EC2 and EventBridge call the service makes. */
const NIGHTLY_FAULTS: FaultOptions = { seed: 20261126, throttleRate: 0.2, serverErrorRate: 0.05, services: ['ec2', 'events'] };

// Before cloudPerFile loads the handlers: their clients read the base wait when they are made.
afterAll(shortenSdkRetryWaits(1 / 20));
const cloud = cloudPerFile({
  concurrency: 32,
  imagePending: { forMs: 15 * 60_000, clock: 'manual' },
  env: { POWERTOOLS_LOG_LEVEL: 'SILENT' },
});

const sum = (counts: Record<string, number> | undefined) => Object.values(counts ?? {}).reduce((a, b) => a + b, 0);

describe('a nightly cycle under throttling and server errors', () => {
  it('bakes each of 200 instances exactly once, and creates nothing else', { timeout: 240_000 }, async () => {
    // Prepare
    const ids = await cloud.launch(FLEET, { Name: 'fleet', 'ami-lifecycle:bake': 'nightly' });
    // moto's own snapshots (behind its built-in AMIs) are the account's from the start
    const snapshotsBefore = await all(paginateDescribeSnapshots({ client: cloud.ec2 }, { OwnerIds: ['self'] }), (p) => p.Snapshots);
    cloud.proxy.setFaults(NIGHTLY_FAULTS);
    cloud.proxy.resetCalls();

    // Act: the schedule fires (Scheduler retries a failed run), bakes are delivered (Lambda retries twice),
    // the images build, EC2 announces them, they are settled
    const deliveries = await cloud.bakeCycle('nightly', NIGHT, { scheduleAttempts: 3 });
    const faults = cloud.proxy.faultCounts();
    const calls = cloud.proxy.calls();
    cloud.proxy.setFaults(undefined);

    // Assess: the faults were there, on both services
    const throttled = sum(faults['random-throttle']);
    const serverErrors = sum(faults['internal-error']) + sum(faults.unavailable);
    const attempts = sum(calls);
    expect(throttled / attempts).toBeGreaterThan(0.15);
    expect(throttled / attempts).toBeLessThan(0.25);
    expect(serverErrors / attempts).toBeGreaterThan(0.03);
    expect(faults['random-throttle']?.CreateImage).toBeGreaterThan(0);
    expect(faults['random-throttle']?.PutEvents).toBeGreaterThan(0);
    expect((faults['internal-error']?.CreateImage ?? 0) + (faults.unavailable?.CreateImage ?? 0)).toBeGreaterThan(0);

    // Assess: no delivery given up (none would reach a dead-letter queue)
    expect(deliveries.filter((d) => d.error !== undefined).map((d) => `${d.function}: ${d.error}`)).toEqual([]);
    expect(cloud.published('ImageBakeFailed')).toEqual([]);

    // Assess: exactly one image per instance, named for the slot, good, tagged as a clean night tags it
    const images = await all(paginateDescribeImages({ client: cloud.ec2 }, { Owners: ['self'] }), (p) => p.Images);
    expect(images).toHaveLength(FLEET);
    const byName = new Map<string, Image>(images.map((i) => [i.Name!, i]));
    const snapshotsOfImages = new Set<string>();
    for (const id of ids) {
      const image = byName.get(`${MANAGED_BY}/${id}/nightly/${SLOT}`);
      expect(image, `the image of ${id}`).toBeDefined();
      const tags = {
        'ami-lifecycle:managed-by': MANAGED_BY,
        'ami-lifecycle:lineage': id,
        'ami-lifecycle:source-instance': id,
        'ami-lifecycle:schedule': 'nightly',
        'ami-lifecycle:slot': SLOT,
        'ami-lifecycle:status': 'good',
        Name: 'fleet',
      };
      expect(tagRecord(image!.Tags)).toEqual(tags);
      expect(image!.State).toBe('available');
      expect(image!.SourceInstanceId).toBe(id);
      const snapshotIds = image!.BlockDeviceMappings!.map((m) => m.Ebs!.SnapshotId!);
      expect(snapshotIds).toHaveLength(1);
      for (const s of snapshotIds) snapshotsOfImages.add(s);
    }

    // Assess: the images' snapshots, tagged like them, and no other snapshot
    const before = new Set(snapshotsBefore.map((s) => s.SnapshotId));
    const snapshotsAfter = await all(paginateDescribeSnapshots({ client: cloud.ec2 }, { OwnerIds: ['self'] }), (p) => p.Snapshots);
    const after = new Set(snapshotsAfter.map((s) => s.SnapshotId));
    expect([...before].filter((id) => !after.has(id))).toEqual([]); // none of moto's went away
    const snapshots = snapshotsAfter.filter((s) => !before.has(s.SnapshotId));
    expect(new Set(snapshots.map((s) => s.SnapshotId))).toEqual(snapshotsOfImages);
    expect(snapshots).toHaveLength(FLEET);
    const imageOfSnapshot = new Map(images.flatMap((i) => i.BlockDeviceMappings!.map((m) => [m.Ebs!.SnapshotId!, i] as const)));
    for (const s of snapshots) expect(tagRecord(s.Tags)).toEqual(tagRecord(imageOfSnapshot.get(s.SnapshotId!)!.Tags));

    // Assess: no instance launched; each instance carries its lineage and the digest of its capture
    const instances = await all(paginateDescribeInstances({ client: cloud.ec2 }, {}), (p) =>
      (p.Reservations ?? []).flatMap((r) => r.Instances ?? []),
    );
    expect(instances.map((i) => i.InstanceId).sort()).toEqual([...ids].sort());
    for (const i of instances) {
      expect(i.State?.Name).toBe('running');
      const tags = tagRecord(i.Tags);
      expect(Object.keys(tags).sort()).toEqual(['Name', 'ami-lifecycle:bake', 'ami-lifecycle:captured', 'ami-lifecycle:lineage']);
      expect(tags['ami-lifecycle:lineage']).toBe(i.InstanceId);
    }

    // Assess: one launch template per lineage, one version each (a retry must not add a second)
    const templates = await all(paginateDescribeLaunchTemplates({ client: cloud.ec2 }, { MaxResults: 1000 }), (p) => p.LaunchTemplates);
    expect(templates.map((t) => t.LaunchTemplateName).sort()).toEqual(ids.map((id) => `${MANAGED_BY}-${id}`).sort());
    expect(templates.filter((t) => t.LatestVersionNumber !== 1).map((t) => `${t.LaunchTemplateName}: v${t.LatestVersionNumber}`)).toEqual(
      [],
    );

    // Assess: what the service said: every instance requested, every image baked, nothing failed
    const requested = new Set(cloud.published('BakeRequested').map((e) => e.detail.instanceId));
    expect(requested).toEqual(new Set(ids));
    const baked = cloud.published('ImageBaked');
    expect(new Set(baked.map((e) => e.detail.imageId))).toEqual(new Set(images.map((i) => i.ImageId)));
    expect(cloud.published('ImageBakeFailed')).toEqual([]);
    expect(cloud.published('PolicyInvalid')).toEqual([]);
  });
});
