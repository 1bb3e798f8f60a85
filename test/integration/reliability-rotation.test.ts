/**
 * Reliability: rotation while AWS throttles 20% of the calls and answers 5% with
 * server errors, on EC2 and EventBridge. Thirty lineages with six nights of images
 * each, under three retention policies, are baked cleanly; the rotation's plan is
 * read first (the product's own planner, the reads a dry run makes); then the real
 * rotate function runs under the faults (Scheduler retrying a failed run). It must
 * delete exactly the planned images and every snapshot of theirs, and leave every
 * other image, snapshot, tag, instance and launch template as it was.
 *
 * The SDK's retry waits are a twentieth of AWS's (sdk-retry-waits.ts): the faults are drawn by
 * call count, so the same calls fail and are retried, in less time.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import { pastNights } from '../harness/local-cloud.js';
import type { FaultOptions } from '../harness/faults.js';
import { shortenSdkRetryWaits } from '../harness/sdk-retry-waits.js';
import { Labels } from '../harness/state.js';
import { rotationDeps } from '../../shared/runtime/rotation-deps.js';
import { planRotationRun, type RotationReport } from '../../shared/use-cases/rotate-images.js';

const MANAGED_BY = 'ami-lifecycle-dev';
const FAULTS: FaultOptions = { seed: 20261127, throttleRate: 0.2, serverErrorRate: 0.05, services: ['ec2', 'events'] };
const NIGHTS = 6;
/** Ten lineages each: keep 2, keep 3, and the default (4 here). */
const POLICIES = ['2', '3', undefined] as const;

// Before cloudPerFile loads the handlers: their clients read the base wait when they are made.
afterAll(shortenSdkRetryWaits(1 / 20));
const cloud = cloudPerFile({ concurrency: 16, env: { DEFAULT_RETAIN: '4', POWERTOOLS_LOG_LEVEL: 'SILENT' } });

describe('rotation under throttling and server errors', () => {
  it('deletes exactly the planned images and every snapshot of theirs, nothing else', { timeout: 240_000 }, async () => {
    // Prepare: 30 lineages, six clean nights each
    const names: Record<string, string> = {};
    for (const retain of POLICIES) {
      const ids = await cloud.launch(10, { 'ami-lifecycle:bake': 'nightly', ...(retain ? { 'ami-lifecycle:retain': retain } : {}) });
      for (const [n, id] of ids.entries()) names[id] = `keep-${retain ?? 'default'}-${n}`;
    }
    for (const night of pastNights(NIGHTS)) {
      const deliveries = await cloud.bakeCycle('nightly', night);
      expect(deliveries.filter((d) => d.error !== undefined)).toEqual([]);
    }
    const labels = new Labels(names);
    const before = await labels.state(cloud.ec2);
    expect(before.images).toHaveLength(30 * NIGHTS);

    // Prepare: the plan, from the product's own planner over the same reads, and from a dry run
    // (run as the rotate function: its reads are evaluated against the rotate role too)
    const { plan } = await cloud.asFunction('rotate', () => planRotationRun(rotationDeps()));
    const planned = plan.decisions.filter((d) => d.action === 'delete');
    expect(planned).toHaveLength(10 * (NIGHTS - 2) + 10 * (NIGHTS - 3) + 10 * (NIGHTS - 4));
    const dry = (await cloud.invoke('rotate', { dryRun: true })) as RotationReport;
    expect(dry.planned.delete).toBe(planned.length);
    const plannedImages = new Set(planned.map((d) => labels.of(d.imageId)));
    const plannedSnapshots = new Set(planned.flatMap((d) => d.snapshotIds.map((s) => labels.of(s))));
    expect(plannedSnapshots.size).toBe(planned.length); // one snapshot per image in moto

    // Act: the scheduled rotation, under the faults; Scheduler runs it again if it fails
    cloud.proxy.resetCalls();
    cloud.proxy.setFaults(FAULTS);
    let report: RotationReport | undefined;
    const errors: string[] = [];
    for (let attempt = 1; attempt <= 3 && report === undefined; attempt++) {
      try {
        report = (await cloud.invoke('rotate', { trigger: 'schedule' })) as RotationReport;
      } catch (error) {
        errors.push(String(error));
      }
    }
    const faults = cloud.proxy.faultCounts();
    cloud.proxy.setFaults(undefined);

    // Assess: the faults hit the deletions themselves
    expect(
      (faults['random-throttle']?.DeregisterImage ?? 0) +
        (faults['internal-error']?.DeregisterImage ?? 0) +
        (faults.unavailable?.DeregisterImage ?? 0),
    ).toBeGreaterThan(5);

    // Assess: the run finished, and says it did exactly the plan
    expect(report, `rotation never finished: ${errors.join('; ')}`).toBeDefined();
    expect(report!.failures).toEqual([]);
    expect(report!.done).toMatchObject({ deleted: planned.length, snapshotsDeleted: planned.length, orphanSnapshotsDeleted: 0 });

    // Assess: the account is the one before, less exactly the planned images and their snapshots
    const after = await labels.state(cloud.ec2);
    expect(after.images).toEqual(before.images.filter((i) => !plannedImages.has(`image(${i.name})`)));
    expect(before.images.filter((i) => plannedImages.has(`image(${i.name})`))).toHaveLength(planned.length);
    expect(after.snapshots).toEqual(before.snapshots.filter((s) => !plannedSnapshots.has(s.snapshot)));
    expect(after.instances).toEqual(before.instances);
    expect(after.launchTemplates).toEqual(before.launchTemplates);

    // Assess: the kept images of each lineage are its newest, as many as its policy says
    for (const [id, name] of Object.entries(names)) {
      const keep = Number(name.split('-')[1] === 'default' ? 4 : name.split('-')[1]);
      const kept = after.images.filter((i) => i.tags['ami-lifecycle:lineage'] === name).map((i) => i.tags['ami-lifecycle:slot']);
      const all = before.images.filter((i) => i.tags['ami-lifecycle:lineage'] === name).map((i) => i.tags['ami-lifecycle:slot']);
      expect(kept, id).toEqual(all.sort().slice(-keep));
    }

    // Assess: said once on the bus (a publish retried after a lost answer may repeat it: none here)
    const rotated = cloud.published('ImagesRotated');
    expect(rotated.length).toBeGreaterThanOrEqual(1);
    expect(rotated.at(-1)!.detail).toMatchObject({ managedBy: MANAGED_BY, dryRun: false, done: { deleted: planned.length } });
  });
});
