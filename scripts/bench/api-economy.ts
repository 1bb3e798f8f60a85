/**
 * Section 2 of `npm run bench`: API economy. The real handlers against moto behind
 * the harness's counting proxy (test/harness/local-cloud.ts). For fleets of 10, 100
 * and 1,000 instances (tagged bake=nightly, retain=2, launched as one RunInstances
 * call, so one reservation), three consecutive nights are baked and rotated; the
 * third night's full cycle (schedule, bake, AMI state, settle, rotation — the
 * rotation deleting the first night's image of every instance) is the one counted.
 * The third night, because the first captures every instance's launch configuration
 * (DescribeInstanceAttribute and launch template calls per instance) and later nights
 * must not.
 */
import { fileURLToPath } from 'node:url';
import { readServerless } from '../../cli/serverless-config.js';
import { DescribeImagesCommand } from '@aws-sdk/client-ec2';
import { assertNoApiViolations } from '../../test/harness/api-model/index.js';
import { LocalCloud, pastNights } from '../../test/harness/local-cloud.js';
import { requireNoDenials } from '../../test/harness/iam/report.js';
import type { RotationReport } from '../../shared/use-cases/rotate-images.js';
import { runSectionScript, sectionInChild, type BenchSection, type TargetCheck } from './section.js';

/**
 * Fleets measured through three full nights (the 10, 100 and 1,000; the
 * proxy's index of AMI names keeps moto's time per bake flat). API_ECONOMY_SIZES=10,100
 * runs fewer: then the scheduled run and a rotation of a 1,000-instance fleet (no
 * images) are counted instead.
 */
const SIZES = process.env.API_ECONOMY_SIZES?.split(',').map(Number) ?? [10, 100, 1000];
/** Fleet whose scheduled run and rotation (no images) alone are counted. */
const SCHEDULE_ONLY = 1000;
const NIGHTS = 3;
const TAGS = { 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:retain': '2' };
const MANAGED_BY_TAG = 'ami-lifecycle:managed-by';
/** Actions seen through the proxy that are not EC2's (EventBridge, CloudWatch). */
const NOT_EC2 = new Set([
  'PutEvents',
  'PutMetricData',
  'PutMetricAlarm',
  'DeleteAlarms',
  'DescribeAlarms',
  'TagResource',
  'ListTagsForResource',
]);

interface Measured {
  instances: number;
  calls: Record<string, number>;
  deleted: number;
  imagesBefore: number;
  imagesAfter: number;
  /** Calls of the first night's full cycle (which captures every launch configuration). */
  firstNight: Record<string, number>;
  /** ms of one DescribeImages Owners=self straight to moto, with imagesAfter images (what the harness does per CreateImage). */
  listAllMs: number;
  /** Wall time of the measured (third) night, and of the whole size. */
  cycleMs: number;
  totalMs: number;
}

async function managedImageCount(cloud: LocalCloud): Promise<number> {
  // The harness's own client talks to moto directly (not counted); moto answers in one page.
  const { Images = [] } = await cloud.ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: `tag:${MANAGED_BY_TAG}`, Values: ['*'] }] }),
  );
  return Images.length;
}

async function measure(cloud: LocalCloud, instances: number): Promise<Measured> {
  const started = performance.now();
  await cloud.reset();
  const ids = await cloud.launch(instances, TAGS);
  if (ids.length !== instances) throw new Error(`launched ${ids.length} instances, wanted ${instances}`);
  const nights = pastNights(NIGHTS);
  let firstNight: Record<string, number> = {};
  for (const [i, night] of nights.slice(0, -1).entries()) {
    cloud.proxy.resetCalls();
    await cloud.bakeCycle('nightly', night);
    await cloud.invoke('rotate', { trigger: 'schedule' });
    if (i === 0) firstNight = cloud.proxy.calls();
  }
  const imagesBefore = await managedImageCount(cloud);
  cloud.proxy.resetCalls();
  const cycleStart = performance.now();
  await cloud.bakeCycle('nightly', nights.at(-1)!);
  const imagesMid = await managedImageCount(cloud); // not through the proxy: not counted
  const rotation = (await cloud.invoke('rotate', { trigger: 'schedule' })) as RotationReport;
  const cycleMs = performance.now() - cycleStart;
  const calls = cloud.proxy.calls();
  const listStart = performance.now();
  const imagesAfter = await managedImageCount(cloud);
  const listAllMs = performance.now() - listStart;
  const deletedByListing = imagesMid - imagesAfter;
  if (rotation.done.deleted !== deletedByListing) {
    process.stderr.write(`api-economy: rotation reports ${rotation.done.deleted} deleted, listing shows ${deletedByListing}\n`);
  }
  if (rotation.failures.length > 0)
    process.stderr.write(`api-economy: rotation failures: ${JSON.stringify(rotation.failures.slice(0, 3))}\n`);
  return {
    instances,
    calls,
    firstNight,
    listAllMs,
    deleted: deletedByListing,
    imagesBefore,
    imagesAfter,
    cycleMs,
    totalMs: performance.now() - started,
  };
}

/** The scheduled run and a rotation over a fleet with no images yet: the instance-paged part of a night. */
async function measureScheduleOnly(cloud: LocalCloud, instances: number): Promise<{ calls: Record<string, number>; ms: number }> {
  await cloud.reset();
  await cloud.launch(instances, TAGS);
  cloud.proxy.resetCalls();
  const started = performance.now();
  await cloud.fireSchedule('nightly', pastNights(1)[0]!);
  cloud.setClock(undefined);
  await cloud.invoke('rotate', { trigger: 'schedule' });
  const ms = performance.now() - started;
  return { calls: cloud.proxy.calls(), ms };
}

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2));
const per = (n: number, d: number) => (d > 0 ? (n / d).toFixed(3) : '—');
const isDescribe = (action: string) => /^Describe/.test(action) && !NOT_EC2.has(action);
const describes = (m: Measured) =>
  Object.entries(m.calls)
    .filter(([a]) => isDescribe(a))
    .reduce((s, [, n]) => s + n, 0);

const sumOf = (calls: Record<string, number>, keep: (action: string) => boolean) =>
  Object.entries(calls)
    .filter(([a]) => keep(a))
    .reduce((s, [, n]) => s + n, 0);
const list = (calls: Record<string, number>) =>
  Object.entries(calls)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([a, n]) => `${a} ${n}`)
    .join(', ');

async function measureApiEconomy(): Promise<BenchSection> {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  // More handler invocations at once than the default 4: only wall time changes, not the calls.
  const cloud = await LocalCloud.start({ concurrency: 8 });
  const results: Measured[] = [];
  const problems: string[] = [];
  let scheduleOnly: { calls: Record<string, number>; ms: number } | undefined;
  try {
    for (const n of SIZES) {
      try {
        const m = await measure(cloud, n);
        results.push(m);
        process.stderr.write(
          `api-economy: ${n} instances in ${(m.totalMs / 1000).toFixed(1)} s (third night ${(m.cycleMs / 1000).toFixed(1)} s)\n`,
        );
      } catch (error) {
        problems.push(`N=${n} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    if (!SIZES.includes(SCHEDULE_ONLY)) {
      try {
        scheduleOnly = await measureScheduleOnly(cloud, SCHEDULE_ONLY);
        process.stderr.write(
          `api-economy: ${SCHEDULE_ONLY} instances, scheduled run and rotation only, in ${(scheduleOnly.ms / 1000).toFixed(1)} s\n`,
        );
      } catch (error) {
        problems.push(`N=${SCHEDULE_ONLY} scheduled run failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    // Every call went through the proxy, checked against AWS's API model: a refused one fails the benchmark.
    assertNoApiViolations(cloud.proxy, (text) => process.stderr.write(`api-economy: ${text}\n`));
    requireNoDenials(cloud.iam, 'api-economy');
  } finally {
    await cloud.stop();
  }

  const actions = [...new Set(results.flatMap((m) => Object.keys(m.calls)))].sort((a, b) => {
    const ea = NOT_EC2.has(a) ? 1 : 0;
    const eb = NOT_EC2.has(b) ? 1 : 0;
    return ea - eb || a.localeCompare(b);
  });
  const header = ['call (third night: schedule, bake, state, rotation)', ...results.flatMap((m) => [`N=${m.instances}`, `per instance`])];
  const rows: string[][] = actions.map((a) => [
    NOT_EC2.has(a) ? `${a} (not EC2)` : a,
    ...results.flatMap((m) => {
      const n = m.calls[a] ?? 0;
      return [String(n), per(n, m.instances)];
    }),
  ]);
  const summary = (label: string, value: (m: Measured) => [string, string]) => [label, ...results.flatMap((m) => value(m))];
  rows.push(
    summary('EC2 calls, total', (m) => {
      const t = sumOf(m.calls, (a) => !NOT_EC2.has(a));
      return [String(t), per(t, m.instances)];
    }),
    summary('Describe* total / per 1,000 instances', (m) => [String(describes(m)), fmt((describes(m) / m.instances) * 1000)]),
    summary('CreateImage per instance per slot', (m) => [String(m.calls.CreateImage ?? 0), per(m.calls.CreateImage ?? 0, m.instances)]),
    summary('images deleted / DeregisterImage per deleted image', (m) => [String(m.deleted), per(m.calls.DeregisterImage ?? 0, m.deleted)]),
    summary('managed images: before night 3 → after its rotation', (m) => [`${m.imagesBefore} → ${m.imagesAfter}`, '']),
    summary('wall s: third night / whole size (3 nights)', (m) => [(m.cycleMs / 1000).toFixed(1), (m.totalMs / 1000).toFixed(1)]),
  );

  const targets: TargetCheck[] = [];
  targets.push({
    name: 'CreateImage per instance per slot',
    target: '= 1.00',
    measured: results.map((m) => `${per(m.calls.CreateImage ?? 0, m.instances)} (N=${m.instances})`).join(', ') || 'not measured',
    met: results.length > 0 && results.every((m) => (m.calls.CreateImage ?? 0) === m.instances),
  });

  // Describe growth: N=1000 vs N=100 when both ran through three nights, else the two largest sizes measured.
  const sorted = [...results].sort((a, b) => a.instances - b.instances);
  const big = sorted.at(-1);
  const small = sorted.at(-2);
  const byAction = (b: Measured, s: Measured) =>
    [...new Set([...Object.keys(b.calls), ...Object.keys(s.calls)])]
      .filter(isDescribe)
      .sort()
      .map((a) => `${a} ${b.calls[a] ?? 0} vs ${s.calls[a] ?? 0}`)
      .join(', ');
  if (big && small) {
    const growth = describes(big) / describes(small);
    const scale = big.instances / small.instances;
    const perImage = (big.calls.DescribeImages ?? 0) >= big.instances;
    const imageStateBatch = readServerless().functions.find((f) => f.name === 'imageState')?.queue?.batchSize ?? 1;
    const firstNightExtra = (m: Measured) =>
      Object.entries(m.firstNight)
        .filter(([a, n]) => (m.calls[a] ?? 0) < n)
        .map(([a, n]) => `${a} ${n} (night 3: ${m.calls[a] ?? 0})`)
        .join(', ');
    const scheduleNote = scheduleOnly
      ? ` N=${SCHEDULE_ONLY} (scheduled run and a rotation over the fleet, no images): ${list(scheduleOnly.calls)}, i.e. ${sumOf(scheduleOnly.calls, isDescribe)} describes for ${SCHEDULE_ONLY} instances.`
      : '';
    targets.push({
      name: `Describe* per 1,000 instances, N=${big.instances} vs N=${small.instances}`,
      target: 'grows with pages (per 1,000 resources), not with instances',
      measured: `${fmt((describes(big) / big.instances) * 1000)} vs ${fmt((describes(small) / small.instances) * 1000)} per 1,000; describes grew ${growth.toFixed(2)}× for ${scale}× the instances`,
      met: growth < Math.sqrt(scale),
      note:
        `By action (N=${big.instances} vs N=${small.instances}): ${byAction(big, small)}.` +
        (perImage
          ? ' DescribeImages is made once per image: the imageState function describes the image of each AMI state-change event, so describes grow with instances.'
          : ` DescribeImages: the imageState function reads the images of a batch of AMI state changes (its queue's batch, up to ${imageStateBatch} records) with one call, so the settle costs one call per ${imageStateBatch} images (the harness hands a night's waiting events over at once; on AWS the 60 s batching window decides how full a batch is); the other DescribeImages (the reconcile, rotation) are paged.`) +
        ((big.calls.DescribeInstances ?? 0) >= big.instances
          ? ` DescribeInstances: the promote function reads the lineage's instances once per ImageBaked, to find the targets its instances name (${big.calls.DescribeInstances} for ${big.instances} good images); the scheduled run's own read is paged.`
          : '') +
        ` DescribeImageReferences: rotation checks each image it would delete, at most 10 ids a call (EC2's limit in botocore's model), so one call per 10 deletions (${big.calls.DescribeImageReferences ?? 0} for ${big.deleted} deleted), as DeregisterImage grows with deletions. The remaining describes are paged and stay flat.` +
        ` Per-instance calls seen only on the first night, when every launch configuration is captured (N=${big.instances}): ${firstNightExtra(big) || 'none'} (once per instance and per change of its configuration, never nightly).` +
        scheduleNote +
        ' moto pages DescribeInstances by reservation (the fleet is one) and ignores DescribeImages MaxResults, so paging above 1,000 resources is not exercised here.',
    });
  } else {
    targets.push({
      name: 'Describe* per 1,000 instances',
      target: 'grows with pages (per 1,000 resources), not with instances',
      measured: 'not measured',
      met: false,
      note: problems.join('; ') || 'fewer than two fleet sizes measured',
    });
  }
  targets.push({
    name: 'DeregisterImage per deleted image',
    target: '= 1.00',
    measured: results.map((m) => `${per(m.calls.DeregisterImage ?? 0, m.deleted)} (${m.deleted} deleted)`).join(', ') || 'not measured',
    met: results.length > 0 && results.every((m) => m.deleted > 0 && (m.calls.DeregisterImage ?? 0) === m.deleted),
  });
  const last = sorted.at(-1);
  return {
    title: '2. API economy',
    method:
      `The real handlers against moto behind the harness's counting proxy: N instances (one RunInstances call, one reservation) tagged bake=nightly, retain=2, baked and rotated for ${NIGHTS} consecutive nights; the third night's full cycle (schedule run, bake, AMI state change and settle, rotation deleting the first night's images) is counted.` +
      (SIZES.includes(SCHEDULE_ONLY)
        ? ''
        : ` N=${SCHEDULE_ONLY} was left out of this run (API_ECONOMY_SIZES)` +
          (last ? ` (the third night of N=${last.instances} took ${(last.cycleMs / 1000).toFixed(0)} s)` : '') +
          `; for N=${SCHEDULE_ONLY} only the scheduled run and a rotation are counted (see the describe target's note).`) +
      (problems.length > 0 ? ` Problems: ${problems.join('; ')}.` : ''),
    header,
    rows,
    targets,
  };
}

/** Section 2 of `npm run bench`, measured in a child process (see sectionInChild). */
export function apiEconomy(): Promise<BenchSection> {
  return sectionInChild(fileURLToPath(import.meta.url));
}

await runSectionScript(import.meta.url, measureApiEconomy, apiEconomy);
