/**
 * EC2's shapes to the domain's and back: what the gateway reads from DescribeImages,
 * DescribeInstances, DescribeSnapshots, DescribeLaunchTemplateVersions and DescribeAddresses,
 * and what it sends to RunInstances and CreateLaunchTemplate(Version). Pure: no client, no call.
 */
import type {
  Address,
  Image,
  Instance,
  LaunchTemplateVersion,
  RequestLaunchTemplateData,
  ResponseLaunchTemplateData,
  Snapshot,
} from '@aws-sdk/client-ec2';
import type { InstanceSummary } from '../domain/bake.js';
import type { ImageView } from '../domain/image-status.js';
import type { LaunchConfig, StoredLaunchConfig } from '../domain/launch.js';
import { tagRecord, type Tags } from '../domain/tags.js';
import type { AddressView, LaunchTemplateImage, SnapshotView } from '../use-cases/ec2-ports.js';

export const toTagList = (tags: Tags) => Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));

export function toImageView(image: Image): ImageView {
  return {
    imageId: image.ImageId ?? '',
    name: image.Name ?? '',
    state: image.State ?? 'unknown',
    stateReason: image.StateReason?.Message,
    creationDate: image.CreationDate,
    tags: tagRecord(image.Tags),
    snapshotIds: (image.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : [])),
    ...(image.SourceInstanceId ? { sourceInstanceId: image.SourceInstanceId } : {}),
    ...(image.DeprecationTime ? { deprecationTime: image.DeprecationTime } : {}),
  };
}

/** What a replacement needs, read from the instance's own description (user data aside). */
function launchConfigOf(instance: Instance, tags: Tags): LaunchConfig | undefined {
  if (!instance.InstanceType) return undefined;
  const primary = instance.NetworkInterfaces?.find((n) => n.Attachment?.DeviceIndex === 0) ?? instance.NetworkInterfaces?.[0];
  // An Elastic IP is owned by the account; an auto-assigned public IP by 'amazon'.
  const association = primary?.Association;
  const elasticIp = association?.PublicIp && association.IpOwnerId && association.IpOwnerId !== 'amazon' ? association.PublicIp : undefined;
  return {
    instanceType: instance.InstanceType,
    subnetId: instance.SubnetId,
    securityGroupIds: (instance.SecurityGroups ?? []).flatMap((g) => (g.GroupId ? [g.GroupId] : [])),
    keyName: instance.KeyName,
    iamInstanceProfileArn: instance.IamInstanceProfile?.Arn,
    ebsOptimized: instance.EbsOptimized ?? false,
    monitoring: instance.Monitoring?.State === 'enabled' || instance.Monitoring?.State === 'pending',
    metadataOptions: readMetadataOptions(instance.MetadataOptions),
    elasticIp,
    tags,
  };
}

/** The EBS volumes attached, by device: what the image may leave out. */
function volumesOf(instance: Instance): Pick<InstanceSummary, 'volumes'> {
  const volumes = (instance.BlockDeviceMappings ?? []).flatMap((m) =>
    m.DeviceName && m.Ebs?.VolumeId ? [{ deviceName: m.DeviceName, volumeId: m.Ebs.VolumeId }] : [],
  );
  return volumes.length > 0 ? { volumes } : {};
}

export function toInstanceSummary(instance: Instance): InstanceSummary {
  const tags = tagRecord(instance.Tags);
  return {
    instanceId: instance.InstanceId ?? '',
    state: instance.State?.Name ?? 'unknown',
    tags,
    imageId: instance.ImageId,
    launchTime: instance.LaunchTime,
    stateReasonCode: instance.StateReason?.Code || undefined,
    launch: launchConfigOf(instance, tags),
    rootDeviceName: instance.RootDeviceName,
    ...volumesOf(instance),
  };
}

/** EC2 spells metadata options alike in instances, launch templates and RunInstances. */
interface Ec2MetadataOptions {
  HttpTokens?: string | undefined;
  HttpEndpoint?: string | undefined;
  HttpPutResponseHopLimit?: number | undefined;
  InstanceMetadataTags?: string | undefined;
}

function readMetadataOptions(m: Ec2MetadataOptions | undefined): LaunchConfig['metadataOptions'] {
  return m
    ? {
        httpTokens: m.HttpTokens,
        httpEndpoint: m.HttpEndpoint,
        httpPutResponseHopLimit: m.HttpPutResponseHopLimit,
        instanceMetadataTags: m.InstanceMetadataTags,
      }
    : undefined;
}

/** The launch settings RunInstances and launch template data share (the network is spelt differently). */
export function launchSettings(config: StoredLaunchConfig) {
  const m = config.metadataOptions;
  return {
    InstanceType: config.instanceType as never,
    KeyName: config.keyName,
    ...(config.iamInstanceProfileArn ? { IamInstanceProfile: { Arn: config.iamInstanceProfileArn } } : {}),
    EbsOptimized: config.ebsOptimized,
    Monitoring: { Enabled: config.monitoring },
    ...(m
      ? {
          MetadataOptions: {
            HttpTokens: m.httpTokens as never,
            HttpEndpoint: m.httpEndpoint as never,
            HttpPutResponseHopLimit: m.httpPutResponseHopLimit,
            InstanceMetadataTags: m.instanceMetadataTags as never,
          },
        }
      : {}),
    UserData: config.userData,
  };
}

/** A captured configuration as launch template data: no image (recovery picks it at launch). */
export function toTemplateData(config: StoredLaunchConfig): RequestLaunchTemplateData {
  return {
    ...launchSettings(config),
    NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: config.subnetId, Groups: config.securityGroupIds }],
    TagSpecifications: [{ ResourceType: 'instance', Tags: toTagList(config.tags) }],
  };
}

export function fromTemplateData(data: ResponseLaunchTemplateData): StoredLaunchConfig | undefined {
  if (!data.InstanceType) return undefined;
  const nic = data.NetworkInterfaces?.find((n) => (n.DeviceIndex ?? 0) === 0);
  return {
    instanceType: data.InstanceType,
    subnetId: nic?.SubnetId,
    securityGroupIds: nic?.Groups ?? data.SecurityGroupIds ?? [],
    keyName: data.KeyName,
    iamInstanceProfileArn: data.IamInstanceProfile?.Arn,
    ebsOptimized: data.EbsOptimized ?? false,
    monitoring: data.Monitoring?.Enabled ?? false,
    metadataOptions: readMetadataOptions(data.MetadataOptions),
    userData: data.UserData,
    tags: tagRecord(data.TagSpecifications?.find((t) => t.ResourceType === 'instance')?.Tags),
  };
}

export function toSnapshotView(s: Snapshot): SnapshotView {
  return {
    snapshotId: s.SnapshotId ?? '',
    // The full size where EC2 reports it, else the volume's provisioned GiB.
    sizeBytes: s.FullSnapshotSizeInBytes ?? (s.VolumeSize ?? 0) * 2 ** 30,
    startTime: s.StartTime ?? new Date(0),
    tags: tagRecord(s.Tags),
  };
}

/** The image a launch template version names, if it names one. */
export function toLaunchTemplateImages(v: LaunchTemplateVersion): LaunchTemplateImage[] {
  return v.LaunchTemplateData?.ImageId
    ? [
        {
          launchTemplateId: v.LaunchTemplateId ?? '',
          version: v.VersionNumber ?? 0,
          isDefault: v.DefaultVersion ?? false,
          imageId: v.LaunchTemplateData.ImageId,
        },
      ]
    : [];
}

/** An Elastic IP of the VPC (allocation id and address), if it is one. */
export function toAddressViews(a: Address): AddressView[] {
  return a.AllocationId && a.PublicIp
    ? [{ allocationId: a.AllocationId, publicIp: a.PublicIp, instanceId: a.InstanceId || undefined }]
    : [];
}
