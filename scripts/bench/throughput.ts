/**
 * Section 3 of `npm run bench`: a night at EC2's token buckets (issue 18). Instances tagged
 * ami-lifecycle:bake=nightly in a LocalCloud (moto behind the fidelity proxy, the real handlers
 * and wiring): the schedule fires (fan-out), the bake queue's records are delivered (bakes), EC2
 * announces the images and the image-state queue's batches settle them, with the ImageBaked
 * consumers (settles). The proxy holds every EC2 call to the bucket AWS documents for its action
 * ("Request throttling for the Amazon EC2 API", https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html:
 * "each API is evaluated individually", its own bucket of its category's size unless the table
 * gives it one), every bucket's capacity and refill scaled by one factor.
 *
 * The bound: no schedule gets N calls through a bucket holding H tokens refilled at R/s in less
 * than (N − H) / R. The harness runs the three phases one after the other (the next starts when
 * the last call of the one before has returned), so the tightest honest bound is, per phase, the
 * largest of those over the buckets (H what the bucket held when the phase began), summed over
 * the phases. The bound of the night with its phases overlapped (one max over the whole night, as
 * on AWS when settles run while bakes go on) is shown beside it.
 *
 * The same night with no bucket in the way measures moto's own speed; the factor is chosen so
 * that the bound is BOUND_OVER_MOTO times moto's time, or the ratio would measure moto. moto's
 * time per instance at larger fleets is measured on a sample (SAMPLE instances tagged among many
 * untagged), with where its time goes.
 */
import { paginateDescribeImages } from '@aws-sdk/client-ec2';
import { fileURLToPath } from 'node:url';
import { readServerless } from '../../cli/serverless-config.js';
import { TAG } from '../../shared/domain/tags.js';
import { assertNoApiViolations } from '../../test/harness/api-model/index.js';
import { requireNoDenials } from '../../test/harness/iam/report.js';
import { LocalCloud, type Delivery } from '../../test/harness/local-cloud.js';
import { bucketBound, type BucketState, EC2_DOCUMENTED_BUCKETS, type Ec2Bucket, ec2Buckets } from '../../test/harness/proxy/index.js';
import { ratio, runSectionScript, sectionInChild, type BenchSection } from './section.js';

const NIGHT = new Date('2026-11-26T03:00:00Z');
const SLOT = '2026-11-26';
const TARGET_RATIO = 1.2;
const TARGET_INSTANCES = 10_000;
/** The bound must be this many times moto's own time for the buckets, not moto, to be the limit. */
const BOUND_OVER_MOTO = 2.5;
/** Buckets so large that nothing is throttled: the calls are counted per bucket all the same. */
const UNLIMITED = 1e6;
/** Tagged instances of the moto-scaling sample, among the untagged rest of the fleet. */
const SAMPLE = 100;
const PHASES = ['fan-out', 'bakes', 'settles'] as const;
type Phase = (typeof PHASES)[number];

interface PhaseResult {
  phase: Phase;
  seconds: number;
  /** The buckets' least time for the phase, and the bucket that sets it. */
  bound: { seconds: number; bucket?: string };
  /** Tokens taken per bucket in the phase: what the bound of any other factor is computed from. */
  taken: Array<{ key: string; taken: number }>;
}

interface NightResult {
  label: string;
  instances: number;
  tagged: number;
  factor: number | undefined;
  phases: PhaseResult[];
  /** Harness time standing in for EC2's AMI state-change events (not the service's). */
  announceSeconds: number;
  seconds: number;
  bound: number;
  overlappedBound: { seconds: number; bucket?: string };
  calls: Record<string, number>;
  throttled: Record<string, number>;
  upstreamMs: Record<string, number>;
  failedDeliveries: number;
  lost: number;
  duplicates: number;
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
const s = (x: number) => `${x.toFixed(1)} s`;
const bucketName = (key: string) => key.split(':')[0] as Ec2Bucket;

/** Images of the slot per tagged instance, read straight from moto: each must have exactly one, good. */
async function imagesPerInstance(cloud: LocalCloud, instanceIds: string[]): Promise<{ lost: number; duplicates: number }> {
  const good = new Map<string, number>();
  const any = new Map<string, number>();
  for await (const page of paginateDescribeImages(
    { client: cloud.ec2 },
    { Owners: ['self'], Filters: [{ Name: `tag:${TAG.slot}`, Values: [SLOT] }] },
  )) {
    for (const image of page.Images ?? []) {
      const tags = Object.fromEntries((image.Tags ?? []).map((t) => [t.Key, t.Value]));
      const source = tags[TAG.sourceInstance];
      if (!source) continue;
      any.set(source, (any.get(source) ?? 0) + 1);
      if (tags[TAG.status] === 'good' && image.State === 'available') good.set(source, (good.get(source) ?? 0) + 1);
    }
  }
  return {
    lost: instanceIds.filter((id) => (good.get(id) ?? 0) !== 1).length,
    duplicates: instanceIds.filter((id) => (any.get(id) ?? 0) > 1).length,
  };
}

/**
 * One night: `tagged` of `instances` instances opted in, the others untagged (a fleet that
 * large in moto, for the scaling sample). `factor`: the documented buckets scaled; undefined:
 * unlimited buckets, which count the calls and throttle none.
 */
async function night(
  cloud: LocalCloud,
  instances: number,
  tagged: number,
  factor: number | undefined,
  label: string,
): Promise<NightResult> {
  await cloud.reset();
  const ids: string[] = [];
  for (let n = 0; n < tagged; n += 1000)
    ids.push(...(await cloud.launch(Math.min(1000, tagged - n), { Name: 'bench', 'ami-lifecycle:bake': 'nightly' })));
  for (let n = tagged; n < instances; n += 1000) await cloud.launch(Math.min(1000, instances - n), { Name: 'filler' });
  cloud.proxy.setThrottle({ buckets: ec2Buckets(factor ?? UNLIMITED), scope: 'action' }); // full buckets
  cloud.proxy.resetCalls();

  const deliveries: Delivery[] = [];
  const phases: PhaseResult[] = [];
  let announceSeconds = 0;
  const phase = async (name: Phase, work: () => Promise<void>) => {
    const before = cloud.proxy.throttleBuckets();
    const t0 = performance.now();
    await work();
    const seconds = (performance.now() - t0) / 1000;
    const after = cloud.proxy.throttleBuckets();
    const start = new Map(before.map((b) => [b.key, b.taken]));
    phases.push({
      phase: name,
      seconds,
      bound: bucketBound(before, after),
      taken: after.map((b) => ({ key: b.key, taken: b.taken - (start.get(b.key) ?? 0) })).filter((b) => b.taken > 0),
    });
    process.stderr.write(`throughput: ${label}: ${name} ${s(seconds)}, bound ${s(phases.at(-1)!.bound.seconds)}\n`);
  };
  const start: BucketState[] = [];
  await phase('fan-out', async () => {
    await cloud.fireSchedule('nightly', NIGHT);
  });
  await phase('bakes', async () => {
    deliveries.push(...(await cloud.deliver()));
  });
  // EC2's AMI state-change events, which the harness makes up for moto: EC2's work, not the night's.
  const a0 = performance.now();
  await cloud.announceImageStates();
  announceSeconds = (performance.now() - a0) / 1000;
  await phase('settles', async () => {
    deliveries.push(...(await cloud.deliver()));
  });
  cloud.setClock(undefined);

  const end = cloud.proxy.throttleBuckets();
  const { throttled } = cloud.proxy.throttleCounts();
  const result: NightResult = {
    label,
    instances,
    tagged,
    factor,
    phases,
    announceSeconds,
    seconds: phases.reduce((t, p) => t + p.seconds, 0),
    bound: phases.reduce((t, p) => t + p.bound.seconds, 0),
    overlappedBound: bucketBound(start, end),
    calls: cloud.proxy.calls(),
    throttled,
    upstreamMs: cloud.proxy.upstreamMs(),
    failedDeliveries: deliveries.filter((d) => d.error !== undefined).length,
    ...(await imagesPerInstance(cloud, ids)),
  };
  cloud.proxy.setThrottle(undefined);
  return result;
}

/**
 * The per-phase bound the documented buckets scaled by `factor` would set for the calls of `run`
 * (each phase's buckets full at its start), or for `times` as many instances making the same calls each.
 */
function boundAt(run: NightResult, factor: number, times = 1): number {
  return run.phases.reduce((total, p) => {
    const seconds = p.taken.map(({ key, taken: perRun }) => {
      const taken = perRun * times;
      const b = EC2_DOCUMENTED_BUCKETS[bucketName(key)];
      return Math.max(0, taken - Math.max(1, Math.round(b.capacity * factor))) / (b.refillPerSecond * factor);
    });
    return total + Math.max(0, ...seconds);
  }, 0);
}

/** The factor whose bound is `seconds` for these calls (the bound falls as the factor grows). */
function factorFor(run: NightResult, seconds: number): number {
  let low = 1e-4;
  let high = 1e4;
  for (let i = 0; i < 100; i++) {
    const mid = Math.sqrt(low * high);
    if (boundAt(run, mid) > seconds) low = mid;
    else high = mid;
  }
  return Number(high.toPrecision(3));
}

/** Calls that did their work: those answered RequestLimitExceeded are counted apart (the SDK made them again). */
const admitted = (r: NightResult) => Object.fromEntries(Object.entries(r.calls).map(([a, n]) => [a, n - (r.throttled[a] ?? 0)]));

const perInstance = (calls: Record<string, number>, n: number) =>
  Object.entries(calls)
    .filter(([, c]) => c > 0)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([a, c]) => `${a} ${Number((c / n).toFixed(3))}`)
    .join(', ');

/** moto's slowest actions per call, ms: where the time goes as the fleet grows. */
const slowest = (run: NightResult, top = 4) =>
  Object.entries(run.upstreamMs)
    .map(([a, ms]) => [a, ms / (run.calls[a] ?? 1), ms] as const)
    .sort((x, y) => y[2] - x[2])
    .slice(0, top)
    .map(([a, per, ms]) => `${a} ${per.toFixed(0)} ms × ${run.calls[a] ?? 0} = ${(ms / 1000).toFixed(0)} s`)
    .join('; ');

function deployedBakeConcurrency(): number {
  const bake = readServerless().functions.find((f) => f.name === 'bake');
  if (!bake?.queue?.maximumConcurrency) throw new Error("serverless.yml: the bake queue's event source mapping has no maximumConcurrency");
  return bake.queue.maximumConcurrency;
}

async function measureNight(options: { instances?: number; sizes?: number[] } = {}): Promise<BenchSection> {
  const instances = options.instances ?? Number(process.env.BENCH_NIGHT_INSTANCES ?? 500);
  const sizes = options.sizes ?? (process.env.BENCH_NIGHT_SIZES ?? '1000,2500,5000').split(',').map(Number);
  // The bake queue's maximum concurrency as deployed (params.bakeConcurrency) bounds the bakes at once here as in AWS.
  const concurrency = deployedBakeConcurrency();
  const cloud = await LocalCloud.start({ concurrency, env: { POWERTOOLS_LOG_LEVEL: 'ERROR' } });
  const runs: NightResult[] = [];
  const scaling: NightResult[] = [];
  const began = performance.now();
  try {
    const free = await night(cloud, instances, instances, undefined, 'no throttling (moto alone)');
    runs.push(free);
    const factor = factorFor(free, BOUND_OVER_MOTO * free.seconds);
    process.stderr.write(`throughput: moto alone ${s(free.seconds)}; buckets × ${factor} (bound ${s(boundAt(free, factor))})\n`);
    runs.push(await night(cloud, instances, instances, factor, `EC2's buckets × ${factor}`));
    for (const size of sizes) scaling.push(await night(cloud, size, SAMPLE, undefined, `moto alone, ${SAMPLE} of ${size}`));
    // Every call went through the proxy, checked against AWS's API model: a refused one fails the benchmark.
    assertNoApiViolations(cloud.proxy, (text) => process.stderr.write(`throughput: ${text}\n`));
    requireNoDenials(cloud.iam, 'throughput');
  } finally {
    await cloud.stop();
  }
  const runSeconds = (performance.now() - began) / 1000;

  const [free, throttled] = runs as [NightResult, NightResult];
  const measured = throttled.seconds / throttled.bound;
  const phaseText = (r: NightResult, p: Phase) => {
    const x = r.phases.find((q) => q.phase === p)!;
    if (r.factor === undefined) return s(x.seconds);
    return `${s(x.seconds)} / ${s(x.bound.seconds)}${x.bound.bucket && x.bound.seconds > 0 ? ` (${x.bound.bucket})` : ''}`;
  };
  const perInstanceMoto = scaling.map((r) => ({ size: r.instances, seconds: r.seconds / r.tagged }));
  const largest = perInstanceMoto.at(-1);
  const motoAt10k = largest ? largest.seconds * TARGET_INSTANCES : undefined;
  const bound10k = boundAt(free, 1, TARGET_INSTANCES / instances);
  const rows = [
    ...runs.map((r) => [
      r.label,
      r.instances.toLocaleString('en-US'),
      phaseText(r, 'fan-out'),
      phaseText(r, 'bakes'),
      phaseText(r, 'settles'),
      s(r.seconds),
      r.factor === undefined ? '—' : `${s(r.bound)} (overlapped: ${s(r.overlappedBound.seconds)}, ${r.overlappedBound.bucket ?? '—'})`,
      r.factor === undefined ? '—' : ratio(r.seconds, r.bound),
      perInstance(admitted(r), r.tagged),
      `${sum(r.throttled)}${sum(r.throttled) ? ` (${perInstance(r.throttled, 1)})` : ''}`,
      `${r.lost} / ${r.duplicates} / ${r.failedDeliveries}`,
    ]),
    ...scaling.map((r) => [
      r.label,
      r.instances.toLocaleString('en-US'),
      phaseText(r, 'fan-out'),
      phaseText(r, 'bakes'),
      phaseText(r, 'settles'),
      `${s(r.seconds)} (${(r.seconds / r.tagged).toFixed(3)} s an instance; slowest: ${slowest(r)})`,
      '—',
      '—',
      perInstance(admitted(r), r.tagged),
      String(sum(r.throttled)),
      `${r.lost} / ${r.duplicates} / ${r.failedDeliveries}`,
    ]),
  ];
  const ok = throttled.lost === 0 && throttled.duplicates === 0;
  return {
    title: '3. A night at EC2\u2019s token buckets',
    method:
      `A night of ${instances.toLocaleString('en-US')} instances tagged ami-lifecycle:bake=nightly, never baked before (so each bake also captures its launch configuration), ` +
      `in a LocalCloud (moto behind the fidelity proxy, the real schedule, bake, image-state and promote handlers and wiring; ${concurrency} bakes at a time: ` +
      `the bake queue's maximum concurrency as deployed; the image-state queue's batches of 100, 2 at a time). ` +
      `The proxy holds every EC2 call to its own documented token bucket (Request throttling for the Amazon EC2 API: per action, its category's size unless listed), ` +
      `every capacity and refill scaled by one factor, chosen so that the bound is ${BOUND_OVER_MOTO}× moto's own time for the same night (first row); ` +
      `an empty bucket answers 503 RequestLimitExceeded. Phases: fan-out (the schedule fires), bakes (the bake queue delivered), settles (EC2's AMI events, ` +
      `made up by the harness in ${s(throttled.announceSeconds)} not counted, delivered to image-state; no instance names a promotion target, so no ImageBaked reaches promote). ` +
      `Bound = Σ over the phases (run one after the other) of max over the buckets of (calls admitted − tokens held at the phase's start) / refill: ` +
      `the least time any schedule of those calls can take; "overlapped" is the same over the whole night, as if the phases ran at once. ` +
      `Calls per instance: every service's, those throttled apart. Lost = instances without exactly one good image of the night; duplicates = instances with more than one. ` +
      `The last rows: moto alone on ${SAMPLE} tagged instances among a fleet of that size, to show how moto's time per instance grows. Section run time ${s(runSeconds)}.`,
    header: [
      'run',
      'instances',
      'fan-out (time / bound)',
      'bakes (time / bound)',
      'settles (time / bound)',
      'night',
      'bound',
      'night / bound',
      'calls per instance',
      'throttled (= SDK retries)',
      'lost / duplicates / failed deliveries',
    ],
    rows,
    targets: [
      {
        name: 'night / bound of the buckets',
        target: `≤ ${TARGET_RATIO}×`,
        measured: ratio(throttled.seconds, throttled.bound),
        met: measured <= TARGET_RATIO,
        note: `buckets × ${throttled.factor}; moto alone: ${s(free.seconds)} (${(free.seconds / throttled.bound).toFixed(2)}× the bound)`,
      },
      {
        name: 'instances in the night',
        target: TARGET_INSTANCES.toLocaleString('en-US'),
        measured: instances.toLocaleString('en-US'),
        met: instances >= TARGET_INSTANCES,
        ...(instances >= TARGET_INSTANCES
          ? {}
          : {
              note:
                `moto's own time is the limit: ${perInstanceMoto.map((p) => `${p.seconds.toFixed(3)} s an instance at ${p.size.toLocaleString('en-US')}`).join(', ')}` +
                (motoAt10k
                  ? `, so ${TARGET_INSTANCES.toLocaleString('en-US')} take ≥ ${(motoAt10k / 60).toFixed(0)} min in moto alone (≥ ${(((BOUND_OVER_MOTO + 1) * motoAt10k) / 60).toFixed(0)} min with a bound ${BOUND_OVER_MOTO}× that), ` +
                    `against ${(bound10k / 60).toFixed(0)} min for the documented buckets unscaled; the slowest moto calls: ${slowest(scaling.at(-1)!)}`
                  : ''),
            }),
      },
      {
        name: 'instances lost / duplicated',
        target: '0 / 0',
        measured: `${throttled.lost} / ${throttled.duplicates}`,
        met: ok,
        ...(ok ? {} : { note: `${throttled.failedDeliveries} deliveries still failing after their retries` }),
      },
    ],
  };
}

/** Section 3 of `npm run bench`, measured in a child process (see sectionInChild). */
export function throughput(): Promise<BenchSection> {
  return sectionInChild(fileURLToPath(import.meta.url));
}

await runSectionScript(import.meta.url, () => measureNight(), throughput);
