/**
 * Section 5 of `npm run bench`: recovery latency. Opted-in instances (recover=on-failure,
 * bake=nightly, each with an Elastic IP) are baked for two nights by the real handlers
 * against moto behind the harness's proxy; then, one at a time, an instance is
 * terminated the way AWS would (Server.InternalError) and its
 * `EC2 Instance State-change Notification` is handed to the real recover use case
 * (recoverInstances) in this process, wired like shared/runtime/deps.ts but with SDK
 * clients that record when each HTTP request to AWS starts and ends. From those
 * records: the waves of sequential calls up to and including RunInstances (calls
 * overlapping in time are one wave), the time spent waiting on AWS (moto behind the
 * proxy) and the in-process time (everything else: parsing, planning, SDK
 * serialisation and signing, XML parsing).
 */
import * as v from 'valibot';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { AllocateAddressCommand, AssociateAddressCommand, DescribeSubnetsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { assertNoApiViolations } from '../../test/harness/api-model/index.js';
import { LocalCloud } from '../../test/harness/local-cloud.js';
import { requireNoDenials } from '../../test/harness/iam/report.js';
import { PROJECT_ROOT } from '../../cli/serverless-config.js';
import { withCapacityNotRetried } from '../../shared/aws/clients.js';
import { Ec2Gateway } from '../../shared/aws/ec2-gateway.js';
import { AutoScalingGateway } from '../../shared/aws/autoscaling-gateway.js';
import { EventBusPublisher } from '../../shared/aws/event-bus.js';
import { RecoveryTriggerEvent } from '../../shared/domain/incoming.js';
import { loadConfig } from '../../shared/runtime/config.js';
import { noMetrics, type Deps, type Log } from '../../shared/use-cases/ports.js';
import { recoverInstances } from '../../shared/use-cases/recover-instance.js';
import { median, runSectionScript, sectionInChild, type BenchSection } from './section.js';

const RUNS = 7;
const TARGET_SEQUENTIAL = 4;
const OPTED_IN = { Name: 'bench-recover', 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:recover': 'on-failure' };
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const region = 'us-east-1';

/** One HTTP request to AWS, as the SDK sent it (a retried call shows once per attempt). */
interface CallRecord {
  action: string;
  start: number;
  end: number;
}

interface Wave {
  actions: string[];
  start: number;
  end: number;
}

interface RunResult {
  outcome: string;
  waves: Wave[];
  /** Waves up to and including the one holding RunInstances. */
  sequential: number;
  /** From the start of recoverInstances to RunInstances' request going out. */
  wallMs: number;
  /** Of wallMs, the time some AWS call was in flight (waves before RunInstances). */
  awsMs: number;
  inProcessMs: number;
  /** Calls after RunInstances, in order. */
  after: string[];
  totalMs: number;
}

const silent: Log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * Records the start and end of each request at the innermost step (around the HTTP
 * handler, inside serialisation, signing, retries and deserialisation), so that the
 * recorded span is the time the process waits on AWS.
 */
function timing(records: CallRecord[]) {
  return <I, O>(next: (args: I) => Promise<O>, context: { commandName?: string }) =>
    async (args: I): Promise<O> => {
      const record: CallRecord = {
        action: context.commandName?.replace(/Command$/, '') ?? 'unknown',
        start: performance.now(),
        end: Number.NaN,
      };
      records.push(record);
      try {
        return await next(args);
      } finally {
        record.end = performance.now();
      }
    };
}
const TIMING = { step: 'deserialize', priority: 'low', name: 'benchCallTiming' } as const;

/** Calls in start order, grouped: a call that starts after every call of the current wave ended opens a new wave. */
function wavesOf(calls: CallRecord[]): Wave[] {
  const waves: Wave[] = [];
  for (const c of [...calls].sort((a, b) => a.start - b.start)) {
    const current = waves.at(-1);
    if (current && c.start < current.end) {
      current.actions.push(c.action);
      current.end = Math.max(current.end, c.end);
    } else {
      waves.push({ actions: [c.action], start: c.start, end: c.end });
    }
  }
  return waves;
}

function triggerFor(instanceId: string): unknown {
  const sample = JSON.parse(readFileSync(resolve(PROJECT_ROOT, 'events/instance-terminated.json'), 'utf8')) as Record<string, unknown>;
  return {
    ...sample,
    id: crypto.randomUUID(),
    time: new Date().toISOString(),
    resources: [`arn:aws:ec2:${region}:123456789012:instance/${instanceId}`],
    detail: { 'instance-id': instanceId, state: 'terminated' },
  };
}

async function recoverOnce(cloud: LocalCloud, deps: Deps, records: CallRecord[], instanceId: string): Promise<RunResult> {
  await cloud.breakInstance(instanceId, 'terminated', 'Server.InternalError');
  records.length = 0;
  const t0 = performance.now();
  // The handler's work: parse the delivered event, then recover.
  const trigger = v.parse(RecoveryTriggerEvent, triggerFor(instanceId));
  // Called in-process, but as the recover function: its calls are evaluated against its role.
  const report = await cloud.asFunction('recover', () => recoverInstances(trigger, deps));
  const totalMs = performance.now() - t0;
  const outcome = report.outcomes.map((o) => o.action).join(',') || 'none';
  const waves = wavesOf(records);
  // The launch that succeeded: the last RunInstances (a capacity fallback makes more than one).
  const launchWave = waves.findLastIndex((w) => w.actions.includes('RunInstances'));
  if (launchWave < 0)
    return { outcome, waves, sequential: Number.NaN, wallMs: Number.NaN, awsMs: Number.NaN, inProcessMs: Number.NaN, after: [], totalMs };
  const run = records.findLast((r) => r.action === 'RunInstances')!;
  const wallMs = run.start - t0;
  const awsMs = waves.slice(0, launchWave).reduce((s, w) => s + (w.end - w.start), 0);
  const after = [...records]
    .sort((a, b) => a.start - b.start)
    .filter((r) => r.start > run.start)
    .map((r) => r.action);
  return { outcome, waves, sequential: launchWave + 1, wallMs, awsMs, inProcessMs: wallMs - awsMs, after, totalMs };
}

async function measureRecovery(): Promise<BenchSection> {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  const cloud = await LocalCloud.start();
  const results: RunResult[] = [];
  const fallbackResults: RunResult[] = [];
  try {
    // A fleet of opted-in instances, each its own lineage with an Elastic IP, baked two nights; as
    // many again naming a fallback subnet in another zone, whose own subnet will have no capacity.
    const { Subnets = [] } = await cloud.ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'default-for-az', Values: ['true'] }] }));
    const [own, fallback] = [...Subnets].sort((a, b) => (a.AvailabilityZone! < b.AvailabilityZone! ? -1 : 1)).map((x) => x.SubnetId!);
    const ids = await cloud.launch(RUNS, OPTED_IN, { SubnetId: own! });
    const fallbackIds = await cloud.launch(RUNS, { ...OPTED_IN, 'ami-lifecycle:subnets': fallback! }, { SubnetId: own! });
    for (const id of [...ids, ...fallbackIds]) {
      const { AllocationId } = await cloud.ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
      await cloud.ec2.send(new AssociateAddressCommand({ AllocationId: AllocationId!, InstanceId: id }));
    }
    const today = new Date();
    today.setUTCHours(3, 0, 0, 0);
    await cloud.bakeCycle('nightly', new Date(today.getTime() - 2 * 86_400_000));
    await cloud.bakeCycle('nightly', new Date(today.getTime() - 86_400_000));

    // The recover use case as productionDeps() wires it, with timed clients.
    const config = loadConfig({ ...cloud.wiring.environment });
    const records: CallRecord[] = [];
    const clientConfig = {
      endpoint: cloud.proxy.endpoint,
      region,
      credentials,
      retryMode: 'standard',
      requestHandler: { connectionTimeout: 3_000, requestTimeout: 10_000 },
    };
    const ec2 = withCapacityNotRetried(new EC2Client({ ...clientConfig, maxAttempts: 6 }));
    const events = new EventBridgeClient({ ...clientConfig, maxAttempts: 4 });
    ec2.middlewareStack.add(timing(records), TIMING);
    events.middlewareStack.add(timing(records), TIMING);
    const deps: Deps = {
      managedBy: config.managedBy,
      schedules: config.schedules,
      rotation: config.rotation,
      recovery: config.recovery,
      ec2: new Ec2Gateway(ec2),
      launchConfigurations: new AutoScalingGateway(new AutoScalingClient({ ...clientConfig, maxAttempts: 4 })),
      events: new EventBusPublisher(events, config.eventBusName),
      log: silent,
      metrics: noMetrics,
      now: () => new Date(),
    };
    try {
      for (const id of ids) results.push(await recoverOnce(cloud, deps, records, id));
      // The captured subnet has no capacity now: each replacement goes to the fallback subnet.
      cloud.proxy.setNoCapacity([{ subnetId: own! }]);
      for (const id of fallbackIds) fallbackResults.push(await recoverOnce(cloud, deps, records, id));
    } finally {
      ec2.destroy();
      events.destroy();
    }
    // Every call went through the proxy, checked against AWS's API model: a refused one fails the benchmark.
    assertNoApiViolations(cloud.proxy, (text) => process.stderr.write(`recovery: ${text}\n`));
    requireNoDenials(cloud.iam, 'recovery');
  } finally {
    await cloud.stop();
  }

  const launched = results.filter((r) => Number.isFinite(r.sequential));
  const reference = launched[Math.floor(launched.length / 2)];
  const rows: string[][] = [];
  if (reference) {
    const launchIndex = reference.sequential - 1;
    reference.waves.slice(0, reference.sequential).forEach((w, i) => {
      rows.push([`wave ${i + 1}`, w.actions.join(' ‖ '), (w.end - w.start).toFixed(1), i === launchIndex ? 'RunInstances' : '']);
    });
    rows.push(['after the launch', reference.after.join(' → ') || 'none', '', 'information']);
  }
  const seq = launched.map((r) => r.sequential);
  const sameShape = new Set(
    launched.map((r) =>
      r.waves
        .slice(0, r.sequential)
        .map((w) => w.actions.join('|'))
        .join(' / '),
    ),
  ).size;
  rows.push(
    ['sequential calls to RunInstances', `median ${launched.length ? median(seq) : '—'} (runs: ${seq.join(', ')})`, '', ''],
    [
      'wall ms, event to RunInstances',
      launched.length ? median(launched.map((r) => r.wallMs)).toFixed(1) : '—',
      '',
      `runs: ${launched.map((r) => r.wallMs.toFixed(0)).join(', ')}`,
    ],
    ['  of which waiting on AWS (moto via proxy)', launched.length ? median(launched.map((r) => r.awsMs)).toFixed(1) : '—', '', ''],
    [
      '  of which in-process',
      launched.length ? median(launched.map((r) => r.inProcessMs)).toFixed(1) : '—',
      '',
      `runs: ${launched.map((r) => r.inProcessMs.toFixed(1)).join(', ')}`,
    ],
    [
      'whole recovery (incl. Elastic IP, event)',
      launched.length ? median(launched.map((r) => r.totalMs)).toFixed(1) : '—',
      '',
      'ms, median',
    ],
  );
  // With one fallback: the refused RunInstances, a fresh listing of the lineage, then the launch in the next subnet.
  const withFallback = fallbackResults.filter((r) => Number.isFinite(r.sequential));
  const fallbackSeq = withFallback.map((r) => r.sequential);
  const fallbackReference = withFallback[Math.floor(withFallback.length / 2)];
  if (fallbackReference) {
    rows.push([
      'with a fallback: waves',
      fallbackReference.waves
        .slice(0, fallbackReference.sequential)
        .map((w) => w.actions.join(' ‖ '))
        .join(' → '),
      '',
      'the captured subnet has no capacity',
    ]);
  }
  rows.push(
    [
      'with a fallback: sequential calls to RunInstances',
      `median ${withFallback.length ? median(fallbackSeq) : '—'} (runs: ${fallbackSeq.join(', ')})`,
      '',
      'the launch that succeeded counts',
    ],
    [
      'with a fallback: wall ms, event to RunInstances',
      withFallback.length ? median(withFallback.map((r) => r.wallMs)).toFixed(1) : '—',
      '',
      `runs: ${withFallback.map((r) => r.wallMs.toFixed(0)).join(', ')}`,
    ],
  );
  const worst = seq.length ? Math.max(...seq) : Number.NaN;
  const failed = [...results, ...fallbackResults].filter((r) => !Number.isFinite(r.sequential)).map((r) => r.outcome);
  return {
    title: '5. Recovery',
    method: `${RUNS} opted-in instances, each with an Elastic IP, baked two nights by the real handlers against moto; each in turn terminated with Server.InternalError and its state-change event given to recoverInstances in-process (clients timed around each HTTP request, pointed at the harness proxy); waves are calls overlapping in time; figures are medians of ${RUNS} runs. Then ${RUNS} more naming a fallback subnet (ami-lifecycle:subnets), their own subnet refusing every launch with InsufficientInstanceCapacity (harness proxy): "with a fallback".`,
    header: [
      'step',
      'calls (‖ = in parallel)',
      `ms (run ${launched.length ? launched.indexOf(reference!) + 1 : '—'} of ${launched.length})`,
      'note',
    ],
    rows,
    targets: [
      {
        name: 'sequential AWS calls from the failure event to RunInstances',
        target: `≤ ${TARGET_SEQUENTIAL}`,
        measured: launched.length ? `${median(seq)} (max ${worst} over ${launched.length} runs)` : 'not measured',
        met: launched.length === RUNS && worst <= TARGET_SEQUENTIAL,
        note:
          (failed.length ? `${failed.length} run(s) did not launch: ${failed.join('; ')}. ` : '') +
          `${sameShape === 1 ? 'Every run had the same waves.' : `${sameShape} different wave shapes across runs.`} RunInstances counts as the last sequential call. In-process time: ${launched.length ? median(launched.map((r) => r.inProcessMs)).toFixed(1) : '—'} ms (median) besides ${launched.length ? median(launched.map((r) => r.awsMs)).toFixed(1) : '—'} ms waiting on moto.`,
      },
    ],
  };
}

/** Section 5 of `npm run bench`, measured in a child process (see sectionInChild). */
export function recoveryLatency(): Promise<BenchSection> {
  return sectionInChild(fileURLToPath(import.meta.url));
}

await runSectionScript(import.meta.url, measureRecovery, recoveryLatency);
