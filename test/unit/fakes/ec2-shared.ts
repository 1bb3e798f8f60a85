/**
 * The in-memory answers to the EC2 methods two slices share (shared/use-cases/ec2-ports.ts):
 * each written once, spread into the slices that declare it.
 */
import { TAG, type Tags } from '../../../shared/domain/tags.js';
import type {
  BakeCandidateListing,
  Ec2Tagging,
  ExcludeTagListing,
  ElasticIpTagging,
  InstanceLookup,
  ManagedImageListing,
} from '../../../shared/use-cases/ec2-ports.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import { LIVE_STATES, notFound, type FakeEc2Account } from './ec2-account.js';

/** CreateTags: all or nothing, every id must exist before anything is tagged. */
export const ec2Tagging = (a: FakeEc2Account): Ec2Tagging => ({
  async tagResources(resourceIds: string[], tags: Tags): Promise<void> {
    a.tagCalls.push({ resourceIds: [...resourceIds], tags: { ...tags } });
    a.note(`tag ${resourceIds.join(',')} ${JSON.stringify(tags)}`);
    if (resourceIds.length === 0) return;
    for (const id of resourceIds) {
      const failure = a.tagFailures.get(id);
      if (failure) throw failure;
      const known = a.instances.has(id) || a.images.has(id) || a.snapshotTags.has(id) || a.addresses.has(id) || a.dataVolumes.has(id);
      if (!known && id.startsWith('i-')) throw notFound(id, 'CreateTags');
      if (!known) throw new AwsCallError('InvalidID', 'CreateTags', `The ID '${id}' is not valid`, false, 400);
    }
    for (const id of resourceIds) {
      const target =
        a.instances.get(id)?.tags ??
        a.images.get(id)?.tags ??
        a.snapshotTags.get(id) ??
        a.dataVolumes.get(id)?.tags ??
        a.addresses.get(id)!.tags;
      Object.assign(target, tags);
    }
  },
});

export const elasticIpTagging = (a: FakeEc2Account): ElasticIpTagging => ({
  async tagElasticIp(publicIp: string, tags: Tags): Promise<string | undefined> {
    a.recoveryCall('TagElasticIp');
    const address = [...a.addresses.values()].find((x) => x.publicIp === publicIp);
    if (address) Object.assign(address.tags, tags);
    return address?.allocationId;
  },
});

export const managedImageListing = (a: FakeEc2Account): ManagedImageListing => ({
  listManagedImages(managedBy: string) {
    return a.countedPages('DescribeImages', () =>
      [...a.images.values()].filter((i) => i.tags[TAG.managedBy] === managedBy).map((i) => a.view(i)),
    );
  },
});

export const bakeCandidateListing = (a: FakeEc2Account): BakeCandidateListing => ({
  async *listBakeCandidates() {
    yield* a.pages(
      [...a.instances.values()].filter((i) => i.tags[TAG.bake] !== undefined && LIVE_STATES.has(i.state)).map((i) => a.instanceView(i)),
    );
  },
});

export const instanceLookup = (a: FakeEc2Account): InstanceLookup => ({
  async describeInstance(instanceId: string) {
    a.recoveryCall('DescribeInstance');
    const instance = a.instances.get(instanceId);
    return instance ? a.instanceView(instance) : undefined;
  },
});

/** DescribeVolumes with tag-key=exclude and attachment.status=attached: one call (a page) per read, counted. */
export const excludeTagListing = (a: FakeEc2Account): ExcludeTagListing => ({
  async listExcludeTags(instanceIds?: readonly string[]) {
    const failure = a.listingFailures.get('DescribeVolumes');
    a.calls.push({ action: 'DescribeVolumes', ids: [...(instanceIds ?? [])] });
    if (failure) throw failure;
    const excludes = new Map<string, string>();
    for (const i of a.instances.values()) {
      if (instanceIds && !instanceIds.includes(i.instanceId)) continue;
      for (const d of i.devices ?? []) if (d.excludeTag !== undefined) excludes.set(d.volumeId, d.excludeTag);
    }
    return excludes;
  },
});
