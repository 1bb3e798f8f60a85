/**
 * Volumes: the exclude tags a bake reads, and the volumes that follow an instance to its
 * replacement (detached, waited for, attached: shared/domain/volume-moves.ts).
 */
import {
  AttachVolumeCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  paginateDescribeVolumes,
  type Filter,
} from '@aws-sdk/client-ec2';
import { TAG, tagRecord } from '../../domain/tags.js';
import { FOLLOW, type FollowingVolume } from '../../domain/volume-moves.js';
import { AwsCallError } from '../../use-cases/errors.js';
import { call, pages } from '../errors.js';
import { collect, type Ec2Context } from './common.js';

/**
 * DescribeVolumes pages: "The maximum number of volume results returned by DescribeVolumes in paginated
 * output ... This value can be between 5 and 500" (API reference, DescribeVolumes, MaxResults,
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVolumes.html).
 */
const VOLUME_PAGE = { min: 5, max: 500 };
/** Instance ids in one attachment.instance-id filter: EC2 documents no limit; 200 keeps a request small. */
const FILTER_VALUES_PER_CALL = 200;

/**
 * The `exclude` tag of every attached volume that carries one, by volume id: one paged
 * DescribeVolumes for the whole fleet (its cost follows the excluded volumes, not the fleet),
 * or, for named instances, calls of at most 200 of them.
 */
export async function listExcludeTags(ec2: Ec2Context, instanceIds?: readonly string[]): Promise<Map<string, string>> {
  const excludes = new Map<string, string>();
  const read = async (more: Filter[]) => {
    const Filters: Filter[] = [{ Name: 'tag-key', Values: [TAG.exclude] }, { Name: 'attachment.status', Values: ['attached'] }, ...more];
    const pageSize = Math.min(VOLUME_PAGE.max, Math.max(VOLUME_PAGE.min, ec2.pageSize));
    for await (const page of pages(
      'DescribeVolumes',
      paginateDescribeVolumes({ client: ec2.client, pageSize }, { Filters }),
      (p) => p.Volumes ?? [],
    )) {
      for (const v of page) {
        const value = tagRecord(v.Tags)[TAG.exclude];
        if (v.VolumeId && value !== undefined) excludes.set(v.VolumeId, value);
      }
    }
  };
  if (instanceIds === undefined) await read([]);
  for (let i = 0; instanceIds && i < instanceIds.length; i += FILTER_VALUES_PER_CALL) {
    await read([{ Name: 'attachment.instance-id', Values: instanceIds.slice(i, i + FILTER_VALUES_PER_CALL) }]);
  }
  return excludes;
}

export async function findFollowingVolumes(ec2: Ec2Context, instanceIds: string[]): Promise<FollowingVolume[]> {
  const follow = { Name: `tag:${TAG.exclude}`, Values: [FOLLOW] };
  const read = (filters: Filter[]) =>
    collect(
      pages('DescribeVolumes', paginateDescribeVolumes({ client: ec2.client }, { Filters: [follow, ...filters] }), (p) =>
        (p.Volumes ?? []).map((v) => ({
          volumeId: v.VolumeId ?? '',
          availabilityZone: v.AvailabilityZone ?? '',
          state: v.State ?? 'unknown',
          attachment: v.Attachments?.[0]?.InstanceId
            ? { instanceId: v.Attachments[0].InstanceId, device: v.Attachments[0].Device ?? '', state: v.Attachments[0].State ?? '' }
            : undefined,
          tags: tagRecord(v.Tags),
        })),
      ),
    );
  const [attached, moving] = await Promise.all([
    read([{ Name: 'attachment.instance-id', Values: instanceIds }]),
    read([{ Name: 'tag-key', Values: [TAG.follows] }]),
  ]);
  const byId = new Map([...attached, ...moving].map((v) => [v.volumeId, v]));
  return [...byId.values()];
}

export async function detachVolume(ec2: Ec2Context, volumeId: string, instanceId: string): Promise<void> {
  // Never Force: "This option can lead to data loss or a corrupted file system" (API_DetachVolume).
  await call('DetachVolume', () => ec2.client.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId })));
}

export async function waitUntilDetached(ec2: Ec2Context, volumeId: string, instanceId: string, maxWaitSeconds: number): Promise<void> {
  // Not the SDK's waitUntilVolumeAvailable: a duplicate delivery may attach the volume to the
  // replacement first, and then it never becomes available again. Done once it is off the instance.
  const deadline = Date.now() + maxWaitSeconds * 1000;
  for (;;) {
    const out = await call('DescribeVolumes', () => ec2.client.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] })));
    const volume = out.Volumes?.[0];
    const on = volume?.Attachments?.find((a) => a.InstanceId === instanceId && a.State !== 'detached');
    if (!volume || !on) return;
    if (Date.now() >= deadline)
      throw new AwsCallError('TimeoutError', 'DescribeVolumes', `${volumeId} is still ${on.State} on ${instanceId}`, true);
    await new Promise((r) => setTimeout(r, 2_000));
  }
}

export async function attachVolume(ec2: Ec2Context, volumeId: string, instanceId: string, device: string): Promise<void> {
  await call('AttachVolume', () =>
    ec2.client.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: device })),
  );
}
