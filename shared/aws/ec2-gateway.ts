/**
 * The only code that talks to EC2. Paged reads through the SDK's paginators (one
 * call per page of up to 1,000 resources, never one per resource), errors
 * translated to AwsCallError, and CreateImage made idempotent by its name. What it
 * reads and sends is mapped to and from the domain's shapes in ec2-mappers.ts.
 */
import { createHash } from 'node:crypto';
import { append } from '../domain/collections.js';
import {
  AssociateAddressCommand,
  AttachVolumeCommand,
  DescribeSubnetsCommand,
  DetachVolumeCommand,
  DescribeVolumesCommand,
  paginateDescribeVolumes,
  CopyImageCommand,
  CreateImageCommand,
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  CreateTagsCommand,
  DeleteLaunchTemplateVersionsCommand,
  DescribeAddressesCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstanceCreditSpecificationsCommand,
  DescribeSpotInstanceRequestsCommand,
  ModifyInstanceAttributeCommand,
  DescribeInstancesCommand,
  DescribeInstanceStatusCommand,
  DescribeInstanceTypesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeLaunchTemplatesCommand,
  ModifyLaunchTemplateCommand,
  RebootInstancesCommand,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  StopInstancesCommand,
  TerminateInstancesCommand,
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeImageAttributeCommand,
  DescribeSnapshotAttributeCommand,
  EnableImageDeprecationCommand,
  ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand,
  type LaunchPermission,
  GetConsoleOutputCommand,
  paginateDescribeImageReferences,
  paginateDescribeImages,
  paginateDescribeInstances,
  paginateDescribeLaunchTemplateVersions,
  paginateDescribeSnapshots,
  type EC2Client,
  type Filter,
  type LaunchTemplateVersion,
} from '@aws-sdk/client-ec2';
import type { ImageSpec, InstanceSummary } from '../domain/bake.js';
import type { ImageView } from '../domain/image-status.js';
import type { CopySpec, CopyView } from '../domain/copies.js';
import type { CaptureTimeSettings, LaunchConfig, RelaunchSpec, StoredLaunchConfig } from '../domain/launch.js';
import type { StatusChecks } from '../domain/recovery-deferral.js';
import { FOLLOW, type FollowingVolume, type ReplacementPlacement } from '../domain/volume-moves.js';
import { TAG, tagRecord, type Tags } from '../domain/tags.js';
import type { UnverifiedReason } from '../domain/retention.js';
import type { PermissionChange } from '../domain/sharing.js';
import { SHARE_PATTERNS } from '../domain/tags.js';
import { VERIFICATION_ROLE, type TestInstance } from '../domain/verification.js';
import type {
  AddressView,
  CreatedImage,
  Ec2Port,
  ImageReferenceCheck,
  LaunchCapture,
  LaunchTemplateImage,
  LaunchTemplateView,
  OwnedImageView,
  SnapshotView,
  TestLaunchSpec,
} from '../use-cases/ec2-ports.js';
import { AwsCallError } from '../use-cases/errors.js';
import {
  fromTemplateData,
  launchNetwork,
  launchSettings,
  spotOptionsOf,
  toAddressViews,
  toImageView,
  toInstanceSummary,
  toLaunchTemplateImages,
  toOwnedImageView,
  toSnapshotView,
  toTagList,
  toTemplateData,
} from './ec2-mappers.js';
import { call, pages, toAwsCallError } from './errors.js';

const NOT_FOUND = new Set(['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable', 'InvalidAMIID.Malformed']);
const INSTANCE_NOT_FOUND = new Set(['InvalidInstanceID.NotFound', 'InvalidInstanceID.Malformed']);
const TEMPLATE_NOT_FOUND = new Set(['InvalidLaunchTemplateName.NotFoundException', 'InvalidLaunchTemplateId.NotFound']);
/** Captured versions kept per launch template besides the first (which EC2 keeps as the default). */
const KEEP_TEMPLATE_VERSIONS = 10;
const SNAPSHOT_NOT_FOUND = new Set(['InvalidSnapshot.NotFound']);
const SPOT_REQUEST_NOT_FOUND = new Set(['InvalidSpotInstanceRequestID.NotFound']);
/**
 * Burstable performance instances (T2, T3, T3a, T4g) have a credit option; others have none
 * ("Key concepts and definitions for burstable performance instances",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/burstable-performance-instances.html).
 */
const isBurstable = (instanceType: string): boolean => /^t\d+[a-z]*\./.test(instanceType);
/** What EC2 answers where an action is not offered (a region without DescribeImageReferences). */
const NOT_OFFERED = new Set(['InvalidAction', 'UnsupportedOperation', 'NotImplemented', 'UnknownOperationException']);
/**
 * DescribeImageReferences takes 1 to 10 image ids a call: "Array Members: Minimum number of 1 item.
 * Maximum number of 10 items." (EC2 API reference, "DescribeImageReferences",
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImageReferences.html).
 */
export const IMAGE_REFERENCES_IDS_PER_CALL = 10;
/**
 * Image ids in one DescribeImages call. botocore's model sets no maximum; EC2's guide does: "Where
 * possible, specify a list of resource IDs in your describe calls. This is the fastest way to describe
 * a large number of resources. Note that you should not specify more than 1,000 IDs in a single call."
 * (EC2 Developer Guide, "Pagination in the Amazon EC2 API", https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-pagination.html).
 */
export const DESCRIBE_IMAGES_IDS_PER_CALL = 1000;
/** Its MaxResults has a minimum of 5 (same page; no maximum is documented). */
const IMAGE_REFERENCES_MIN_PAGE = 5;
/**
 * What the check looks at: every resource type (IncludeAllResourceTypes, so that a type AWS adds
 * later is checked too, or refused for want of a permission, never skipped), with two of the
 * defaults narrowed or pinned ("How AMI reference checks work", user guide "Identify your resources
 * referencing specified AMIs", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-ami-references.html):
 * instances in every state but terminated (the default includes it; a terminated instance never
 * starts again, and one is listed for about an hour after it ends), and every version of each
 * launch template: a depth of 10,000 (the model's maximum; the default is the 10 most recent), as
 * many versions as a template may have ("up to 10,000 versions per launch template", user guide
 * "Restrictions for Amazon EC2 launch templates",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/launch-template-restrictions.html). An Auto
 * Scaling group or a fleet may pin any version, however old. Rotation reads every template's
 * default and latest version itself besides.
 */
const LAUNCH_TEMPLATE_VERSIONS_MAX = 10_000;
const REFERENCE_SCOPE = {
  IncludeAllResourceTypes: true,
  ResourceTypes: [
    {
      ResourceType: 'ec2:Instance' as const,
      ResourceTypeOptions: [
        { OptionName: 'state-name' as const, OptionValues: ['pending', 'running', 'shutting-down', 'stopping', 'stopped'] },
      ],
    },
    {
      ResourceType: 'ec2:LaunchTemplate' as const,
      ResourceTypeOptions: [{ OptionName: 'version-depth' as const, OptionValues: [String(LAUNCH_TEMPLATE_VERSIONS_MAX)] }],
    },
  ],
};

/**
 * "You can make up to 500 modifications to a snapshot in a single operation", and adding and
 * removing take separate calls ("You may add or remove specified Amazon Web Services account IDs
 * ... but you cannot do both in a single operation"; EC2 API reference, ModifySnapshotAttribute,
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifySnapshotAttribute.html).
 */
export const SNAPSHOT_PERMISSIONS_PER_CALL = 500;

/** An entry of a launch permission list as the tag writes it: an account id, an organization or OU ARN, or `all`. */
function permissionEntry(p: LaunchPermission): string | undefined {
  return p.UserId ?? p.OrganizationArn ?? p.OrganizationalUnitArn ?? p.Group;
}

/** The launch permission of an entry; the group all is never one the sharing step sends. */
function launchPermissionOf(entry: string): LaunchPermission {
  if (entry === 'all') throw new Error('the group all is never given: images are never made public');
  if (SHARE_PATTERNS.account.test(entry)) return { UserId: entry };
  if (SHARE_PATTERNS.organization.test(entry)) return { OrganizationArn: entry };
  if (SHARE_PATTERNS.unit.test(entry)) return { OrganizationalUnitArn: entry };
  throw new Error(`not an account id, organization or OU ARN: ${entry}`);
}

/** Runs one AWS call; the error codes in `tolerated` mean `fallback` rather than failure. */
async function callOr<T, F>(action: string, fn: () => Promise<T>, tolerated: ReadonlySet<string>, fallback: F): Promise<T | F> {
  try {
    return await fn();
  } catch (error) {
    const mapped = toAwsCallError(action, error);
    if (tolerated.has(mapped.code)) return fallback;
    throw mapped;
  }
}

async function collect<T>(source: AsyncIterable<T[]>): Promise<T[]> {
  const all: T[] = [];
  for await (const page of source) all.push(...page);
  return all;
}

/**
 * DescribeVolumes pages: "The maximum number of volume results returned by DescribeVolumes in paginated
 * output ... This value can be between 5 and 500" (API reference, DescribeVolumes, MaxResults,
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVolumes.html).
 */
const VOLUME_PAGE = { min: 5, max: 500 };
/** Instance ids in one attachment.instance-id filter: EC2 documents no limit; 200 keeps a request small. */
const FILTER_VALUES_PER_CALL = 200;

/** States from which an instance can still be imaged or come back. */
const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];

export class Ec2Gateway implements Ec2Port {
  constructor(
    private readonly client: EC2Client,
    private readonly pageSize = 1000,
  ) {}

  listBakeCandidates(): AsyncIterable<InstanceSummary[]> {
    return this.instancePages([
      { Name: 'tag-key', Values: [TAG.bake] },
      { Name: 'instance-state-name', Values: LIVE_STATES },
    ]);
  }

  listRecoverCandidates(): AsyncIterable<InstanceSummary[]> {
    return this.instancePages([
      { Name: 'tag-key', Values: [TAG.recover] },
      { Name: 'instance-state-name', Values: LIVE_STATES },
    ]);
  }

  listPromoteCandidates(): AsyncIterable<InstanceSummary[]> {
    return this.instancePages([
      { Name: 'tag-key', Values: [TAG.promote] },
      { Name: 'instance-state-name', Values: LIVE_STATES },
    ]);
  }

  listInstances(): AsyncIterable<InstanceSummary[]> {
    // Stopped and stopping instances still need their image to start again.
    return this.instancePages([{ Name: 'instance-state-name', Values: [...LIVE_STATES, 'shutting-down'] }]);
  }

  private instancePages(Filters: Filter[]): AsyncIterable<InstanceSummary[]> {
    return pages('DescribeInstances', paginateDescribeInstances({ client: this.client, pageSize: this.pageSize }, { Filters }), (page) =>
      (page.Reservations ?? []).flatMap((r) => r.Instances ?? []).map(toInstanceSummary),
    );
  }

  /**
   * The `exclude` tag of every attached volume that carries one, by volume id: one paged
   * DescribeVolumes for the whole fleet (its cost follows the excluded volumes, not the fleet),
   * or, for named instances, calls of at most 200 of them.
   */
  async listExcludeTags(instanceIds?: readonly string[]): Promise<Map<string, string>> {
    const excludes = new Map<string, string>();
    const read = async (more: Filter[]) => {
      const Filters: Filter[] = [{ Name: 'tag-key', Values: [TAG.exclude] }, { Name: 'attachment.status', Values: ['attached'] }, ...more];
      const pageSize = Math.min(VOLUME_PAGE.max, Math.max(VOLUME_PAGE.min, this.pageSize));
      for await (const page of pages(
        'DescribeVolumes',
        paginateDescribeVolumes({ client: this.client, pageSize }, { Filters }),
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

  async createImage(spec: ImageSpec): Promise<CreatedImage> {
    const tags = toTagList(spec.tags);
    try {
      const out = await this.client.send(
        new CreateImageCommand({
          InstanceId: spec.instanceId,
          Name: spec.name,
          Description: spec.description,
          NoReboot: spec.noReboot,
          // "NoDevice: To omit the device from the block device mapping, specify an empty string."
          // (EC2 API reference, BlockDeviceMapping, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_BlockDeviceMapping.html)
          ...(spec.noDevices.length > 0 ? { BlockDeviceMappings: spec.noDevices.map((DeviceName) => ({ DeviceName, NoDevice: '' })) } : {}),
          TagSpecifications: [
            { ResourceType: 'image', Tags: tags },
            { ResourceType: 'snapshot', Tags: tags },
          ],
        }),
      );
      if (!out.ImageId) throw new Error('CreateImage answered without an ImageId');
      return { imageId: out.ImageId, created: true };
    } catch (error) {
      const mapped = toAwsCallError('CreateImage', error);
      if (mapped.code !== 'InvalidAMIName.Duplicate') throw mapped;
      // The name is the bake's idempotency key: this slot was baked already.
      const existing = await this.findImageByName(spec.name);
      if (!existing) {
        // EC2 is eventually consistent: the image may not be visible yet. Retry later.
        throw new AwsCallError(mapped.code, 'CreateImage', `${mapped.message}; that image is not visible yet`, true, mapped.httpStatus, {
          cause: error,
        });
      }
      return { imageId: existing.imageId, created: false, existing };
    }
  }

  async findImageByName(name: string): Promise<ImageView | undefined> {
    const out = await call('DescribeImages', () =>
      this.client.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: [name] }] })),
    );
    const image = out.Images?.[0];
    return image ? toImageView(image) : undefined;
  }

  /** One image, through describeImages (one read path); undefined when EC2 does not describe it. */
  async describeImage(imageId: string): Promise<ImageView | undefined> {
    return (await this.describeImages([imageId])).get(imageId);
  }

  /**
   * The images of these ids that EC2 describes, by id: one DescribeImages call per 1,000 ids. An id
   * EC2 does not know is left out of the answer. EC2 answers a list that names one with an error
   * for the whole call (InvalidAMIID.NotFound, or .Malformed / .Unavailable) whose message names
   * the ids ("The image id '[ami-…]' does not exist"): those are dropped and the rest asked again,
   * so one gone image costs one more call, never the others' answer. A recently deregistered image
   * is simply absent ("Recently deregistered images appear in the returned results for a short
   * interval and then return empty results. After all instances that reference a deregistered AMI
   * are terminated, specifying the ID of the image will eventually return an error", EC2 API
   * reference, "DescribeImages", https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImages.html).
   */
  async describeImages(imageIds: readonly string[]): Promise<Map<string, ImageView>> {
    const found = new Map<string, ImageView>();
    const unique = [...new Set(imageIds)];
    for (let i = 0; i < unique.length; i += DESCRIBE_IMAGES_IDS_PER_CALL) {
      let ids = unique.slice(i, i + DESCRIBE_IMAGES_IDS_PER_CALL);
      while (ids.length > 0) {
        try {
          const out = await this.client.send(new DescribeImagesCommand({ ImageIds: ids }));
          for (const image of out.Images ?? []) found.set(image.ImageId!, toImageView(image));
          break;
        } catch (error) {
          const mapped = toAwsCallError('DescribeImages', error);
          if (!NOT_FOUND.has(mapped.code)) throw mapped;
          const named = new Set(mapped.message.match(/ami-[0-9a-z]+/g) ?? []);
          const rest = ids.length === 1 ? [] : ids.filter((id) => !named.has(id));
          // An answer that names none of them says nothing of which is gone: asking again would loop.
          if (rest.length === ids.length) throw mapped;
          ids = rest;
        }
      }
    }
    return found;
  }

  // ---- disaster-recovery copies (issue 17) ------------------------------------------------

  listCopySources(managedBy: string): AsyncIterable<ImageView[]> {
    return this.imagePages([
      { Name: `tag:${TAG.managedBy}`, Values: [managedBy] },
      { Name: `tag:${TAG.status}`, Values: ['good'] },
      { Name: 'tag-key', Values: [TAG.copyTo] },
    ]);
  }

  listCopies(managedBy: string): AsyncIterable<CopyView[]> {
    return pages(
      'DescribeImages',
      paginateDescribeImages(
        { client: this.client, pageSize: this.pageSize },
        {
          Owners: ['self'],
          Filters: [
            { Name: `tag:${TAG.managedBy}`, Values: [managedBy] },
            { Name: 'tag-key', Values: [TAG.sourceImage] },
          ],
        },
      ),
      (page) => (page.Images ?? []).map(toImageView),
    );
  }

  /**
   * "state - The state of the image (available | pending | failed)" (API reference, DescribeImages,
   * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImages.html). A copy is told
   * from a CreateImage in progress by its record: SourceImageId "only appears if the AMI was created
   * using CreateImage, CopyImage, or CreateRestoreImageTask", SourceInstanceId only for CreateImage
   * (API reference, Image).
   */
  async countCopiesInFlight(): Promise<number> {
    let count = 0;
    const paged = pages(
      'DescribeImages',
      paginateDescribeImages(
        { client: this.client, pageSize: this.pageSize },
        { Owners: ['self'], Filters: [{ Name: 'state', Values: ['pending'] }] },
      ),
      (page) => page.Images ?? [],
    );
    for await (const page of paged) count += page.filter((i) => i.SourceImageId && !i.SourceInstanceId).length;
    return count;
  }

  async copyImage(spec: CopySpec): Promise<string> {
    const tags = toTagList(spec.tags);
    const out = await call('CopyImage', () =>
      this.client.send(
        new CopyImageCommand({
          SourceImageId: spec.sourceImageId,
          SourceRegion: spec.sourceRegion,
          Name: spec.name,
          Description: spec.description,
          // A retried or repeated CopyImage with this token answers the first copy rather than making a second.
          ClientToken: spec.clientToken,
          TagSpecifications: [
            { ResourceType: 'image', Tags: tags },
            { ResourceType: 'snapshot', Tags: tags },
          ],
          // "If you specify a KMS key, you must also set the encrypted state to true" (API reference, CopyImage, KmsKeyId).
          ...(spec.kmsKeyId ? { Encrypted: true, KmsKeyId: spec.kmsKeyId } : {}),
        }),
      ),
    );
    if (!out.ImageId) throw new AwsCallError('NoImageId', 'CopyImage', 'CopyImage answered without an ImageId', true);
    return out.ImageId;
  }

  listPendingImages(managedBy: string): AsyncIterable<ImageView[]> {
    return this.imagePages([
      { Name: `tag:${TAG.managedBy}`, Values: [managedBy] },
      { Name: `tag:${TAG.status}`, Values: ['pending'] },
    ]);
  }

  listManagedImages(managedBy: string): AsyncIterable<ImageView[]> {
    // Disabled images too: they still own their snapshots, which are then no orphans.
    return this.imagePages([{ Name: `tag:${TAG.managedBy}`, Values: [managedBy] }], true);
  }

  private imagePages(Filters: Filter[], IncludeDisabled = false): AsyncIterable<ImageView[]> {
    return pages(
      'DescribeImages',
      paginateDescribeImages(
        { client: this.client, pageSize: this.pageSize },
        { Owners: ['self'], Filters, ...(IncludeDisabled ? { IncludeDisabled } : {}) },
      ),
      (page) => (page.Images ?? []).map(toImageView),
    );
  }

  // ---- stale images (issue 19) --------------------------------------------------------------

  listOwnedImages(): AsyncIterable<OwnedImageView[]> {
    return pages(
      'DescribeImages',
      paginateDescribeImages({ client: this.client, pageSize: this.pageSize }, { Owners: ['self'], IncludeDisabled: true }),
      (page) => (page.Images ?? []).map(toOwnedImageView),
    );
  }

  listOwnedSnapshots(): AsyncIterable<SnapshotView[]> {
    return pages(
      'DescribeSnapshots',
      paginateDescribeSnapshots({ client: this.client, pageSize: this.pageSize }, { OwnerIds: ['self'] }),
      (page) => (page.Snapshots ?? []).map(toSnapshotView),
    );
  }

  listListedInstances(): AsyncIterable<InstanceSummary[]> {
    // No state filter: stopped instances need their image to start, and a terminated one is still
    // listed for a while ("Terminated instances remain visible for approximately one hour"; user guide,
    // "Terminate Amazon EC2 instances", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/terminating-instances.html).
    return this.instancePages([]);
  }

  listManagedSnapshots(managedBy: string): AsyncIterable<SnapshotView[]> {
    return pages(
      'DescribeSnapshots',
      paginateDescribeSnapshots(
        { client: this.client, pageSize: this.pageSize },
        { OwnerIds: ['self'], Filters: [{ Name: `tag:${TAG.managedBy}`, Values: [managedBy] }] },
      ),
      (page) => (page.Snapshots ?? []).map(toSnapshotView),
    );
  }

  listLaunchTemplateImages(): AsyncIterable<LaunchTemplateImage[]> {
    // With no template named, $Latest and $Default describe those versions of every template.
    return pages(
      'DescribeLaunchTemplateVersions',
      paginateDescribeLaunchTemplateVersions({ client: this.client, pageSize: 200 }, { Versions: ['$Latest', '$Default'] }),
      (page) => (page.LaunchTemplateVersions ?? []).flatMap(toLaunchTemplateImages),
    );
  }

  /**
   * DescribeImageReferences in slices of at most 10 ids, each slice paged. A slice whose call
   * fails (refused, not offered, a permission the check lacks, throttling the SDK's retries did
   * not outlast) answers for none of its images: they come back unverified, with the error,
   * and the other slices go on. A partial answer keeps the references it found.
   */
  async findImageReferences(imageIds: string[]): Promise<ImageReferenceCheck> {
    const references = new Map<string, string[]>();
    const unverified = new Map<string, UnverifiedReason>();
    for (let i = 0; i < imageIds.length; i += IMAGE_REFERENCES_IDS_PER_CALL) {
      const ImageIds = imageIds.slice(i, i + IMAGE_REFERENCES_IDS_PER_CALL);
      try {
        const paginator = paginateDescribeImageReferences(
          { client: this.client, pageSize: Math.max(IMAGE_REFERENCES_MIN_PAGE, this.pageSize) },
          { ImageIds, ...REFERENCE_SCOPE },
        );
        for await (const page of paginator) {
          for (const r of page.ImageReferences ?? []) {
            if (!r.ImageId) continue;
            append(references, r.ImageId, `${r.ResourceType ?? 'resource'} ${r.Arn ?? ''}`.trim());
          }
        }
      } catch (error) {
        const mapped = toAwsCallError('DescribeImageReferences', error);
        const raw = error instanceof Error ? error.message : String(error);
        const message = NOT_OFFERED.has(mapped.code) ? `DescribeImageReferences is not offered here: ${raw}` : raw;
        for (const id of ImageIds) unverified.set(id, { errorCode: mapped.code, message });
      }
    }
    return { references, unverified };
  }

  deregisterImage(imageId: string): Promise<'deregistered' | 'gone'> {
    const deregister = async () => {
      await this.client.send(new DeregisterImageCommand({ ImageId: imageId, DeleteAssociatedSnapshots: true }));
      return 'deregistered' as const;
    };
    return callOr('DeregisterImage', deregister, NOT_FOUND, 'gone' as const);
  }

  deleteSnapshot(snapshotId: string): Promise<'deleted' | 'gone'> {
    const remove = async () => {
      await this.client.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }));
      return 'deleted' as const;
    };
    return callOr('DeleteSnapshot', remove, SNAPSHOT_NOT_FOUND, 'gone' as const);
  }

  async enableImageDeprecation(imageId: string, at: Date): Promise<void> {
    await call('EnableImageDeprecation', () => this.client.send(new EnableImageDeprecationCommand({ ImageId: imageId, DeprecateAt: at })));
  }

  async tagResources(resourceIds: string[], tags: Tags): Promise<void> {
    if (resourceIds.length === 0) return;
    await call('CreateTags', () => this.client.send(new CreateTagsCommand({ Resources: resourceIds, Tags: toTagList(tags) })));
  }

  // ---- sharing ----------------------------------------------------------------------------

  listPublicImages(managedBy: string): AsyncIterable<ImageView[]> {
    // "is-public - A Boolean that indicates whether the image is public" (API reference, DescribeImages).
    return this.imagePages([
      { Name: `tag:${TAG.managedBy}`, Values: [managedBy] },
      { Name: 'is-public', Values: ['true'] },
    ]);
  }

  async readLaunchPermissions(imageId: string): Promise<string[] | undefined> {
    const read = () => this.client.send(new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: 'launchPermission' }));
    const out = await callOr('DescribeImageAttribute', read, NOT_FOUND, undefined);
    return out ? (out.LaunchPermissions ?? []).flatMap((p) => permissionEntry(p) ?? []) : undefined;
  }

  async changeLaunchPermissions(imageId: string, change: PermissionChange): Promise<void> {
    // Removed first: between the two calls the image is shared more narrowly, never more widely.
    // At most 1,000 entities (the AMI sharing quota) a call, far below the 10,000 account ids one
    // request may name (API reference, LaunchPermission).
    for (const [key, entries] of [
      ['Remove', change.remove],
      ['Add', change.add],
    ] as const) {
      if (entries.length === 0) continue;
      const LaunchPermission = { [key]: entries.map(launchPermissionOf) };
      await call('ModifyImageAttribute', () => this.client.send(new ModifyImageAttributeCommand({ ImageId: imageId, LaunchPermission })));
    }
  }

  revokePublicLaunch(imageId: string): Promise<'revoked' | 'gone'> {
    const revoke = async () => {
      await this.client.send(new ModifyImageAttributeCommand({ ImageId: imageId, LaunchPermission: { Remove: [{ Group: 'all' }] } }));
      return 'revoked' as const;
    };
    return callOr('ModifyImageAttribute', revoke, NOT_FOUND, 'gone' as const);
  }

  async readSnapshotPermissions(snapshotId: string): Promise<string[] | undefined> {
    const read = () =>
      this.client.send(new DescribeSnapshotAttributeCommand({ SnapshotId: snapshotId, Attribute: 'createVolumePermission' }));
    const out = await callOr('DescribeSnapshotAttribute', read, SNAPSHOT_NOT_FOUND, undefined);
    return out ? (out.CreateVolumePermissions ?? []).flatMap((p) => p.UserId ?? p.Group ?? []) : undefined;
  }

  async changeSnapshotPermissions(snapshotId: string, change: PermissionChange): Promise<void> {
    for (const [operation, entries] of [
      ['remove', change.remove],
      ['add', change.add],
    ] as const) {
      if (entries.some((e) => !SHARE_PATTERNS.account.test(e))) throw new Error('snapshots are shared with account ids only');
      for (let i = 0; i < entries.length; i += SNAPSHOT_PERMISSIONS_PER_CALL) {
        const UserIds = entries.slice(i, i + SNAPSHOT_PERMISSIONS_PER_CALL);
        await call('ModifySnapshotAttribute', () =>
          this.client.send(
            new ModifySnapshotAttributeCommand({
              SnapshotId: snapshotId,
              Attribute: 'createVolumePermission',
              OperationType: operation,
              UserIds,
            }),
          ),
        );
      }
    }
  }

  // ---- recovery ---------------------------------------------------------------------------

  async describeInstance(instanceId: string): Promise<InstanceSummary | undefined> {
    const describe = () => this.client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const out = await callOr('DescribeInstances', describe, INSTANCE_NOT_FOUND, undefined);
    const instance = out?.Reservations?.[0]?.Instances?.[0];
    return instance ? toInstanceSummary(instance) : undefined;
  }

  async listLineageInstances(lineage: string): Promise<InstanceSummary[]> {
    // Every state: terminated replacements (shown for about an hour) count towards the relaunch limit.
    return collect(this.instancePages([{ Name: `tag:${TAG.lineage}`, Values: [lineage] }]));
  }

  async listLineageImages(managedBy: string, lineage: string): Promise<ImageView[]> {
    return collect(
      this.imagePages([
        { Name: `tag:${TAG.managedBy}`, Values: [managedBy] },
        { Name: `tag:${TAG.lineage}`, Values: [lineage] },
      ]),
    );
  }

  async findLineageOf(managedBy: string, instanceId: string): Promise<string | undefined> {
    const out = await call('DescribeImages', () =>
      this.client.send(
        new DescribeImagesCommand({
          Owners: ['self'],
          Filters: [
            { Name: `tag:${TAG.managedBy}`, Values: [managedBy] },
            { Name: `tag:${TAG.sourceInstance}`, Values: [instanceId] },
          ],
        }),
      ),
    );
    return (out.Images ?? []).map((i) => tagRecord(i.Tags)[TAG.lineage]).find((l) => l !== undefined);
  }

  async readUserData(instanceId: string): Promise<string | undefined> {
    const out = await call('DescribeInstanceAttribute', () =>
      this.client.send(new DescribeInstanceAttributeCommand({ InstanceId: instanceId, Attribute: 'userData' })),
    );
    return out.UserData?.Value || undefined;
  }

  /**
   * One DescribeInstanceAttribute per attribute (it takes one at a time), a credit read for a
   * burstable type, a spot request read for a spot instance: all side by side, and only at capture.
   */
  async readCaptureSettings(instanceId: string, config: LaunchConfig): Promise<CaptureTimeSettings> {
    const attribute = (Attribute: 'disableApiTermination' | 'disableApiStop' | 'instanceInitiatedShutdownBehavior') =>
      call('DescribeInstanceAttribute', () =>
        this.client.send(new DescribeInstanceAttributeCommand({ InstanceId: instanceId, Attribute })),
      );
    const [termination, stop, shutdown, credits, spot] = await Promise.all([
      attribute('disableApiTermination'),
      attribute('disableApiStop'),
      attribute('instanceInitiatedShutdownBehavior'),
      isBurstable(config.instanceType)
        ? call('DescribeInstanceCreditSpecifications', () =>
            this.client.send(new DescribeInstanceCreditSpecificationsCommand({ InstanceIds: [instanceId] })),
          )
        : undefined,
      config.spot?.requestId
        ? callOr(
            'DescribeSpotInstanceRequests',
            () => this.client.send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [config.spot?.requestId ?? ''] })),
            SPOT_REQUEST_NOT_FOUND,
            undefined,
          )
        : undefined,
    ]);
    const cpuCredits = credits?.InstanceCreditSpecifications?.find((c) => c.InstanceId === instanceId)?.CpuCredits;
    return {
      ...(termination.DisableApiTermination?.Value !== undefined ? { disableApiTermination: termination.DisableApiTermination.Value } : {}),
      ...(stop.DisableApiStop?.Value !== undefined ? { disableApiStop: stop.DisableApiStop.Value } : {}),
      ...(shutdown.InstanceInitiatedShutdownBehavior?.Value ? { shutdownBehavior: shutdown.InstanceInitiatedShutdownBehavior.Value } : {}),
      ...(cpuCredits ? { cpuCredits } : {}),
      // A spot instance whose request is gone (EC2 forgets closed requests) still relaunches as spot, with EC2's defaults.
      ...(config.spot ? { spot: spotOptionsOf(spot?.SpotInstanceRequests?.[0]) } : {}),
    };
  }

  async saveLaunchConfig(name: string, config: StoredLaunchConfig, tags: Tags, description: string, revision: string): Promise<number> {
    const LaunchTemplateData = toTemplateData(config);
    // The revision closes the description (EC2 takes 255 characters), so a cut never loses it.
    const marker = ` (${revision})`;
    const VersionDescription = `${description.slice(0, 255 - marker.length)}${marker}`;
    try {
      const created = await this.client.send(
        new CreateLaunchTemplateCommand({
          LaunchTemplateName: name,
          VersionDescription,
          LaunchTemplateData,
          TagSpecifications: [{ ResourceType: 'launch-template', Tags: toTagList(tags) }],
        }),
      );
      return created.LaunchTemplate?.LatestVersionNumber ?? 1;
    } catch (error) {
      const mapped = toAwsCallError('CreateLaunchTemplate', error);
      if (mapped.code !== 'InvalidLaunchTemplateName.AlreadyExistsException') throw mapped;
    }
    // A retry after a crash, or a duplicate of the bake, finds its own revision newest:
    // answer it rather than add an identical one (the instance's captured tag, which
    // would have skipped the capture, is written only after this).
    const latest = await this.latestTemplateVersion(name);
    if (latest?.VersionNumber && latest.VersionDescription?.endsWith(marker)) return latest.VersionNumber;
    // Two copies of one bake running at once both get here: the same token (AWS keeps
    // it for the request's parameters) makes the second answer the first's version.
    const ClientToken = createHash('sha256').update(`${name}\u0000${VersionDescription}`).digest('hex').slice(0, 64);
    const out = await call('CreateLaunchTemplateVersion', () =>
      this.client.send(
        new CreateLaunchTemplateVersionCommand({ LaunchTemplateName: name, VersionDescription, LaunchTemplateData, ClientToken }),
      ),
    );
    const version = out.LaunchTemplateVersion?.VersionNumber ?? 1;
    // Bounded history: drop the version that fell out of the window (the first stays: it is the default).
    const stale = version - KEEP_TEMPLATE_VERSIONS;
    if (stale > 1) {
      await call('DeleteLaunchTemplateVersions', () =>
        this.client.send(new DeleteLaunchTemplateVersionsCommand({ LaunchTemplateName: name, Versions: [String(stale)] })),
      );
    }
    return version;
  }

  // ---- promotion ---------------------------------------------------------------------------

  async describeLaunchTemplate(ref: string): Promise<LaunchTemplateView | undefined> {
    const byId = /^lt-[0-9a-f]+$/.test(ref);
    const describe = () =>
      this.client.send(new DescribeLaunchTemplatesCommand(byId ? { LaunchTemplateIds: [ref] } : { LaunchTemplateNames: [ref] }));
    // A name that does not exist is an error, an id that does not exist too (EC2 answers either NotFound code).
    const out = await callOr(
      'DescribeLaunchTemplates',
      describe,
      new Set([...TEMPLATE_NOT_FOUND, 'InvalidLaunchTemplateId.Malformed']),
      undefined,
    );
    const t = out?.LaunchTemplates?.[0];
    if (!t?.LaunchTemplateId) return undefined;
    return {
      launchTemplateId: t.LaunchTemplateId,
      launchTemplateName: t.LaunchTemplateName ?? '',
      defaultVersion: t.DefaultVersionNumber ?? 1,
      latestVersion: t.LatestVersionNumber ?? 1,
      tags: tagRecord(t.Tags),
    };
  }

  async launchTemplateVersions(
    launchTemplateId: string,
    minVersion: number,
    maxVersion: number,
  ): Promise<Array<{ version: number; imageId: string | undefined }>> {
    const out: Array<{ version: number; imageId: string | undefined }> = [];
    const request = { LaunchTemplateId: launchTemplateId, MinVersion: String(minVersion), MaxVersion: String(maxVersion) };
    const paged = paginateDescribeLaunchTemplateVersions({ client: this.client, pageSize: 200 }, request);
    for await (const page of pages('DescribeLaunchTemplateVersions', paged, (p) =>
      (p.LaunchTemplateVersions ?? []).map((v) => ({ version: v.VersionNumber ?? 0, imageId: v.LaunchTemplateData?.ImageId })),
    )) {
      out.push(...page);
    }
    // EC2 promises no order: newest first.
    return out.sort((a, b) => b.version - a.version);
  }

  async createImageVersion(
    launchTemplateId: string,
    sourceVersion: number,
    imageId: string,
    clientToken: string,
    description: string,
  ): Promise<number> {
    const out = await call('CreateLaunchTemplateVersion', () =>
      this.client.send(
        new CreateLaunchTemplateVersionCommand({
          LaunchTemplateId: launchTemplateId,
          SourceVersion: String(sourceVersion),
          LaunchTemplateData: { ImageId: imageId },
          VersionDescription: description.slice(0, 255),
          ClientToken: clientToken,
        }),
      ),
    );
    return out.LaunchTemplateVersion?.VersionNumber ?? 0;
  }

  async setDefaultVersion(launchTemplateId: string, version: number): Promise<void> {
    await call('ModifyLaunchTemplate', () =>
      this.client.send(new ModifyLaunchTemplateCommand({ LaunchTemplateId: launchTemplateId, DefaultVersion: String(version) })),
    );
  }

  private async latestTemplateVersion(name: string): Promise<LaunchTemplateVersion | undefined> {
    const describe = () => this.client.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: name, Versions: ['$Latest'] }));
    const out = await callOr('DescribeLaunchTemplateVersions', describe, TEMPLATE_NOT_FOUND, undefined);
    return out?.LaunchTemplateVersions?.[0];
  }

  async readLaunchCapture(name: string): Promise<LaunchCapture | undefined> {
    const latest = await this.latestTemplateVersion(name);
    const config = latest?.LaunchTemplateData ? fromTemplateData(latest.LaunchTemplateData) : undefined;
    return config ? { config, description: latest?.VersionDescription ?? '' } : undefined;
  }

  async readLaunchConfig(name: string): Promise<StoredLaunchConfig | undefined> {
    const data = (await this.latestTemplateVersion(name))?.LaunchTemplateData;
    return data ? fromTemplateData(data) : undefined;
  }

  async tagElasticIp(publicIp: string, tags: Tags): Promise<string | undefined> {
    const out = await callOr(
      'DescribeAddresses',
      () => this.client.send(new DescribeAddressesCommand({ PublicIps: [publicIp] })),
      new Set(['InvalidAddress.NotFound']),
      undefined,
    );
    const allocationId = out?.Addresses?.[0]?.AllocationId;
    if (allocationId) await this.tagResources([allocationId], tags);
    return allocationId;
  }

  async findLineageAddresses(lineage: string): Promise<AddressView[]> {
    const out = await call('DescribeAddresses', () =>
      this.client.send(new DescribeAddressesCommand({ Filters: [{ Name: `tag:${TAG.lineage}`, Values: [lineage] }] })),
    );
    return (out.Addresses ?? []).flatMap(toAddressViews);
  }

  async runInstance(spec: RelaunchSpec): Promise<string> {
    const c = spec.config;
    return this.launchOne(spec, { ...launchSettings(c), ...launchNetwork(c, spec.keepPrivateIp) });
  }

  /** RunInstances of one instance, idempotent by its client token, the instance and its volumes tagged alike. */
  private async launchOne(
    spec: { imageId: string; clientToken: string; tags: Tags },
    settings: Omit<RunInstancesCommandInput, 'ImageId' | 'MinCount' | 'MaxCount' | 'ClientToken' | 'TagSpecifications'>,
  ): Promise<string> {
    const tags = toTagList(spec.tags);
    const out = await call('RunInstances', () =>
      this.client.send(
        new RunInstancesCommand({
          ImageId: spec.imageId,
          MinCount: 1,
          MaxCount: 1,
          ClientToken: spec.clientToken,
          ...settings,
          TagSpecifications: [
            { ResourceType: 'instance', Tags: tags },
            { ResourceType: 'volume', Tags: tags },
          ],
        }),
      ),
    );
    const id = out.Instances?.[0]?.InstanceId;
    if (!id) throw new Error('RunInstances answered without an instance');
    return id;
  }

  async disableSourceDestCheck(instanceId: string): Promise<void> {
    await call('ModifyInstanceAttribute', () =>
      this.client.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId, SourceDestCheck: { Value: false } })),
    );
  }

  async findFollowingVolumes(instanceIds: string[]): Promise<FollowingVolume[]> {
    const follow = { Name: `tag:${TAG.exclude}`, Values: [FOLLOW] };
    const read = (filters: Filter[]) =>
      collect(
        pages('DescribeVolumes', paginateDescribeVolumes({ client: this.client }, { Filters: [follow, ...filters] }), (p) =>
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

  async subnetZones(subnetIds: string[]): Promise<Record<string, string>> {
    if (subnetIds.length === 0) return {};
    // A filter, not SubnetIds: a subnet that no longer exists is left out, not an error of the whole call.
    const out = await call('DescribeSubnets', () =>
      this.client.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'subnet-id', Values: subnetIds }] })),
    );
    return Object.fromEntries(
      (out.Subnets ?? []).flatMap((s) => (s.SubnetId && s.AvailabilityZone ? [[s.SubnetId, s.AvailabilityZone]] : [])),
    );
  }

  async placementOf(instanceId: string): Promise<ReplacementPlacement | undefined> {
    const describe = () => this.client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const instance = (await callOr('DescribeInstances', describe, INSTANCE_NOT_FOUND, undefined))?.Reservations?.[0]?.Instances?.[0];
    if (!instance?.Placement?.AvailabilityZone) return undefined;
    return {
      availabilityZone: instance.Placement.AvailabilityZone,
      devices: (instance.BlockDeviceMappings ?? []).flatMap((m) => (m.DeviceName ? [m.DeviceName] : [])),
    };
  }

  async detachVolume(volumeId: string, instanceId: string): Promise<void> {
    // Never Force: "This option can lead to data loss or a corrupted file system" (API_DetachVolume).
    await call('DetachVolume', () => this.client.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId })));
  }

  async waitUntilDetached(volumeId: string, instanceId: string, maxWaitSeconds: number): Promise<void> {
    // Not the SDK's waitUntilVolumeAvailable: a duplicate delivery may attach the volume to the
    // replacement first, and then it never becomes available again. Done once it is off the instance.
    const deadline = Date.now() + maxWaitSeconds * 1000;
    for (;;) {
      const out = await call('DescribeVolumes', () => this.client.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] })));
      const volume = out.Volumes?.[0];
      const on = volume?.Attachments?.find((a) => a.InstanceId === instanceId && a.State !== 'detached');
      if (!volume || !on) return;
      if (Date.now() >= deadline)
        throw new AwsCallError('TimeoutError', 'DescribeVolumes', `${volumeId} is still ${on.State} on ${instanceId}`, true);
      await new Promise((r) => setTimeout(r, 2_000));
    }
  }

  async attachVolume(volumeId: string, instanceId: string, device: string): Promise<void> {
    await call('AttachVolume', () =>
      this.client.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: device })),
    );
  }

  async instanceTypeArchitectures(instanceTypes: string[]): Promise<Record<string, string[]>> {
    // A filter rather than InstanceTypes: a type EC2 does not know is left out of the answer, not an error of the whole call.
    // ProcessorInfo.SupportedArchitectures: EC2 API reference, ProcessorInfo
    // (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ProcessorInfo.html).
    const out = await call('DescribeInstanceTypes', () =>
      this.client.send(new DescribeInstanceTypesCommand({ Filters: [{ Name: 'instance-type', Values: instanceTypes }] })),
    );
    return Object.fromEntries(
      (out.InstanceTypes ?? []).flatMap((t) => (t.InstanceType ? [[t.InstanceType, t.ProcessorInfo?.SupportedArchitectures ?? []]] : [])),
    );
  }

  async waitUntilRunning(instanceId: string, maxWaitSeconds: number): Promise<void> {
    await this.waitForState(instanceId, 'running', ['pending'], maxWaitSeconds);
  }

  async stopInstance(instanceId: string): Promise<'stopping' | 'gone'> {
    // Never Force: a forced stop gives the instance no "opportunity to flush file system caches or
    // file system metadata" (API_StopInstances, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_StopInstances.html).
    const stop = async () => {
      await this.client.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
      return 'stopping' as const;
    };
    return callOr('StopInstances', stop, INSTANCE_NOT_FOUND, 'gone' as const);
  }

  async waitUntilStopped(instanceId: string, maxWaitSeconds: number): Promise<void> {
    // Just after StopInstances, DescribeInstances may still say running (eventual consistency).
    await this.waitForState(instanceId, 'stopped', ['running', 'stopping'], maxWaitSeconds);
  }

  /**
   * Not the SDK's waiters: they poll on through every error, a refused DescribeInstances
   * included, until their time is up. Here only an instance in a state on its way to `target`
   * (or one EC2 does not list yet, just after its launch) is polled again; a refusal, or any
   * other state, fails at once.
   */
  private async waitForState(instanceId: string, target: string, onTheWay: readonly string[], maxWaitSeconds: number): Promise<void> {
    const deadline = Date.now() + maxWaitSeconds * 1000;
    for (let delay = 2_000; ; delay = Math.min(delay * 2, 10_000)) {
      const describe = () => this.client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
      const out = await callOr('DescribeInstances', describe, INSTANCE_NOT_FOUND, undefined);
      const state = out?.Reservations?.[0]?.Instances?.[0]?.State?.Name;
      if (state === target) return;
      if (state !== undefined && !onTheWay.includes(state))
        throw new AwsCallError('IncorrectInstanceState', 'DescribeInstances', `${instanceId} is ${state}, not ${target}`, false);
      if (Date.now() + delay > deadline)
        throw new AwsCallError('TimeoutError', 'DescribeInstances', `${instanceId} is not ${target} after ${maxWaitSeconds} s`, true);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  async associateAddress(allocationId: string, instanceId: string): Promise<void> {
    await call('AssociateAddress', () =>
      this.client.send(new AssociateAddressCommand({ AllocationId: allocationId, InstanceId: instanceId, AllowReassociation: true })),
    );
  }

  async terminateInstance(instanceId: string): Promise<'terminated' | 'gone'> {
    const terminate = async () => {
      await this.client.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
      return 'terminated' as const;
    };
    return callOr('TerminateInstances', terminate, INSTANCE_NOT_FOUND, 'gone' as const);
  }

  async describeStatusChecks(instanceId: string): Promise<StatusChecks | undefined> {
    // Without IncludeAllInstances EC2 answers for running instances only: a stopped one has no checks to fail.
    const read = async () => {
      const out = await this.client.send(new DescribeInstanceStatusCommand({ InstanceIds: [instanceId] }));
      const status = out.InstanceStatuses?.find((s) => s.InstanceId === instanceId);
      return status
        ? { system: status.SystemStatus?.Status ?? 'not-applicable', instance: status.InstanceStatus?.Status ?? 'not-applicable' }
        : undefined;
    };
    return callOr('DescribeInstanceStatus', read, INSTANCE_NOT_FOUND, undefined);
  }

  async rebootInstance(instanceId: string): Promise<void> {
    // An instance that is gone has nothing to reboot: its state change is recovery's next signal.
    const reboot = async () => {
      await this.client.send(new RebootInstancesCommand({ InstanceIds: [instanceId] }));
    };
    await callOr('RebootInstances', reboot, INSTANCE_NOT_FOUND, undefined);
  }

  // ---- verification (issue 15) ----------------------------------------------------------------

  listImagesByStatus(managedBy: string, status: string): AsyncIterable<ImageView[]> {
    return this.imagePages([
      { Name: `tag:${TAG.managedBy}`, Values: [managedBy] },
      { Name: `tag:${TAG.status}`, Values: [status] },
    ]);
  }

  async listTestInstances(managedBy: string, imageId?: string): Promise<TestInstance[]> {
    const Filters: Filter[] = [
      { Name: `tag:${TAG.managedBy}`, Values: [managedBy] },
      { Name: `tag:${TAG.role}`, Values: [VERIFICATION_ROLE] },
      ...(imageId ? [{ Name: `tag:${TAG.verifies}`, Values: [imageId] }] : []),
    ];
    const found = await collect(
      pages('DescribeInstances', paginateDescribeInstances({ client: this.client, pageSize: this.pageSize }, { Filters }), (page) =>
        (page.Reservations ?? []).flatMap((r) => r.Instances ?? []),
      ),
    );
    return found.map((i) => ({
      instanceId: i.InstanceId ?? '',
      state: i.State?.Name ?? 'unknown',
      launchTime: i.LaunchTime ?? new Date(0),
      imageId: tagRecord(i.Tags)[TAG.verifies],
      instanceType: i.InstanceType,
    }));
  }

  async runTestInstance(spec: TestLaunchSpec): Promise<string> {
    return this.launchOne(spec, {
      InstanceType: spec.instanceType as never,
      // No key pair; no public address, whatever the subnet assigns by default.
      NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: spec.subnetId, Groups: [spec.securityGroupId], AssociatePublicIpAddress: false }],
      // A shutdown from inside ends it: a test instance never lingers stopped.
      InstanceInitiatedShutdownBehavior: 'terminate',
      MetadataOptions: { HttpTokens: 'required' },
      ...(spec.iamInstanceProfileArn ? { IamInstanceProfile: { Arn: spec.iamInstanceProfileArn } } : {}),
      // Every volume goes with the test instance, whatever the image's own DeleteOnTermination says.
      ...(spec.devices.length > 0
        ? { BlockDeviceMappings: spec.devices.map((DeviceName) => ({ DeviceName, Ebs: { DeleteOnTermination: true } })) }
        : {}),
    });
  }

  async consoleOutput(instanceId: string): Promise<string | undefined> {
    // Latest: the newest output, on the instance types that keep it ("Get console output",
    // https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_GetConsoleOutput.html); base64.
    const read = async () => {
      const out = await this.client.send(new GetConsoleOutputCommand({ InstanceId: instanceId, Latest: true }));
      return out.Output ? Buffer.from(out.Output, 'base64').toString('utf8') : undefined;
    };
    return callOr('GetConsoleOutput', read, new Set([...INSTANCE_NOT_FOUND, 'UnsupportedOperation']), undefined);
  }
}
