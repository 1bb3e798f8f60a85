/**
 * The harness's IAM evaluation catches what a role in the template gets wrong: each test
 * plants one defect in the packaged template (a permission removed, a tag condition that
 * no longer matches, a dependent permission missing), runs the service as usual, and
 * asserts the refusal AWS would give (its code, status and message) and the denial record.
 * Calls made outside an invocation (the test's own) are not evaluated.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CreateImageCommand,
  CreateTagsCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { CloudWatchClient, PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import { AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import type { Template } from '../infra/template-rules.js';
import { tagRecord } from '../../shared/domain/tags.js';

const NIGHT_1 = new Date('2026-11-24T03:00:00Z');
const ROLE = (fn: string, role: string) =>
  new RegExp(`^arn:aws:sts::123456789012:assumed-role/ami-lifecycle-dev-${role}-[0-9A-F]{12}/ami-lifecycle-dev-${fn}$`);
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

const cloud = cloudPerFile();

/** Denials recorded before the current test: each test looks only at its own. */
let before = 0;
const newDenials = () => cloud.denials().slice(before);
beforeEach(() => {
  before = cloud.denials().length;
});
afterEach(async () => cloud.useTemplate());

/** The statement of a role's inline policy with this Sid. */
function statement(t: Template, role: string, sid: string): Record<string, any> {
  const policies = t.Resources[role]!.Properties!.Policies as Array<{ PolicyDocument: { Statement: Array<Record<string, any>> } }>;
  const found = policies.flatMap((p) => p.PolicyDocument.Statement).find((s) => s.Sid === sid);
  if (!found) throw new Error(`${role} has no statement ${sid}`);
  return found;
}

function removeStatement(t: Template, role: string, sid: string): void {
  const policies = t.Resources[role]!.Properties!.Policies as Array<{ PolicyDocument: { Statement: Array<Record<string, any>> } }>;
  for (const p of policies) p.PolicyDocument.Statement = p.PolicyDocument.Statement.filter((s) => s.Sid !== sid);
}

async function imageOf(instanceId: string) {
  const { Images = [] } = await cloud.ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:ami-lifecycle:lineage', Values: [instanceId] }] }),
  );
  return Images;
}

async function describeInstance(instanceId: string): Promise<Instance> {
  const { Reservations } = await cloud.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return Reservations![0]!.Instances![0]!;
}

describe('IAM evaluated on every call', () => {
  it('a permission removed: the bake role without CreateImage on opted-in instances bakes nothing, refused as EC2 refuses', async () => {
    // Prepare
    await cloud.useTemplate((t) => removeStatement(t, 'BakeRole', 'ImageOptedInInstances'));
    const [instanceId] = await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly' });
    cloud.expectDenials(1);

    // Act
    await cloud.bakeCycle('nightly', NIGHT_1);

    // Assess: no image; the failure is reported with EC2's code; the denial names the instance
    expect(await imageOf(instanceId!)).toEqual([]);
    expect(cloud.published('ImageBakeFailed')[0]?.detail).toMatchObject({ instanceId, errorCode: 'UnauthorizedOperation' });
    const [denial, ...more] = newDenials();
    expect(more).toEqual([]);
    expect(denial).toMatchObject({
      function: 'ami-lifecycle-dev-bake',
      call: 'ec2:CreateImage',
      action: 'ec2:CreateImage',
      resource: `arn:aws:ec2:us-east-1:123456789012:instance/${instanceId}`,
      reason: expect.stringMatching(/because no identity-based policy allows the ec2:CreateImage action$/),
    });
    expect(denial!.context).toMatchObject({ 'aws:ResourceTag/ami-lifecycle:bake': 'nightly', 'ec2:Region': 'us-east-1' });
  });

  it('a tag condition that no longer matches: images of another managed-by value cannot be settled', async () => {
    // Prepare: the settle statements of imageState and schedule expect another stack's images
    await cloud.useTemplate((t) => {
      for (const role of ['ImageStateRole', 'ScheduleRole']) {
        statement(t, role, 'SettleManagedImagesAndSnapshots').Condition.StringEquals['aws:ResourceTag/ami-lifecycle:managed-by'] =
          'ami-lifecycle-prod';
      }
    });
    const [instanceId] = await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly' });
    // The record is received three times from the image-state queue (its maxReceiveCount), then dead-lettered.
    cloud.expectDenials(3);

    // Act: the image is baked, EC2 announces it available, imageState settles it
    const deliveries = await cloud.bakeCycle('nightly', NIGHT_1, { attempts: 1 });

    // Assess: still pending; refused on the image, whose managed-by tag was read from moto, at each receive
    const [image] = await imageOf(instanceId!);
    expect(tagRecord(image!.Tags)['ami-lifecycle:status']).toBe('pending');
    expect(deliveries.find((d) => d.function === 'imageState')).toMatchObject({ attempts: 3, error: expect.any(String) });
    const denied = newDenials();
    expect(denied).toHaveLength(3);
    expect(new Set(denied.map((d) => JSON.stringify(d))).size).toBe(1);
    expect(denied.slice(0, 1)).toEqual([
      expect.objectContaining({
        function: 'ami-lifecycle-dev-imageState',
        action: 'ec2:CreateTags',
        resource: `arn:aws:ec2:us-east-1::image/${image!.ImageId}`,
        context: expect.objectContaining({
          'aws:ResourceTag/ami-lifecycle:managed-by': 'ami-lifecycle-dev',
          'aws:RequestTag/ami-lifecycle:status': 'good',
        }),
      }),
    ]);
  });

  it('a dependent permission missing: without iam:PassRole, recovery cannot relaunch an instance that has a profile', async () => {
    // Prepare: an opted-in instance with an instance profile, baked (the capture keeps the profile)
    const iam = new IAMClient({ endpoint: cloud.moto.endpoint, region: 'us-east-1', credentials });
    await iam.send(new CreateRoleCommand({ RoleName: 'app', AssumeRolePolicyDocument: '{}' }));
    const { InstanceProfile } = await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: 'app' }));
    await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: 'app', RoleName: 'app' }));
    iam.destroy();
    const [instanceId] = await cloud.launch(
      1,
      { 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:recover': 'on-failure' },
      { IamInstanceProfile: { Arn: InstanceProfile!.Arn! } },
    );
    await cloud.bakeCycle('nightly', NIGHT_1);
    await cloud.useTemplate((t) => removeStatement(t, 'RecoverRole', 'PassInstanceProfileRolesToReplacements'));
    cloud.expectDenials(1);

    // Act
    await cloud.failInstance(instanceId!, 'terminated', 'Server.InternalError');
    await cloud.deliver();

    // Assess: no replacement, RecoveryFailed with EC2's code; refused on the profile's role, on EC2's behalf
    const { Reservations = [] } = await cloud.ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'tag:ami-lifecycle:replaces', Values: [instanceId!] }] }),
    );
    expect(Reservations).toEqual([]);
    expect(cloud.published('RecoveryFailed')[0]?.detail).toMatchObject({
      instanceId,
      action: 'RunInstances',
      errorCode: 'UnauthorizedOperation',
    });
    expect(newDenials()).toHaveLength(1);
    for (const denial of newDenials()) {
      expect(denial).toMatchObject({
        function: 'ami-lifecycle-dev-recover',
        call: 'ec2:RunInstances',
        action: 'iam:PassRole',
        resource: 'arn:aws:iam::123456789012:role/app',
        context: {
          'iam:PassedToService': 'ec2.amazonaws.com',
          'iam:AssociatedResourceArn': 'arn:aws:ec2:us-east-1:123456789012:instance/*',
        },
      });
    }
  });

  it('answers EC2 with 403 UnauthorizedOperation, naming the role session, and EC2 resolves a missing resource first', async () => {
    // Prepare: an instance that is not opted in to baking
    const [instanceId] = await cloud.launch(1, { Name: 'not-mine' });
    const ec2 = new EC2Client({ endpoint: cloud.proxy.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
    cloud.expectDenials(1);

    // Act: the bake function's identity tags it (its role allows that only on opted-in instances)
    const refused = cloud.asFunction('bake', () =>
      ec2.send(new CreateTagsCommand({ Resources: [instanceId!], Tags: [{ Key: 'ami-lifecycle:lineage', Value: 'x' }] })),
    );
    const error = (await refused.catch((e: unknown) => e)) as Error & { $metadata: { httpStatusCode: number } };
    const missing = await cloud
      .asFunction('bake', () =>
        ec2.send(new CreateTagsCommand({ Resources: ['i-0123456789abcdef0'], Tags: [{ Key: 'ami-lifecycle:lineage', Value: 'x' }] })),
      )
      .catch((e: unknown) => e as Error);
    // The test's own call (no function identity) is not evaluated.
    await ec2.send(new CreateTagsCommand({ Resources: [instanceId!], Tags: [{ Key: 'owner', Value: 'test' }] }));

    // Assess
    expect(error.name).toBe('UnauthorizedOperation');
    expect(error.$metadata.httpStatusCode).toBe(403);
    const [, principal] = /User: (\S+) is not authorized/.exec(error.message) ?? [];
    expect(principal).toMatch(ROLE('bake', 'BakeRole'));
    expect(error.message).toMatch(
      new RegExp(
        `^You are not authorized to perform this operation\\. User: \\S+ is not authorized to perform: ec2:CreateTags on resource: arn:aws:ec2:us-east-1:123456789012:instance/${instanceId} ` +
          'because no identity-based policy allows the ec2:CreateTags action\\. Encoded authorization failure message: [A-Za-z0-9_-]+$',
      ),
    );
    const encoded = /Encoded authorization failure message: (\S+)$/.exec(error.message)![1]!;
    expect(JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'))).toMatchObject({
      allowed: false,
      context: { action: 'ec2:CreateTags' },
    });
    expect(missing).not.toHaveProperty('name', 'UnauthorizedOperation');
    expect(tagRecord((await describeInstance(instanceId!)).Tags)).toEqual({ Name: 'not-mine', owner: 'test' });
    ec2.destroy();
  });

  it('answers EventBridge with 400 AccessDeniedException and CloudWatch with 403 AccessDenied', async () => {
    // Prepare
    const events = new EventBridgeClient({ endpoint: cloud.proxy.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
    const cloudwatch = new CloudWatchClient({ endpoint: cloud.proxy.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
    cloud.expectDenials(2);

    // Act: rotate publishes to the default bus; statusAlarms writes an alarm outside its prefix
    const put = await cloud
      .asFunction('rotate', () =>
        events.send(new PutEventsCommand({ Entries: [{ Source: 'ami-lifecycle', DetailType: 'x', Detail: '{}' }] })),
      )
      .catch((e: unknown) => e as Error & { $metadata: { httpStatusCode: number } });
    const alarm = await cloud
      .asFunction('statusAlarms', () =>
        cloudwatch.send(
          new PutMetricAlarmCommand({
            AlarmName: 'someone-elses-alarm',
            MetricName: 'StatusCheckFailed',
            Namespace: 'AWS/EC2',
            Statistic: 'Maximum',
            Period: 60,
            EvaluationPeriods: 1,
            Threshold: 0,
            ComparisonOperator: 'GreaterThanThreshold',
          }),
        ),
      )
      .catch((e: unknown) => e as Error & { $metadata: { httpStatusCode: number } });

    // Assess
    expect(put).toMatchObject({ name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } });
    expect((put as Error).message).toMatch(
      /^User: \S+ is not authorized to perform: events:PutEvents on resource: arn:aws:events:us-east-1:123456789012:event-bus\/default because no identity-based policy allows the events:PutEvents action$/,
    );
    expect(alarm).toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    expect((alarm as Error).message).toMatch(
      /cloudwatch:PutMetricAlarm on resource: arn:aws:cloudwatch:us-east-1:123456789012:alarm:someone-elses-alarm because/,
    );
    expect(newDenials().map((d) => [d.function, d.action])).toEqual([
      ['ami-lifecycle-dev-rotate', 'events:PutEvents'],
      ['ami-lifecycle-dev-statusAlarms', 'cloudwatch:PutMetricAlarm'],
    ]);
    events.destroy();
    cloudwatch.destroy();
  });

  it('sharing (issue 16): the rotate role shares only managed images, and gives a managed snapshot to accounts, never to all', async () => {
    // Prepare: a managed image (baked), and an image of the same instance a person made, without the stack's tag
    const [instanceId] = await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly' });
    await cloud.bakeCycle('nightly', NIGHT_1);
    const [managed] = await imageOf(instanceId!);
    const snapshotId = managed!.BlockDeviceMappings![0]!.Ebs!.SnapshotId!;
    const { ImageId: theirs } = await cloud.ec2.send(new CreateImageCommand({ InstanceId: instanceId!, Name: 'a-persons-image' }));
    const ec2 = new EC2Client({ endpoint: cloud.proxy.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
    const asRotate = (fn: () => Promise<unknown>) =>
      cloud.asFunction('rotate', fn).then(
        () => 'allowed',
        (e: { name: string }) => e.name,
      );
    const account = { LaunchPermission: { Add: [{ UserId: '111122223333' }] } };
    cloud.expectDenials(2);

    // Act / Assess
    expect(await asRotate(() => ec2.send(new ModifyImageAttributeCommand({ ImageId: managed!.ImageId!, ...account })))).toBe('allowed');
    expect(await asRotate(() => ec2.send(new ModifyImageAttributeCommand({ ImageId: theirs!, ...account })))).toBe('UnauthorizedOperation');
    const snapshot = (OperationType: 'add' | 'remove', more: { UserIds?: string[]; GroupNames?: string[] }) =>
      asRotate(() =>
        ec2.send(
          new ModifySnapshotAttributeCommand({ SnapshotId: snapshotId, Attribute: 'createVolumePermission', OperationType, ...more }),
        ),
      );
    expect(await snapshot('add', { UserIds: ['111122223333'] })).toBe('allowed');
    expect(await snapshot('remove', { UserIds: ['111122223333'] })).toBe('allowed');
    expect(await snapshot('add', { GroupNames: ['all'] })).toBe('UnauthorizedOperation');
    expect(newDenials().map((d) => d.action)).toEqual(['ec2:ModifyImageAttribute', 'ec2:ModifySnapshotAttribute']);
    ec2.destroy();
  });
});
