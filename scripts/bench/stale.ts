/**
 * Section 7 of `npm run bench`: `stale` on a large account (issue 19: "`stale` on 10,000 images
 * stays within a fixed number of describe calls per 1,000 images"). The use case the CLI runs
 * (findStaleImages, then adoptImages) through the real gateways (Ec2Gateway, AutoScalingGateway,
 * SsmGateway, with their own page sizes and paginators), whose SDK clients answer from an account
 * held in memory (aws-sdk-client-mock): each call is counted, paged by MaxResults and NextToken as
 * EC2, Auto Scaling and SSM page. moto is not used: creating 10,000 images there takes longer than
 * the whole bench may, and the figure wanted is a count of calls, not a time.
 *
 * The account, for N images (one snapshot each): a quarter the stack's own, a quarter made a day
 * ago, a quarter run by an instance, a quarter old and unused (the candidates); per 100 images a
 * launch template, a launch configuration with its group, and a String parameter, each naming one
 * of the stack's images. The filters: older than 90 days, no name (every image is looked at).
 */
import { AutoScalingClient, DescribeAutoScalingGroupsCommand, DescribeLaunchConfigurationsCommand } from '@aws-sdk/client-auto-scaling';
import {
  CreateTagsCommand,
  DescribeImageAttributeCommand,
  DescribeImageReferencesCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  type Image,
} from '@aws-sdk/client-ec2';
import { DescribeParametersCommand, GetParametersCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { fileURLToPath } from 'node:url';
import { AutoScalingGateway } from '../../shared/aws/autoscaling-gateway.js';
import { Ec2Gateway } from '../../shared/aws/ec2-gateway.js';
import { SsmGateway } from '../../shared/aws/ssm-gateway.js';
import { TAG } from '../../shared/domain/tags.js';
import type { Log } from '../../shared/use-cases/ports.js';
import { adoptImages, adoptionPlan, findStaleImages, type StaleDeps } from '../../shared/use-cases/stale-images.js';
import { runSectionScript, sectionInChild, type BenchSection, type TargetCheck } from './section.js';

const STACK = 'ami-lifecycle-bench';
const SIZES = [1_000, 10_000, 100_000];
const NOW = new Date('2026-11-26T06:00:00Z');
const DAY = 86_400_000;
const OLD = new Date(NOW.getTime() - 200 * DAY);
/** The actions `stale` sends, in the table's order; CreateTags is adopt's. */
const ACTIONS = [
  'DescribeImages',
  'DescribeSnapshots',
  'DescribeInstances',
  'DescribeLaunchTemplateVersions',
  'DescribeLaunchConfigurations',
  'DescribeAutoScalingGroups',
  'DescribeParameters',
  'GetParameters',
  'DescribeImageReferences',
  'DescribeImageAttribute',
] as const;

interface Measured {
  images: number;
  candidates: number;
  /** Images the filters match (DescribeImageReferences asks about those). */
  matching: number;
  calls: Record<string, number>;
  ms: number;
}

const hex = (n: number, width = 17) => n.toString(16).padStart(width, '0');
const imageId = (n: number) => `ami-${hex(n)}`;

/** One page of `items` as the service pages: MaxResults from the request, NextToken an offset. */
function page<T>(items: readonly T[], input: { MaxResults?: number | undefined; NextToken?: string | undefined }, fallback: number) {
  const from = Number(input.NextToken ?? 0);
  const size = input.MaxResults ?? fallback;
  const to = Math.min(items.length, from + size);
  return { slice: items.slice(from, to), next: to < items.length ? String(to) : undefined };
}

async function measure(images: number): Promise<Measured> {
  const calls: Record<string, number> = {};
  const count = (action: string) => (calls[action] = (calls[action] ?? 0) + 1);
  const kind = (n: number) => n % 4; // 0 the stack's, 1 recent, 2 run by an instance, 3 old and unused
  const all: Image[] = Array.from({ length: images }, (_, n) => ({
    ImageId: imageId(n),
    Name: kind(n) === 0 ? `${STACK}/i-${hex(n)}/nightly/2026-11-25` : `packer-web-${n}`,
    State: 'available',
    CreationDate: (kind(n) === 1 ? new Date(NOW.getTime() - DAY) : OLD).toISOString(),
    Public: false,
    Tags: kind(n) === 0 ? [{ Key: TAG.managedBy, Value: STACK }] : [],
    BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: `snap-${hex(n)}`, VolumeSize: 8 } }],
  }));
  const instances = all
    .filter((_, n) => kind(n) === 2)
    .map((i, n) => ({ InstanceId: `i-${hex(n)}`, ImageId: i.ImageId, State: { Name: 'running' as const }, Tags: [] }));
  const ours = all.filter((_, n) => kind(n) === 0);
  const hundredth = Math.max(1, Math.floor(images / 100));
  const named = (k: number) => ours[k % ours.length]!.ImageId!;

  const ec2 = new EC2Client({ region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  const asg = new AutoScalingClient({ region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  const ssm = new SSMClient({ region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  const ec2Mock = mockClient(ec2);
  const asgMock = mockClient(asg);
  const ssmMock = mockClient(ssm);
  ec2Mock.on(DescribeImagesCommand).callsFake((input) => {
    count('DescribeImages');
    const { slice, next } = page(all, input, 1000);
    return { Images: slice, NextToken: next };
  });
  ec2Mock.on(DescribeSnapshotsCommand).callsFake((input) => {
    count('DescribeSnapshots');
    const { slice, next } = page(all, input, 1000);
    return {
      Snapshots: slice.map((i) => ({ SnapshotId: i.BlockDeviceMappings![0]!.Ebs!.SnapshotId, VolumeSize: 8, StartTime: OLD })),
      NextToken: next,
    };
  });
  ec2Mock.on(DescribeInstancesCommand).callsFake((input) => {
    count('DescribeInstances');
    const { slice, next } = page(instances, input, 1000);
    return { Reservations: [{ Instances: slice }], NextToken: next };
  });
  const versions = Array.from({ length: hundredth }, (_, k) => ({
    LaunchTemplateId: `lt-${hex(k)}`,
    VersionNumber: 1,
    DefaultVersion: true,
    LaunchTemplateData: { ImageId: named(k) },
  }));
  ec2Mock.on(DescribeLaunchTemplateVersionsCommand).callsFake((input) => {
    count('DescribeLaunchTemplateVersions');
    const { slice, next } = page(versions, input, 200);
    return { LaunchTemplateVersions: slice, NextToken: next };
  });
  ec2Mock.on(DescribeImageReferencesCommand).callsFake(() => {
    count('DescribeImageReferences');
    return { ImageReferences: [] };
  });
  ec2Mock.on(DescribeImageAttributeCommand).callsFake((input) => {
    count('DescribeImageAttribute');
    return { ImageId: input.ImageId, LaunchPermissions: [] };
  });
  ec2Mock.on(CreateTagsCommand).callsFake(() => {
    count('CreateTags');
    return {};
  });
  const configurations = Array.from({ length: hundredth }, (_, k) => ({
    LaunchConfigurationName: `lc-${k}`,
    ImageId: named(k + 1),
    InstanceType: 't3.micro',
    CreatedTime: OLD,
  }));
  asgMock.on(DescribeLaunchConfigurationsCommand).callsFake((input) => {
    count('DescribeLaunchConfigurations');
    const { slice, next } = page(configurations, { MaxResults: input.MaxRecords, NextToken: input.NextToken }, 50);
    return { LaunchConfigurations: slice, NextToken: next };
  });
  const groups = configurations.map((c, k) => ({ AutoScalingGroupName: `asg-${k}`, LaunchConfigurationName: c.LaunchConfigurationName }));
  asgMock.on(DescribeAutoScalingGroupsCommand).callsFake((input) => {
    count('DescribeAutoScalingGroups');
    const { slice, next } = page(groups, { MaxResults: input.MaxRecords, NextToken: input.NextToken }, 50);
    return { AutoScalingGroups: slice, NextToken: next };
  });
  const parameters = Array.from({ length: hundredth }, (_, k) => ({ Name: `/app/${k}/ami`, Type: 'String', DataType: 'text' }));
  ssmMock.on(DescribeParametersCommand).callsFake((input) => {
    count('DescribeParameters');
    const { slice, next } = page(parameters, input, 10);
    return { Parameters: slice, NextToken: next };
  });
  ssmMock.on(GetParametersCommand).callsFake((input) => {
    count('GetParameters');
    return {
      Parameters: (input.Names ?? []).map((name: string) => ({
        Name: name,
        Type: 'String',
        DataType: 'text',
        Value: named(Number(name.split('/')[2]) + 2),
      })),
    };
  });

  const quiet = () => undefined;
  const log: Log = { debug: quiet, info: quiet, warn: quiet, error: quiet } as unknown as Log;
  const deps: StaleDeps = {
    managedBy: STACK,
    log,
    now: () => NOW,
    ec2: new Ec2Gateway(ec2),
    groups: new AutoScalingGateway(asg),
    parameters: new SsmGateway(ssm),
  };
  const started = performance.now();
  const run = await findStaleImages({ filters: { olderThanDays: 90, tags: {}, includeShared: false }, pricePerGbMonth: 0.05 }, deps);
  await adoptImages(adoptionPlan(run, {}, deps), false, deps);
  const ms = performance.now() - started;
  for (const m of [ec2Mock, asgMock, ssmMock]) m.restore();
  return {
    images,
    candidates: run.report.candidates,
    matching: run.report.entries.filter((e) => e.matches).length,
    calls,
    ms,
  };
}

const describeCalls = (m: Measured) => ACTIONS.reduce((sum, a) => sum + (m.calls[a] ?? 0), 0);
const perThousand = (m: Measured, n: number) => (n * 1000) / m.images;

async function measureStale(): Promise<BenchSection> {
  const results: Measured[] = [];
  for (const images of SIZES) {
    process.stderr.write(`  stale on ${images.toLocaleString('en-US')} images\n`);
    results.push(await measure(images));
  }
  const header = ['action', ...results.flatMap((m) => [`N=${m.images.toLocaleString('en-US')}`, 'per 1,000'])];
  const row = (label: string, value: (m: Measured) => number) => [
    label,
    ...results.flatMap((m) => [String(value(m)), perThousand(m, value(m)).toFixed(1)]),
  ];
  const rows = [
    ...ACTIONS.map((a) => row(a, (m) => m.calls[a] ?? 0)),
    row('all describe calls of stale', describeCalls),
    row('CreateTags (adopt: one per candidate, image and snapshot together)', (m) => m.calls.CreateTags ?? 0),
    row('candidates', (m) => m.candidates),
  ];
  const first = results[0]!;
  const largest = results.at(-1)!;
  const ten = results.find((m) => m.images === 10_000) ?? largest;
  const growth = perThousand(ten, describeCalls(ten)) / perThousand(first, describeCalls(first));
  const growthLargest = perThousand(largest, describeCalls(largest)) / perThousand(first, describeCalls(first));
  const exact = results.every(
    (m) => m.calls.DescribeImageReferences === Math.ceil(m.matching / 10) && m.calls.DescribeImageAttribute === m.candidates,
  );
  const targets: TargetCheck[] = [
    {
      name: `describe calls per 1,000 images at N=10,000 / at N=${first.images.toLocaleString('en-US')}`,
      target: 'do not grow with the account (≤ 1.00×)',
      measured: `${growth.toFixed(2)}× (${perThousand(ten, describeCalls(ten)).toFixed(1)} / ${perThousand(first, describeCalls(first)).toFixed(1)}); N=${largest.images.toLocaleString('en-US')}: ${growthLargest.toFixed(2)}×`,
      met: growth <= 1 && growthLargest <= 1,
      note: 'per 1,000 images: a page each of images, snapshots and instances, one DescribeImageReferences per 10 matching images, one DescribeImageAttribute per would-be candidate (EC2 has no batch read of launch permissions)',
    },
    {
      name: 'per-image reads',
      target: 'DescribeImageReferences = ⌈matching / 10⌉, DescribeImageAttribute = candidates, at every N',
      measured: results
        .map((m) => `${m.calls.DescribeImageReferences}/${Math.ceil(m.matching / 10)}, ${m.calls.DescribeImageAttribute}/${m.candidates}`)
        .join('; '),
      met: exact,
    },
  ];
  return {
    title: '7. Stale images (`stale` on a large account)',
    method:
      'The `stale` use case the CLI runs (findStaleImages, then adopt of its candidates) through the real EC2, Auto Scaling and SSM gateways, whose clients answer from an account in memory (aws-sdk-client-mock), paged by MaxResults and NextToken; every call counted. ' +
      "N images, one snapshot each: a quarter the stack's, a quarter a day old, a quarter run by an instance, a quarter old and unused; per 100 images a launch template, a launch configuration with its group and a String parameter naming one of the stack's images. Filters: older than 90 days. " +
      `Wall time (mocked calls, orientation only): ${results.map((m) => `N=${m.images.toLocaleString('en-US')} ${(m.ms / 1000).toFixed(1)} s`).join(', ')}.`,
    header,
    rows,
    targets,
  };
}

/** Section 7 of `npm run bench`, measured in a child process (see sectionInChild). */
export function staleImages(): Promise<BenchSection> {
  return sectionInChild(fileURLToPath(import.meta.url));
}

await runSectionScript(import.meta.url, measureStale, staleImages);
