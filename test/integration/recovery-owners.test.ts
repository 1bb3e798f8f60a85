/**
 * Recovery never fights another owner of the capacity, nor a person (issue 22, parts 1 and 2):
 * Auto Scaling group members are never relaunched outside their group, and an image is blamed
 * only for what says something about the image.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AutoScalingClient, CreateAutoScalingGroupCommand, UpdateAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import { CreateLaunchTemplateCommand, DescribeImagesCommand, type Image, type Instance } from '@aws-sdk/client-ec2';
import { PROJECT_ROOT } from '../../cli/serverless-config.js';
import { tagRecord } from '../../shared/domain/tags.js';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import { pastNights } from '../harness/local-cloud.js';

const cloud = cloudPerFile();
const OPTED_IN = { 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:recover': 'always' };

async function imagesOf(lineage: string): Promise<Image[]> {
  const { Images = [] } = await cloud.ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:ami-lifecycle:lineage', Values: [lineage] }] }),
  );
  return Images.sort((a, b) => (a.CreationDate! < b.CreationDate! ? 1 : -1));
}

/** An Auto Scaling group of one, its tags (the opt-in ones) propagated to its member. */
async function group(name: string): Promise<{ asg: AutoScalingClient; memberId: string }> {
  const { Images = [] } = await cloud.ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }));
  await cloud.ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: name,
      LaunchTemplateData: { ImageId: Images[0]!.ImageId!, InstanceType: 't3.micro' },
    }),
  );
  const asg = new AutoScalingClient({
    endpoint: cloud.moto.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  await asg.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: name,
      LaunchTemplate: { LaunchTemplateName: name, Version: '$Latest' },
      MinSize: 0,
      MaxSize: 1,
      DesiredCapacity: 1,
      AvailabilityZones: ['us-east-1a'],
      Tags: Object.entries(OPTED_IN).map(([Key, Value]) => ({ Key, Value, PropagateAtLaunch: true })),
    }),
  );
  const [member] = await cloud.instancesTagged('aws:autoscaling:groupName', name);
  expect(tagRecord(member!.Tags)).toMatchObject(OPTED_IN);
  return { asg, memberId: member!.InstanceId! };
}

function skippedReasons(): string[] {
  return cloud.published('RecoverySkipped').map((e) => (e.detail as { reason: string }).reason);
}

describe('recovery and the owners of an instance', () => {
  it('bakes an Auto Scaling group member, and launches nothing when the group scales it in', async () => {
    // Prepare: the member is baked (a golden image of a fleet member is a real use)
    const { asg, memberId } = await group('web-asg');
    await cloud.bakeCycle('nightly', pastNights(1)[0]!);
    expect(await imagesOf(memberId)).toHaveLength(1);

    // Act: the group scales in and terminates its member
    await asg.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: 'web-asg', MinSize: 0, DesiredCapacity: 0 }));
    await cloud.announceInstanceStates();
    await cloud.deliver();
    asg.destroy();

    // Assess
    expect(await cloud.instancesTagged('ami-lifecycle:replaces', memberId)).toEqual([]);
    expect(cloud.published('InstanceRelaunched')).toEqual([]);
    expect(skippedReasons()).toEqual([
      'capacity owned by Auto Scaling group web-asg: it replaces its own instances, and recover has no effect here',
    ]);
  });

  it('launches nothing when a member under on-failure is ended by a spot interruption: its group replaces it', async () => {
    // Prepare
    const { asg, memberId } = await group('spot-asg');
    asg.destroy();
    await cloud.bakeCycle('nightly', pastNights(1)[0]!);

    // Act
    await cloud.failInstance(memberId, 'terminated', 'Server.SpotInstanceTermination');
    await cloud.deliver();

    // Assess
    expect(await cloud.instancesTagged('ami-lifecycle:replaces', memberId)).toEqual([]);
    expect(skippedReasons()).toEqual([expect.stringMatching(/^capacity owned by Auto Scaling group spot-asg/)]);
  });
});

describe('recovery blames an image only for an image fault', () => {
  /** Two good nights, then the instance is lost and R1 launches from the newest image. */
  async function firstReplacement(): Promise<{ original: string; r1: Instance; newest: string; older: string }> {
    const [original] = await cloud.launch(1, OPTED_IN);
    for (const night of pastNights(2)) await cloud.bakeCycle('nightly', night);
    const [newest, older] = (await imagesOf(original!)).map((i) => i.ImageId!);
    await cloud.failInstance(original!, 'terminated', 'Server.InternalError');
    await cloud.deliver();
    const [r1] = await cloud.instancesTagged('ami-lifecycle:replaces', original!);
    expect(r1!.ImageId).toBe(newest);
    return { original: original!, r1: r1!, newest: newest!, older: older! };
  }

  it('marks no image bad when a person terminates a fresh replacement: the next one launches from the same image', async () => {
    // Prepare
    const { r1, newest } = await firstReplacement();

    // Act: two minutes later a person ends R1
    await cloud.failInstance(r1.InstanceId!, 'terminated', 'Client.UserInitiatedShutdown');
    await cloud.deliver();

    // Assess
    const [r2] = await cloud.instancesTagged('ami-lifecycle:replaces', r1.InstanceId!);
    expect(r2!.ImageId).toBe(newest);
    const statuses = (await imagesOf(tagRecord(r1.Tags)['ami-lifecycle:lineage']!)).map((i) => tagRecord(i.Tags)['ami-lifecycle:status']);
    expect(statuses).toEqual(['good', 'good']);
    expect(cloud.published('InstanceRelaunched').every((e) => !(e.detail as { markedBad?: string }).markedBad)).toBe(true);
  });

  it("marks the image bad when the replacement's instance status check fails within the grace: the next one launches from the older image", async () => {
    // Prepare
    const { r1, newest, older } = await firstReplacement();
    const alarm = JSON.parse(readFileSync(`${PROJECT_ROOT}/events/alarm-status-check-failed.json`, 'utf8'));
    const metric = alarm.detail.configuration.metrics[0].metricStat.metric;
    metric.name = 'StatusCheckFailed_Instance';
    metric.dimensions.InstanceId = r1.InstanceId;

    // Act: the instance check of R1 fails
    await cloud.putEvent({ source: alarm.source, detailType: alarm['detail-type'], detail: alarm.detail });
    await cloud.deliver();

    // Assess
    const [r2] = await cloud.instancesTagged('ami-lifecycle:replaces', r1.InstanceId!);
    expect(r2!.ImageId).toBe(older);
    const images = await imagesOf(tagRecord(r1.Tags)['ami-lifecycle:lineage']!);
    expect(images.map((i) => [i.ImageId, tagRecord(i.Tags)['ami-lifecycle:status']])).toEqual([
      [newest, 'bad'],
      [older, 'good'],
    ]);
    const relaunched = cloud.published('InstanceRelaunched').at(-1)!.detail as { markedBad?: string; reason: string };
    expect(relaunched.markedBad).toBe(newest);
    expect(relaunched.reason).toMatch(/its instance status check failed/);
  });

  // Issue 22, part 3: a planned reboot trips the status-check alarms; the marker holds them.
  it('launches nothing on an ALARM of either status check while the maintenance marker is on', async () => {
    // Prepare
    const [instanceId] = await cloud.launch(1, {
      ...OPTED_IN,
      'ami-lifecycle:recover': 'on-failure',
      'ami-lifecycle:maintenance': 'CHG-1234',
    });
    await cloud.bakeCycle('nightly', pastNights(1)[0]!);
    const alarm = JSON.parse(readFileSync(`${PROJECT_ROOT}/events/alarm-status-check-failed.json`, 'utf8'));

    // Act: the system check, then the instance check
    for (const name of ['StatusCheckFailed_System', 'StatusCheckFailed_Instance']) {
      const metric = alarm.detail.configuration.metrics[0].metricStat.metric;
      metric.name = name;
      metric.dimensions.InstanceId = instanceId;
      await cloud.putEvent({ source: alarm.source, detailType: alarm['detail-type'], detail: alarm.detail });
      await cloud.deliver();
    }

    // Assess
    expect(await cloud.instancesTagged('ami-lifecycle:replaces', instanceId!)).toEqual([]);
    expect(skippedReasons()).toEqual([
      expect.stringMatching(/^under maintenance: CHG-1234 \(ami-lifecycle:maintenance\); alarm /),
      expect.stringMatching(/^under maintenance: CHG-1234 \(ami-lifecycle:maintenance\); alarm /),
    ]);
  });
});
