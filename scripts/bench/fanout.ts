/**
 * `npm run bench:fanout`: one scheduled run over a large fleet, through the real
 * use case and gateways with the SDK clients stubbed at the transport
 * (aws-sdk-client-mock) and a fixed PutEvents latency. Prints wall time, AWS
 * calls and peak memory: the figures behind "10,000 instances well inside
 * Lambda's limits". A benchmark, not a test: it asserts nothing.
 * Stand-alone, not a section of `npm run bench` (scripts/bench.ts): section 2 counts
 * the calls of a scheduled run over 1,000 instances against moto and section 3 times
 * the bakes that follow; this is the scheduled run alone at 10,000, for its time and memory.
 *
 *   npm run bench:fanout -- --instances 10000 --latency 40
 */
import { Command } from 'commander';
import { mockClient } from 'aws-sdk-client-mock';
import { DescribeImagesCommand, DescribeInstancesCommand, DescribeVolumesCommand, EC2Client, type Reservation } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand, type PutEventsCommandInput } from '@aws-sdk/client-eventbridge';
import { Ec2Gateway } from '../../shared/aws/ec2-gateway.js';
import { EventBusPublisher } from '../../shared/aws/event-bus.js';
import { noMetrics } from '../../shared/use-cases/ports.js';
import { runSchedule } from '../../shared/use-cases/run-schedule.js';
import { loadConfig } from '../../shared/runtime/config.js';

const opts = new Command('bench-fanout')
  .option('--instances <n>', 'opted-in instances', (v) => Number(v), 10_000)
  .option('--latency <ms>', 'simulated milliseconds per PutEvents and DescribeInstances call', (v) => Number(v), 40)
  .parse()
  .opts<{ instances: number; latency: number }>();

const PAGE = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hex = (n: number) => n.toString(16).padStart(17, '0');

const ec2 = mockClient(EC2Client);
const eb = mockClient(EventBridgeClient);
const calls = { DescribeInstances: 0, DescribeVolumes: 0, DescribeImages: 0, PutEvents: 0 };
let inFlight = 0;
let maxInFlight = 0;

ec2.on(DescribeImagesCommand).callsFake(async () => {
  calls.DescribeImages++;
  return { Images: [] };
});
// The run's one read of the exclude tags: no volume of this fleet is excluded.
ec2.on(DescribeVolumesCommand).callsFake(async () => {
  calls.DescribeVolumes++;
  await sleep(opts.latency);
  return { Volumes: [] };
});
ec2.on(DescribeInstancesCommand).callsFake(async (input: { NextToken?: string }) => {
  calls.DescribeInstances++;
  await sleep(opts.latency);
  const start = Number(input.NextToken ?? 0);
  const end = Math.min(start + PAGE, opts.instances);
  const Reservations: Reservation[] = [];
  for (let i = start; i < end; i++) {
    Reservations.push({
      Instances: [
        {
          InstanceId: `i-${hex(i)}`,
          State: { Name: 'running' },
          Tags: [
            { Key: 'Name', Value: `web-${i}` },
            { Key: 'ami-lifecycle:bake', Value: i % 10 === 0 ? 'weekly' : 'nightly,weekly' },
            { Key: 'ami-lifecycle:retain', Value: 'daily=7,weekly=4' },
          ],
        },
      ],
    });
  }
  return { Reservations, NextToken: end < opts.instances ? String(end) : undefined };
});
eb.on(PutEventsCommand).callsFake(async (input: PutEventsCommandInput) => {
  calls.PutEvents++;
  inFlight++;
  maxInFlight = Math.max(maxInFlight, inFlight);
  await sleep(opts.latency);
  inFlight--;
  return { FailedEntryCount: 0, Entries: (input.Entries ?? []).map((_, i) => ({ EventId: String(i) })) };
});

const silent = { debug() {}, info() {}, warn() {}, error() {} };
global.gc?.();
const heapBefore = process.memoryUsage().heapUsed;
const rssBefore = process.memoryUsage().rss;
let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 5);

const started = performance.now();
const report = await runSchedule(
  { schedule: 'nightly', period: 'day', timeZone: 'Europe/Paris', scheduledTime: '2026-11-26T02:00:00Z' },
  {
    managedBy: 'ami-lifecycle-bench',
    schedules: ['nightly', 'weekly'],
    ...(({ rotation, recovery }) => ({ rotation, recovery }))(
      loadConfig({ MANAGED_BY: 'ami-lifecycle-bench', EVENT_BUS_NAME: 'bench-bus', SCHEDULES: 'nightly,weekly' }),
    ),
    ec2: new Ec2Gateway(new EC2Client({ region: 'us-east-1' })),
    events: new EventBusPublisher(new EventBridgeClient({ region: 'us-east-1' }), 'bench-bus'),
    log: silent as never,
    metrics: noMetrics,
    now: () => new Date('2026-11-26T02:00:01Z'),
  },
);
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);
const heapAfter = process.memoryUsage().heapUsed;

const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
console.log(`instances listed        ${report.instancesSeen}`);
console.log(`bake requests published ${report.bakeRequested} (skipped ${JSON.stringify(report.skipped)})`);
console.log(`AWS calls               ${JSON.stringify(calls)}  (PutEvents in flight at most ${maxInFlight})`);
console.log(`simulated latency       ${opts.latency} ms per DescribeInstances / PutEvents call`);
console.log(`wall time               ${seconds.toFixed(2)} s   (Lambda limit 900 s; the function's timeout is 300 s)`);
console.log(
  `serial lower bound      ${(((calls.DescribeInstances + calls.PutEvents / maxInFlight) * opts.latency) / 1000).toFixed(2)} s   (pages + PutEvents / concurrency, at that latency)`,
);
console.log(
  `peak RSS                ${mb(peakRss)} MB, ${mb(rssBefore)} MB before the run (function memory 512 MB); heap growth ${mb(heapAfter - heapBefore)} MB`,
);
