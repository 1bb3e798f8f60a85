/**
 * An arbitrary EC2 account for the handler fuzzing: a few instances and images with
 * fuzzed tags, answered through aws-sdk-client-mock the way EC2, EventBridge and
 * CloudWatch would (filters applied, NotFound for what is gone). Everything the
 * handlers publish is recorded, and so is any call the fakes do not expect.
 */
import fc from 'fast-check';
import { mockClient } from 'aws-sdk-client-mock';
import { CloudWatchClient, DeleteAlarmsCommand, DescribeAlarmsCommand, PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import {
  AssociateAddressCommand,
  CreateImageCommand,
  DescribeInstanceStatusCommand,
  RebootInstancesCommand,
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeAddressesCommand,
  DescribeInstanceTypesCommand,
  DescribeSubnetsCommand,
  DescribeVolumesCommand,
  DescribeImageReferencesCommand,
  DescribeImagesCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  EnableImageDeprecationCommand,
  GetConsoleOutputCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type CreateImageCommandInput,
  type CreateTagsCommandInput,
  type DescribeImagesCommandInput,
  type DescribeInstanceAttributeCommandInput,
  type DescribeInstancesCommandInput,
  type DescribeLaunchTemplateVersionsCommandInput,
  type Filter,
  type Image,
  type Instance,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand, type PutEventsCommandInput, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { CreateScheduleCommand, SchedulerClient, UpdateScheduleCommand } from '@aws-sdk/client-scheduler';
import { SSMClient } from '@aws-sdk/client-ssm';
import { AutoScalingClient, DescribeLaunchConfigurationsCommand } from '@aws-sdk/client-auto-scaling';
import { TAG } from '../../../shared/domain/tags.js';
import { retainValue, tagList } from './arbitraries.js';

export const STACK = 'ami-lifecycle-dev';
/** The instance and images the samples in events/ name, so that events meet the world. */
export const SAMPLE_INSTANCE = 'i-0123456789abcdef0';
const INSTANCE_IDS = [SAMPLE_INSTANCE, 'i-0aaaaaaaaaaaaaaaa', 'i-0bbbbbbbbbbbbbbbb', 'i-0cccccccccccccccc'];
const IMAGE_IDS = [
  'ami-0abcdef1234567890',
  'ami-0fedcba9876543210',
  'ami-0111111111111111a',
  'ami-0222222222222222b',
  'ami-0333333333333333c',
];
/** What RunInstances answers. */
export const REPLACEMENT_ID = 'i-0ddddddddddddddd1';

type TagPair = { Key: string; Value: string };

export interface WorldInstance {
  id: string;
  state: string;
  tags: TagPair[];
  instanceType: string | undefined;
  imageId: string | undefined;
  launchTime: Date;
  stateReasonCode: string | undefined;
}

export interface WorldImage {
  id: string;
  name: string;
  state: string;
  creationDate: string;
  tags: TagPair[];
  snapshotIds: string[];
}

export interface World {
  instances: WorldInstance[];
  images: WorldImage[];
  alarms: string[];
  /** Tags of the launch configuration captured for every lineage, if any was. */
  captured?: TagPair[] | undefined;
}

export const EMPTY_WORLD: World = { instances: [], images: [], alarms: [] };

const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const date = fc.date({ min: new Date('2026-01-01T00:00:00Z'), max: new Date('2026-12-31T00:00:00Z'), noInvalidDate: true });

const instanceArb = fc.record({
  id: fc.constantFrom(...INSTANCE_IDS),
  state: fc.constantFrom('pending', 'running', 'stopping', 'stopped', 'shutting-down', 'terminated'),
  tags: tagList({ knownSchedules: ['nightly', 'weekly'], ec2Limits: true }),
  instanceType: opt(fc.constantFrom('t3.micro', 'm5.large')),
  imageId: opt(fc.constantFrom(...IMAGE_IDS)),
  launchTime: date,
  stateReasonCode: opt(fc.constantFrom('Server.InternalError', 'Client.UserInitiatedShutdown', 'Server.Weird', 'garbage', '')),
});

const imageTags = fc
  .record({
    [TAG.managedBy]: opt(fc.constantFrom(STACK, 'someone-else')),
    [TAG.status]: opt(fc.constantFrom('pending', 'good', 'failed', 'bad', 'GOOD', '')),
    [TAG.lineage]: opt(fc.constantFrom(SAMPLE_INSTANCE, 'web', 'i-0aaaaaaaaaaaaaaaa', '', 'not a lineage!')),
    [TAG.retain]: opt(retainValue.map((v) => v.slice(0, 256))),
    [TAG.schedule]: opt(fc.constantFrom('nightly', 'weekly', 'gone')),
    [TAG.slot]: opt(fc.constantFrom('2026-11-26', '2026-W48', 'garbage')),
    [TAG.sourceInstance]: opt(fc.constantFrom(...INSTANCE_IDS)),
  })
  .map((r) => Object.entries(r).flatMap(([Key, Value]) => (Value === undefined ? [] : [{ Key, Value }])));

const imageArb = fc.record({
  id: fc.constantFrom(...IMAGE_IDS),
  name: fc.oneof(fc.constantFrom(`${STACK}/${SAMPLE_INSTANCE}/nightly/2026-11-26`, 'web-image'), fc.string({ maxLength: 20 })),
  state: fc.constantFrom('available', 'pending', 'failed', 'error', 'invalid', 'deregistered', 'transient', 'disabled', 'weird'),
  creationDate: date.map((d) => d.toISOString()),
  tags: imageTags,
  snapshotIds: fc.array(fc.constantFrom('snap-0aaaaaaaaaaaaaaaa', 'snap-0bbbbbbbbbbbbbbbb'), { maxLength: 2 }),
});

const uniqueBy = <T>(items: T[], key: (t: T) => string) => [...new Map(items.map((i) => [key(i), i])).values()];

const alarmsArb = fc.array(
  fc.oneof(
    fc.constantFrom(...INSTANCE_IDS).map((id) => `${STACK}-status-${id}`),
    fc.string({ maxLength: 20 }).map((s) => `${STACK}-status-${s}`),
  ),
  {
    maxLength: 3,
  },
);

/** Anything goes: most instances carry some unreadable tag, most images are not this stack's pending ones. */
const chaoticWorld: fc.Arbitrary<World> = fc.record({
  instances: fc.array(instanceArb, { maxLength: 3 }).map((a) => uniqueBy(a, (i) => i.id)),
  images: fc.array(imageArb, { maxLength: 4 }).map((a) => uniqueBy(a, (i) => i.id)),
  alarms: alarmsArb,
});

/**
 * One lineage as the service leaves it: the sample's instance opted in with readable
 * tags (plus fuzzed extras), its images this stack's. Reaches what chaos rarely does:
 * bake requests, settling, relaunches.
 */
const coherentWorld: fc.Arbitrary<World> = fc
  .record({
    lineage: fc.constantFrom(SAMPLE_INSTANCE, 'web'),
    state: fc.constantFrom('running', 'stopped', 'terminated', 'shutting-down'),
    bake: fc.constantFrom('nightly', 'weekly', 'nightly,weekly', ' nightly , weekly '),
    recover: fc.constantFrom('on-failure', 'always', 'ALWAYS', 'off'),
    reboot: opt(fc.constantFrom('true', 'false')),
    retain: opt(fc.constantFrom('7', '14d', 'daily=7,weekly=4', '1')),
    extra: tagList({ knownSchedules: ['nightly', 'weekly'], ec2Limits: true }).map((tags) =>
      tags.filter((t) => !t.Key.startsWith('ami-lifecycle:') || t.Key.length > 30),
    ),
    instance: instanceArb,
    images: fc.array(
      fc.record({
        id: fc.constantFrom(...IMAGE_IDS),
        status: fc.constantFrom('good', 'good', 'pending', 'pending', 'failed', 'bad'),
        state: fc.constantFrom('available', 'available', 'pending', 'failed'),
        creationDate: date.map((d) => d.toISOString()),
        slot: fc.constantFrom('2026-11-25', '2026-11-26', '2026-W48'),
        schedule: fc.constantFrom('nightly', 'weekly'),
      }),
      { minLength: 1, maxLength: 4 },
    ),
    others: fc.array(instanceArb, { maxLength: 2 }),
    alarms: alarmsArb,
    captured: fc.boolean(),
  })
  .map((r) => {
    const tags: TagPair[] = [
      ...r.extra,
      { Key: TAG.bake, Value: r.bake },
      { Key: TAG.recover, Value: r.recover },
      { Key: TAG.lineage, Value: r.lineage },
      ...(r.reboot ? [{ Key: TAG.reboot, Value: r.reboot }] : []),
      ...(r.retain ? [{ Key: TAG.retain, Value: r.retain }] : []),
    ];
    const own: WorldInstance = { ...r.instance, id: SAMPLE_INSTANCE, state: r.state, tags };
    const images = uniqueBy(r.images, (i) => i.id).map(
      (i): WorldImage => ({
        id: i.id,
        name: `${STACK}/${r.lineage}/${i.schedule}/${i.slot}`,
        state: i.state,
        creationDate: i.creationDate,
        snapshotIds: ['snap-0aaaaaaaaaaaaaaaa'],
        tags: [
          { Key: TAG.managedBy, Value: STACK },
          { Key: TAG.lineage, Value: r.lineage },
          { Key: TAG.status, Value: i.status },
          { Key: TAG.schedule, Value: i.schedule },
          { Key: TAG.slot, Value: i.slot },
          { Key: TAG.sourceInstance, Value: SAMPLE_INSTANCE },
        ],
      }),
    );
    const instances = uniqueBy([own, ...r.others.filter((o) => o.id !== SAMPLE_INSTANCE)], (i) => i.id);
    return { instances, images, alarms: r.alarms, captured: r.captured ? tags : undefined };
  });

export const worldArb: fc.Arbitrary<World> = fc.oneof(chaoticWorld, coherentWorld);

// ---- the fakes ------------------------------------------------------------------------------------------

/** An error as the SDK throws it for an error response. */
export const awsError = (name: string, httpStatusCode = 400) =>
  Object.assign(new Error(`${name}: fuzzed world says no`), { name, $metadata: { httpStatusCode }, $fault: 'client' as const });

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The query protocols (EC2, CloudWatch) url-encode every string: a lone surrogate makes the SDK throw URIError before sending. */
function assertEncodable(input: unknown): void {
  const walk = (v: unknown): void => {
    if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v)) throw new URIError('URI malformed');
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object' && !(v instanceof Date)) Object.values(v).forEach(walk);
  };
  walk(input);
}

const tagOf = (tags: TagPair[], key: string) => tags.filter((t) => t.Key === key).at(-1)?.Value;

function matches(tags: TagPair[], filters: Filter[] | undefined, fields: Record<string, string | undefined>): boolean {
  return (filters ?? []).every((f) => {
    const values = f.Values ?? [];
    if (f.Name === 'tag-key') return tags.some((t) => values.includes(t.Key));
    if (f.Name?.startsWith('tag:')) {
      const v = tagOf(tags, f.Name.slice(4));
      return v !== undefined && values.includes(v);
    }
    const field = fields[f.Name ?? ''];
    return field !== undefined && values.includes(field);
  });
}

function toInstance(i: WorldInstance): Instance {
  return {
    InstanceId: i.id,
    State: { Name: i.state as never },
    Tags: i.tags,
    InstanceType: i.instanceType as never,
    ImageId: i.imageId,
    LaunchTime: i.launchTime,
    ...(i.stateReasonCode !== undefined ? { StateReason: { Code: i.stateReasonCode } } : {}),
  };
}

function toImage(i: WorldImage): Image {
  // EC2 records the instance an image was made from by CreateImage: the one its tag names.
  const source = i.tags.find((t) => t.Key === TAG.sourceInstance)?.Value;
  return {
    ...(source ? { SourceInstanceId: source } : {}),
    ImageId: i.id,
    Name: i.name,
    State: i.state as never,
    CreationDate: i.creationDate,
    Tags: i.tags,
    BlockDeviceMappings: i.snapshotIds.map((SnapshotId, n) => ({ DeviceName: `/dev/sd${'abcdef'[n]}`, Ebs: { SnapshotId } })),
  };
}

export interface Recorder {
  world: World;
  published: PutEventsRequestEntry[];
  unexpected: string[];
}

/**
 * Answers every AWS call the handlers make from `recorder.world`; set the world
 * before each invocation. Mocks the clients' prototypes, so the handlers' clients,
 * created at import, are answered too.
 */
export function answerFromWorld(recorder: Recorder) {
  const ec2 = mockClient(EC2Client);
  const bus = mockClient(EventBridgeClient);
  const cw = mockClient(CloudWatchClient);
  const scheduler = mockClient(SchedulerClient);
  // Promotion's: the fuzz world has no promotion target, so any call to them is unexpected.
  const ssm = mockClient(SSMClient);
  const autoscaling = mockClient(AutoScalingClient);
  const w = () => recorder.world;
  const instance = (id: string | undefined) => w().instances.find((i) => i.id === id);
  const image = (id: string | undefined) => w().images.find((i) => i.id === id);
  /** Fakes check, like the SDK, that the request can be encoded at all. */
  const fake =
    <I, O>(fn: (input: I) => O) =>
    (input: I) => {
      assertEncodable(input);
      return fn(input);
    };

  for (const [name, mock] of [
    ['EC2', ec2],
    ['EventBridge', bus],
    ['CloudWatch', cw],
    ['Scheduler', scheduler],
    ['SSM', ssm],
    ['AutoScaling', autoscaling],
  ] as const) {
    (mock as ReturnType<typeof mockClient>).onAnyCommand().callsFake((input: unknown) => {
      recorder.unexpected.push(`${name}: ${JSON.stringify(input).slice(0, 200)}`);
      throw awsError('UnexpectedCallInFuzzWorld');
    });
  }

  // Rotation reads the launch configurations (issue 19): the fuzz world has none.
  autoscaling.on(DescribeLaunchConfigurationsCommand).resolves({ LaunchConfigurations: [] });

  ec2.on(DescribeInstancesCommand).callsFake(
    fake((input: DescribeInstancesCommandInput) => {
      if (input.InstanceIds) {
        const id = input.InstanceIds[0];
        if (id === REPLACEMENT_ID) return { Reservations: [{ Instances: [{ InstanceId: id, State: { Name: 'running' } }] }] };
        const found = instance(id);
        if (!found) throw awsError('InvalidInstanceID.NotFound');
        return { Reservations: [{ Instances: [toInstance(found)] }] };
      }
      const hits = w().instances.filter((i) => matches(i.tags, input.Filters, { 'instance-state-name': i.state }));
      return { Reservations: hits.length > 0 ? [{ Instances: hits.map(toInstance) }] : [] };
    }),
  );
  ec2.on(DescribeImagesCommand).callsFake(
    fake((input: DescribeImagesCommandInput) => {
      if (input.ImageIds) {
        const found = input.ImageIds.map(image);
        if (found.some((i) => i === undefined)) throw awsError('InvalidAMIID.NotFound');
        return { Images: (found as WorldImage[]).map(toImage) };
      }
      return {
        Images: w()
          .images.filter((i) => matches(i.tags, input.Filters, { name: i.name }))
          .map(toImage),
      };
    }),
  );
  ec2.on(DescribeSnapshotsCommand).callsFake(fake(() => ({ Snapshots: [] })));
  // The world's instances show no volumes: none is excluded.
  ec2.on(DescribeVolumesCommand).callsFake(fake(() => ({ Volumes: [] })));
  ec2.on(DescribeLaunchTemplateVersionsCommand).callsFake(
    fake((input: DescribeLaunchTemplateVersionsCommandInput) => {
      const captured = w().captured;
      if (!input.LaunchTemplateName) return { LaunchTemplateVersions: [] };
      if (!captured) throw awsError('InvalidLaunchTemplateName.NotFoundException');
      return {
        LaunchTemplateVersions: [
          {
            LaunchTemplateName: input.LaunchTemplateName,
            VersionNumber: 1,
            LaunchTemplateData: {
              InstanceType: 't3.micro' as never,
              NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: 'subnet-0aaaaaaaaaaaaaaaa', Groups: ['sg-0aaaaaaaaaaaaaaaa'] }],
              TagSpecifications: [{ ResourceType: 'instance' as never, Tags: captured }],
            },
          },
        ],
      };
    }),
  );
  ec2.on(DescribeImageReferencesCommand).callsFake(fake(() => ({ ImageReferences: [] })));
  ec2.on(DescribeInstanceAttributeCommand).callsFake(
    fake((input: DescribeInstanceAttributeCommandInput) => {
      if (!instance(input.InstanceId)) throw awsError('InvalidInstanceID.NotFound');
      return { UserData: { Value: 'IyEvYmluL3NoCg==' } };
    }),
  );
  ec2.on(DescribeAddressesCommand).callsFake(fake(() => ({ Addresses: [] })));
  // Recovery's issue-14 reads: no following volumes, no fallback subnets or types known.
  ec2.on(DescribeSubnetsCommand).callsFake(fake(() => ({ Subnets: [] })));
  ec2.on(DescribeInstanceTypesCommand).callsFake(fake(() => ({ InstanceTypes: [] })));
  ec2.on(CreateImageCommand).callsFake(
    fake((input: CreateImageCommandInput) => {
      if (w().images.some((i) => i.name === input.Name)) throw awsError('InvalidAMIName.Duplicate');
      if (!instance(input.InstanceId)) throw awsError('InvalidInstanceID.NotFound');
      return { ImageId: 'ami-0999999999999999f' };
    }),
  );
  ec2.on(CreateTagsCommand).callsFake(
    fake((input: CreateTagsCommandInput) => {
      for (const id of input.Resources ?? []) {
        if (id.startsWith('i-') && id !== REPLACEMENT_ID && !instance(id)) throw awsError('InvalidInstanceID.NotFound');
        if (id.startsWith('ami-') && id !== 'ami-0999999999999999f' && !image(id)) throw awsError('InvalidAMIID.NotFound');
      }
      return {};
    }),
  );
  ec2.on(CreateLaunchTemplateCommand).callsFake(fake(() => ({ LaunchTemplate: { LatestVersionNumber: 1 } })));
  ec2.on(CreateLaunchTemplateVersionCommand).callsFake(fake(() => ({ LaunchTemplateVersion: { VersionNumber: 2 } })));
  ec2.on(RunInstancesCommand).callsFake(fake(() => ({ Instances: [{ InstanceId: REPLACEMENT_ID }] })));
  ec2.on(GetConsoleOutputCommand).callsFake(fake(() => ({ Output: Buffer.from('boot\n').toString('base64') })));
  for (const command of [
    DeregisterImageCommand,
    DeleteSnapshotCommand,
    EnableImageDeprecationCommand,
    TerminateInstancesCommand,
    AssociateAddressCommand,
    RebootInstancesCommand,
  ]) {
    ec2.on(command as never).callsFake(fake(() => ({})));
  }
  // A running instance of the world: both checks as the fuzzed state says (impaired unless running).
  ec2.on(DescribeInstanceStatusCommand).callsFake(
    fake((input: { InstanceIds?: string[] }) => ({
      InstanceStatuses: (input.InstanceIds ?? []).flatMap((id) => {
        const i = instance(id);
        return i && i.state === 'running'
          ? [{ InstanceId: id, InstanceStatus: { Status: 'impaired' }, SystemStatus: { Status: 'ok' } }]
          : [];
      }),
    })),
  );
  // Recheck schedules: the first of a name is created, the rest meet ConflictException and update it.
  const schedules = new Set<string>();
  scheduler.on(CreateScheduleCommand).callsFake(
    fake((input: { Name?: string }) => {
      if (schedules.has(input.Name ?? '')) throw awsError('ConflictException');
      schedules.add(input.Name ?? '');
      return { ScheduleArn: `arn:aws:scheduler:us-east-1:123456789012:schedule/default/${input.Name}` };
    }),
  );
  scheduler
    .on(UpdateScheduleCommand)
    .callsFake(
      fake((input: { Name?: string }) => ({ ScheduleArn: `arn:aws:scheduler:us-east-1:123456789012:schedule/default/${input.Name}` })),
    );

  bus.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => {
    const entries = input.Entries ?? [];
    recorder.published.push(...entries);
    return { FailedEntryCount: 0, Entries: entries.map((_, i) => ({ EventId: `event-${recorder.published.length}-${i}` })) };
  });

  cw.on(DescribeAlarmsCommand).callsFake(fake(() => ({ MetricAlarms: w().alarms.map((AlarmName) => ({ AlarmName })) })));
  cw.on(PutMetricAlarmCommand).callsFake(fake(() => ({})));
  cw.on(DeleteAlarmsCommand).callsFake(fake(() => ({})));

  return {
    restore: () => {
      for (const m of [ec2, bus, cw, scheduler, ssm, autoscaling]) m.restore();
    },
  };
}
