/**
 * Section 3 of `npm run bench`: throughput at EC2's rate limit. One nightly run
 * over 1,000 tagged instances in a LocalCloud (moto behind the fidelity proxy,
 * the real handlers), its BakeRequested events delivered to the bake function
 * several at a time, with the proxy enforcing EC2's mutating-call token bucket
 * (scaled down so the run takes seconds, not the minutes AWS's capacity 200,
 * refill 5/s would take).
 *
 * The bucket's own lower bound: no schedule of the calls can get N mutating calls
 * through a bucket of capacity B refilled at R/s in less than (N − B) / R seconds.
 * The same run without throttling is measured first: when moto alone takes longer
 * than the bound, moto is the limit, not the bucket, and the bucket is scaled down
 * (refill lowered) until the bound is well above moto's own time.
 */
import { paginateDescribeImages } from '@aws-sdk/client-ec2';
import { pathToFileURL } from 'node:url';
import { readServerless } from '../../cli/serverless-config.js';
import { assertNoApiViolations } from '../../test/harness/api-model/index.js';
import { LocalCloud, type Delivery } from '../../test/harness/local-cloud.js';
import { requireNoDenials } from '../../test/harness/iam/report.js';
import type { TokenBucketOptions } from '../../test/harness/proxy/index.js';
import { ratio, type BenchSection } from './section.js';

const NIGHT = new Date('2026-11-26T03:00:00Z');
const SLOT = '2026-11-26';
const MANAGED_BY_TAG = 'ami-lifecycle:managed-by';
const TARGET_RATIO = 1.2;
/** The bound must be at least this many times moto's own time for the bucket to be the limit. */
const BOUND_OVER_MOTO = 2;

interface RunResult {
  label: string;
  bucket: TokenBucketOptions | undefined;
  fanOutSeconds: number;
  deliverSeconds: number;
  bakes: number;
  handlerRetries: number;
  handlerFailures: number;
  outcomes: Record<string, number>;
  mutatingAdmitted: number;
  admittedByAction: Record<string, number>;
  throttled: number;
  throttledByAction: Record<string, number>;
  lost: number;
  boundSeconds: number | undefined;
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
const isMutating = (action: string) =>
  !/^(Describe|Get|List|Search)/.test(action) &&
  !['RunInstances', 'StartInstances', 'StopInstances', 'TerminateInstances'].includes(action);
const EC2_ACTIONS =
  /^(Create|Delete|Deregister|Register|Modify|Enable|Disable|Associate|Disassociate|Copy|Import|Export|Reset|Replace|Attach|Detach|Reboot)/;

/** Instances without an image of the slot (named after the instance, from the request's slot) once the run is over. */
async function lostBakes(cloud: LocalCloud, instanceIds: string[]): Promise<number> {
  const baked = new Set<string>();
  for await (const page of paginateDescribeImages(
    { client: cloud.ec2 },
    { Owners: ['self'], Filters: [{ Name: 'tag-key', Values: [MANAGED_BY_TAG] }] },
  )) {
    for (const image of page.Images ?? []) {
      const source = image.Tags?.find((t) => t.Key === 'ami-lifecycle:source-instance')?.Value;
      const slot = image.Tags?.find((t) => t.Key === 'ami-lifecycle:slot')?.Value;
      if (source && (slot === undefined || slot === SLOT) && image.State !== 'failed') baked.add(source);
    }
  }
  return instanceIds.filter((id) => !baked.has(id)).length;
}

async function run(cloud: LocalCloud, instances: number, bucket: TokenBucketOptions | undefined, label: string): Promise<RunResult> {
  await cloud.reset();
  const ids = await cloud.launch(instances, { Name: 'bench', 'ami-lifecycle:bake': 'nightly' });
  cloud.proxy.setThrottle(bucket ? { mutating: bucket } : undefined); // a full bucket at the start
  cloud.proxy.resetCalls();

  const t0 = performance.now();
  await cloud.fireSchedule('nightly', NIGHT);
  const t1 = performance.now();
  const deliveries: Delivery[] = await cloud.deliver();
  const t2 = performance.now();
  cloud.setClock(undefined);

  const calls = cloud.proxy.calls();
  const { admitted, throttled } = cloud.proxy.throttleCounts();
  cloud.proxy.setThrottle(undefined);
  // Unthrottled, every mutating EC2 call the proxy saw went through.
  const admittedByAction = bucket
    ? admitted
    : Object.fromEntries(Object.entries(calls).filter(([a]) => EC2_ACTIONS.test(a) && isMutating(a)));
  const mutatingAdmitted = sum(admittedByAction);
  const bakes = deliveries.filter((d) => d.function === 'bake');
  const outcomes: Record<string, number> = {};
  // The queue's answer says only what failed: a record done is a bake that created or found its image.
  for (const d of bakes) {
    const status = d.error ? 'error' : 'done';
    outcomes[status] = (outcomes[status] ?? 0) + 1;
  }
  return {
    label,
    bucket,
    fanOutSeconds: (t1 - t0) / 1000,
    deliverSeconds: (t2 - t1) / 1000,
    bakes: bakes.length,
    handlerRetries: bakes.reduce((n, d) => n + d.attempts - 1, 0),
    handlerFailures: bakes.filter((d) => d.error !== undefined).length,
    outcomes,
    mutatingAdmitted,
    admittedByAction,
    throttled: sum(throttled),
    throttledByAction: throttled,
    lost: await lostBakes(cloud, ids),
    boundSeconds: bucket ? Math.max(0, mutatingAdmitted - bucket.capacity) / bucket.refillPerSecond : undefined,
  };
}

const s = (x: number) => `${x.toFixed(1)} s`;
const bucketText = (b: TokenBucketOptions | undefined) => (b ? `${b.capacity} + ${b.refillPerSecond}/s` : 'none');
const byAction = (r: Record<string, number>) =>
  Object.entries(r)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([a, n]) => `${a} ${n}`)
    .join(', ') || '—';

function deployedBakeConcurrency(): number {
  const bake = readServerless().functions.find((f) => f.name === 'bake');
  if (!bake?.queue?.maximumConcurrency) throw new Error("serverless.yml: the bake queue's event source mapping has no maximumConcurrency");
  return bake.queue.maximumConcurrency;
}

export async function throughput(
  options: { instances?: number; concurrency?: number; capacity?: number; refillPerSecond?: number } = {},
): Promise<BenchSection> {
  // The 1,000 (about 30 s unthrottled here, since the proxy indexes AMI names).
  const instances = options.instances ?? 1000;
  // The bake queue's maximum concurrency as deployed (params.bakeConcurrency): what
  // bounds the calls in AWS bounds them here. Many more at once, in this one process,
  // share one SDK client and its retry quota, which no set of Lambda containers does.
  const concurrency = options.concurrency ?? deployedBakeConcurrency();
  const capacity = options.capacity ?? 20;
  const cloud = await LocalCloud.start({ concurrency, env: { POWERTOOLS_LOG_LEVEL: 'ERROR' } });
  const results: RunResult[] = [];
  const notes: string[] = [];
  try {
    // 1. moto's own speed: the same run, no throttling.
    const free = await run(cloud, instances, undefined, 'no throttling (moto alone)');
    results.push(free);
    process.stderr.write(`throughput: moto alone ${s(free.deliverSeconds)} for ${free.mutatingAdmitted} mutating calls\n`);

    // 2. The suggested scaled bucket, unless moto alone is already slower than its bound.
    let refill = options.refillPerSecond ?? 50;
    const boundOf = (r: number) => Math.max(0, free.mutatingAdmitted - capacity) / r;
    if (boundOf(refill) < BOUND_OVER_MOTO * free.deliverSeconds) {
      const scaled = Math.max(1, Math.floor((free.mutatingAdmitted - capacity) / (BOUND_OVER_MOTO * free.deliverSeconds)));
      notes.push(
        `at ${capacity} + ${refill}/s the bucket's bound (${s(boundOf(refill))}) is under ${BOUND_OVER_MOTO}× moto's own time (${s(free.deliverSeconds)}): ` +
          `the bucket would not be the limit, so the refill is scaled down to ${scaled}/s (bound ≥ ${BOUND_OVER_MOTO}× moto's time)`,
      );
      refill = scaled;
    }
    const bucket = { capacity, refillPerSecond: refill };
    process.stderr.write(`throughput: throttled run, bucket ${bucketText(bucket)}, bound ${s(boundOf(refill))}\n`);
    results.push(await run(cloud, instances, bucket, 'EC2 mutating bucket'));
    // Every call went through the proxy, checked against AWS's API model: a refused one fails the benchmark.
    assertNoApiViolations(cloud.proxy, (text) => process.stderr.write(`throughput: ${text}\n`));
    requireNoDenials(cloud.iam, 'throughput');
  } finally {
    await cloud.stop();
  }

  const throttledRun = results[1]!;
  const bound = throttledRun.boundSeconds!;
  const measured = throttledRun.deliverSeconds / bound;
  const lost = throttledRun.lost;
  return {
    title: '3. Throughput at the rate limit',
    method:
      `One nightly run over ${instances.toLocaleString('en-US')} instances tagged ami-lifecycle:bake=nightly (one RunInstances) in a LocalCloud ` +
      `(moto behind the fidelity proxy, the real schedule and bake handlers, ${concurrency} bake invocations at a time${options.concurrency ? '' : ": the bake queue's maximum concurrency as deployed"}); ` +
      `the proxy answers mutating EC2 calls that find its token bucket empty with 503 RequestLimitExceeded. ` +
      `Bound = (mutating calls admitted − capacity) / refill; time = delivery of the BakeRequested events until every bake has returned ` +
      `(the schedule's fan-out, which makes no mutating EC2 call, is shown apart). The same run without throttling measures moto's own speed.`,
    header: [
      'run',
      'bucket (capacity + refill)',
      'fan-out (schedule)',
      'bake delivery',
      'bucket bound',
      'time / bound',
      'mutating calls admitted',
      'throttled (= SDK retries)',
      'handler retries / failures',
      'bake outcomes',
      'bakes lost',
    ],
    rows: results.map((r) => [
      r.label,
      bucketText(r.bucket),
      s(r.fanOutSeconds),
      s(r.deliverSeconds),
      r.boundSeconds === undefined ? '—' : s(r.boundSeconds),
      r.boundSeconds === undefined ? '—' : ratio(r.deliverSeconds, r.boundSeconds),
      `${r.mutatingAdmitted} (${byAction(r.admittedByAction)})`,
      `${r.throttled} (${byAction(r.throttledByAction)})`,
      `${r.handlerRetries} / ${r.handlerFailures}`,
      byAction(r.outcomes),
      String(r.lost),
    ]),
    targets: [
      {
        name: 'bake delivery time / bucket bound',
        target: `≤ ${TARGET_RATIO}×`,
        measured: ratio(throttledRun.deliverSeconds, bound),
        met: measured <= TARGET_RATIO,
        note: [
          ...notes,
          `moto alone: ${s(results[0]!.deliverSeconds)} (${(results[0]!.deliverSeconds / bound).toFixed(2)}× the bound)`,
        ].join('; '),
      },
      {
        name: 'fan-out size',
        target: '1,000 bakes',
        measured: instances.toLocaleString('en-US'),
        met: instances >= 1000,
        ...(instances >= 1000
          ? {}
          : {
              note: 'run with a fan-out smaller than the issue\u2019s (--instances)',
            }),
      },
      {
        name: 'bakes lost',
        target: '0',
        measured: String(lost),
        met: lost === 0,
        ...(lost > 0 ? { note: `${throttledRun.handlerFailures} bake invocations still failing after LocalCloud's 3 attempts` } : {}),
      },
    ],
  };
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const n = (flag: string) => {
    const at = process.argv.indexOf(flag);
    return at >= 0 ? Number(process.argv[at + 1]) : undefined;
  };
  const section = await throughput({
    ...(n('--instances') ? { instances: n('--instances')! } : {}),
    ...(n('--concurrency') ? { concurrency: n('--concurrency')! } : {}),
    ...(n('--capacity') ? { capacity: n('--capacity')! } : {}),
    ...(n('--refill') ? { refillPerSecond: n('--refill')! } : {}),
  });
  console.log(JSON.stringify(section, null, 2));
}
