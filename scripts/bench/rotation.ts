/**
 * `npm run bench:rotation`: one rotation over a large account, through the real
 * use case and EC2 gateway with the SDK stubbed at the transport
 * (aws-sdk-client-mock) and a fixed latency per call. Prints wall time, EC2 calls
 * by action and peak memory: the figures behind "50,000 managed images in one
 * invocation". A benchmark, not a test: it asserts nothing.
 * Stand-alone, not a section of `npm run bench` (scripts/bench.ts): section 4 times
 * the pure planner (planRotation); this is the whole use case, with its paging and
 * deletions through the gateway, at 50,000 images.
 *
 *   npm run bench:rotation -- --images 50000 --per-lineage 10 --latency 20
 */
import { Command } from 'commander';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImageReferencesCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  type Image,
  type Snapshot,
} from '@aws-sdk/client-ec2';
import { Ec2Gateway } from '../../shared/aws/ec2-gateway.js';
import { loadConfig } from '../../shared/runtime/config.js';
import { noMetrics } from '../../shared/use-cases/ports.js';
import { rotateImages } from '../../shared/use-cases/rotate-images.js';

const opts = new Command('bench-rotation')
  .option('--images <n>', 'managed images', (v) => Number(v), 50_000)
  .option('--per-lineage <n>', 'images per lineage (retention keeps 7)', (v) => Number(v), 10)
  .option('--latency <ms>', 'simulated milliseconds per EC2 call', (v) => Number(v), 20)
  .parse()
  .opts<{ images: number; perLineage: number; latency: number }>();

const STACK = 'ami-lifecycle-bench';
const PAGE = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hex = (n: number) => n.toString(16).padStart(17, '0');
const now = new Date('2026-11-26T06:00:00Z');

// The account: `perLineage` nightly images per lineage, one snapshot each, one instance per lineage.
const lineages = Math.ceil(opts.images / opts.perLineage);
const image = (i: number): Image => {
  const lineage = Math.floor(i / opts.perLineage);
  const night = i % opts.perLineage;
  return {
    ImageId: `ami-${hex(i)}`,
    Name: `${STACK}/i-${hex(lineage)}/nightly/${night}`,
    State: 'available',
    CreationDate: new Date(now.getTime() - (opts.perLineage - night) * 86_400_000).toISOString(),
    BlockDeviceMappings: [{ Ebs: { SnapshotId: `snap-${hex(i)}` } }],
    Tags: [
      { Key: 'ami-lifecycle:managed-by', Value: STACK },
      { Key: 'ami-lifecycle:lineage', Value: `i-${hex(lineage)}` },
      { Key: 'ami-lifecycle:schedule', Value: 'nightly' },
      { Key: 'ami-lifecycle:status', Value: 'good' },
    ],
  };
};
const snapshot = (i: number): Snapshot => ({
  SnapshotId: `snap-${hex(i)}`,
  VolumeSize: 8,
  StartTime: new Date(now.getTime() - 30 * 86_400_000),
  Tags: [{ Key: 'ami-lifecycle:managed-by', Value: STACK }],
});
const page = <T>(total: number, token: string | undefined, make: (i: number) => T) => {
  const start = Number(token ?? 0);
  const end = Math.min(start + PAGE, total);
  return { items: Array.from({ length: end - start }, (_, k) => make(start + k)), next: end < total ? String(end) : undefined };
};

const ec2 = mockClient(EC2Client);
const calls: Record<string, number> = {};
const count = (action: string) => (calls[action] = (calls[action] ?? 0) + 1);
const deleted = new Set<string>();
ec2.on(DescribeImagesCommand).callsFake(async (input: { NextToken?: string }) => {
  count('DescribeImages');
  await sleep(opts.latency);
  const p = page(opts.images, input.NextToken, image);
  return { Images: p.items, NextToken: p.next };
});
ec2.on(DescribeSnapshotsCommand).callsFake(async (input: { NextToken?: string }) => {
  count('DescribeSnapshots');
  await sleep(opts.latency);
  const p = page(opts.images, input.NextToken, snapshot);
  return { Snapshots: p.items.filter((s) => !deleted.has(s.SnapshotId!)), NextToken: p.next };
});
ec2.on(DescribeInstancesCommand).callsFake(async (input: { NextToken?: string }) => {
  count('DescribeInstances');
  await sleep(opts.latency);
  const p = page(lineages, input.NextToken, (l) => ({
    Instances: [
      {
        InstanceId: `i-${hex(l)}`,
        ImageId: `ami-${hex(l * opts.perLineage)}`, // launched from its lineage's oldest image: in use
        State: { Name: 'running' as const },
        Tags: [
          { Key: 'ami-lifecycle:bake', Value: 'nightly' },
          { Key: 'ami-lifecycle:lineage', Value: `i-${hex(l)}` },
          { Key: 'ami-lifecycle:retain', Value: '7' },
        ],
      },
    ],
  }));
  return { Reservations: p.items, NextToken: p.next };
});
ec2.on(DescribeLaunchTemplateVersionsCommand).callsFake(async () => {
  count('DescribeLaunchTemplateVersions');
  return { LaunchTemplateVersions: [] };
});
ec2.on(DescribeImageReferencesCommand).callsFake(async () => {
  count('DescribeImageReferences');
  await sleep(opts.latency);
  return { ImageReferences: [] };
});
ec2.on(DeregisterImageCommand).callsFake(async (input: { ImageId: string }) => {
  count('DeregisterImage');
  await sleep(opts.latency);
  deleted.add(input.ImageId.replace('ami-', 'snap-')); // DeleteAssociatedSnapshots
  return { Return: true };
});
ec2.on(DeleteSnapshotCommand).callsFake(async () => {
  count('DeleteSnapshot');
  return {};
});

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const config = loadConfig({ MANAGED_BY: STACK, EVENT_BUS_NAME: 'bench', SCHEDULES: 'nightly' });
const rssBefore = process.memoryUsage().rss;
let peakRss = rssBefore;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 5);
const started = performance.now();
const report = await rotateImages(
  {},
  {
    managedBy: STACK,
    rotation: config.rotation,
    ec2: new Ec2Gateway(new EC2Client({ region: 'us-east-1' })),
    // The bench's account has no launch configurations: one empty page, as DescribeLaunchConfigurations answers.
    launchConfigurations: {
      async *listLaunchConfigurationImages() {
        count('DescribeLaunchConfigurations');
        yield [];
      },
    },
    events: { publish: async (events) => ({ published: events.length, failed: [] }) },
    log: silent as never,
    metrics: noMetrics,
    now: () => now,
  },
);
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);

const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
const reads =
  (calls.DescribeImages ?? 0) +
  (calls.DescribeSnapshots ?? 0) +
  (calls.DescribeInstances ?? 0) +
  (calls.DescribeLaunchTemplateVersions ?? 0) +
  (calls.DescribeImageReferences ?? 0);
console.log(`images seen             ${report.imagesSeen} in ${report.lineages} lineages`);
console.log(
  `planned                 keep ${report.planned.keep}, delete ${report.planned.delete}; done: deleted ${report.done.deleted}, snapshots ${report.done.snapshotsDeleted}, ${(report.done.bytesFreed / 2 ** 30).toFixed(0)} GiB freed, failures ${report.failures.length}`,
);
console.log(`EC2 calls               ${JSON.stringify(calls)}`);
console.log(
  `calls per deleted image ${((calls.DeregisterImage ?? 0) / Math.max(1, report.done.deleted)).toFixed(2)} (target 1); reads ${reads} for ${opts.images} images (${(reads / (opts.images / 1000)).toFixed(1)} per 1,000)`,
);
console.log(`wall time               ${seconds.toFixed(1)} s at ${opts.latency} ms per call (function timeout 900 s)`);
console.log(`peak RSS                ${mb(peakRss)} MB, ${mb(rssBefore)} MB before the run (function memory 1024 MB)`);
