/**
 * EC2's shapes to the domain's and back: what the gateway reads from DescribeImages,
 * DescribeInstances, DescribeSnapshots, DescribeLaunchTemplateVersions and DescribeAddresses,
 * and what it sends to RunInstances and CreateLaunchTemplate(Version). Pure: no client, no call.
 */
import type {
  Address,
  Image,
  Instance,
  InstanceNetworkInterface,
  Placement,
  LaunchTemplateVersion,
  RequestLaunchTemplateData,
  ResponseLaunchTemplateData,
  Snapshot,
  SpotInstanceRequest,
} from '@aws-sdk/client-ec2';
import type { InstanceSummary } from '../domain/bake.js';
import type { ImageView } from '../domain/image-status.js';
import type { LaunchConfig, NetworkInterfaceConfig, StoredLaunchConfig } from '../domain/launch.js';
import { tagRecord, type Tags } from '../domain/tags.js';
import type { AddressView, LaunchTemplateImage, OwnedImageView, SnapshotView } from '../use-cases/ec2-ports.js';

export const toTagList = (tags: Tags) => Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));

export function toImageView(image: Image): ImageView {
  const ebsDevices = (image.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs && m.DeviceName ? [m.DeviceName] : []));
  return {
    imageId: image.ImageId ?? '',
    name: image.Name ?? '',
    state: image.State ?? 'unknown',
    stateReason: image.StateReason?.Message,
    creationDate: image.CreationDate,
    tags: tagRecord(image.Tags),
    snapshotIds: (image.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : [])),
    ...(image.SourceInstanceId ? { sourceInstanceId: image.SourceInstanceId } : {}),
    ...(image.SourceImageId ? { sourceImageId: image.SourceImageId } : {}),
    ...(image.SourceImageRegion ? { sourceImageRegion: image.SourceImageRegion } : {}),
    ...(ebsDevices.length > 0 ? { ebsDevices } : {}),
    ...(image.DeprecationTime ? { deprecationTime: image.DeprecationTime } : {}),
  };
}

/**
 * An owned image as `stale` reads it. LastLaunchedTime: "The date and time, in ISO 8601 date-time
 * format, when the AMI was last used to launch an EC2 instance. When the AMI is used to launch an
 * instance, there is a 24-hour delay before that usage is reported." (API reference, Image,
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html): DescribeImages reports it
 * to the owner, so no DescribeImageAttribute lastLaunchedTime call per image is needed.
 */
export function toOwnedImageView(image: Image): OwnedImageView {
  return {
    ...toImageView(image),
    ...(image.LastLaunchedTime ? { lastLaunchedTime: image.LastLaunchedTime } : {}),
    public: image.Public === true,
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
    ...(instance.SourceDestCheck === false ? { sourceDestCheck: false } : {}),
    ...definedOnly('cpuOptions', {
      coreCount: instance.CpuOptions?.CoreCount,
      threadsPerCore: instance.CpuOptions?.ThreadsPerCore,
      amdSevSnp: instance.CpuOptions?.AmdSevSnp,
    }),
    ...definedOnly('placement', placementOf(instance.Placement)),
    ...(instance.HibernationOptions?.Configured ? { hibernation: true } : {}),
    ...networkOf(instance, primary),
    ...(instance.PrivateIpAddress ? { privateIpAddress: instance.PrivateIpAddress } : {}),
    ...(instance.InstanceLifecycle === 'spot'
      ? { spot: instance.SpotInstanceRequestId ? { requestId: instance.SpotInstanceRequestId } : {} }
      : {}),
  };
}

/** The EBS volumes attached, by device: what the image may leave out. */
function volumesOf(instance: Instance): Pick<InstanceSummary, 'volumes'> {
  const volumes = (instance.BlockDeviceMappings ?? []).flatMap((m) =>
    m.DeviceName && m.Ebs?.VolumeId ? [{ deviceName: m.DeviceName, volumeId: m.Ebs.VolumeId }] : [],
  );
  return volumes.length > 0 ? { volumes } : {};
}

/** `{ [key]: value }` when value has a defined field, else nothing: an absent setting is left out of the digest. */
function definedOnly<K extends string, V extends object>(key: K, value: V): { [k in K]?: V } {
  return Object.values(value).some((v) => v !== undefined) ? ({ [key]: value } as { [k in K]: V }) : {};
}

/** The placement that pins an instance; the zone is the subnet's, and the default tenancy is EC2's default. */
function placementOf(p: Placement | undefined): NonNullable<LaunchConfig['placement']> {
  return {
    groupName: p?.GroupName || undefined,
    partitionNumber: p?.PartitionNumber,
    tenancy: p?.Tenancy && p.Tenancy !== 'default' ? p.Tenancy : undefined,
    hostId: p?.HostId || undefined,
    affinity: p?.Affinity || undefined,
    hostResourceGroupArn: p?.HostResourceGroupArn || undefined,
  };
}

/**
 * The instance's interfaces, when they are more than its primary with one private address
 * (secondary interfaces, secondary addresses, IPv6 addresses, a special interface type).
 * An ordinary instance keeps the shape earlier versions captured: subnet and groups only.
 */
function networkOf(instance: Instance, primary: InstanceNetworkInterface | undefined): Pick<LaunchConfig, 'networkInterfaces'> {
  const nics = (instance.NetworkInterfaces ?? []).filter((n) => n.Attachment?.DeviceIndex !== undefined);
  const ordinary =
    nics.length <= 1 &&
    (primary?.PrivateIpAddresses ?? []).length <= 1 &&
    (primary?.Ipv6Addresses ?? []).length === 0 &&
    (!primary?.InterfaceType || primary.InterfaceType === 'interface');
  if (ordinary) return {};
  const interfaces = nics
    .map((n): NetworkInterfaceConfig => {
      const secondary = (n.PrivateIpAddresses ?? []).filter((a) => !a.Primary && a.PrivateIpAddress).map((a) => a.PrivateIpAddress ?? '');
      return {
        deviceIndex: n.Attachment?.DeviceIndex ?? 0,
        ...(n.Attachment?.NetworkCardIndex ? { networkCardIndex: n.Attachment.NetworkCardIndex } : {}),
        subnetId: n.SubnetId,
        securityGroupIds: (n.Groups ?? []).flatMap((g) => (g.GroupId ? [g.GroupId] : [])),
        ...(n.Description ? { description: n.Description } : {}),
        ...(n.InterfaceType && n.InterfaceType !== 'interface' ? { interfaceType: n.InterfaceType } : {}),
        ...(n.PrivateIpAddress ? { privateIpAddress: n.PrivateIpAddress } : {}),
        ...(secondary.length > 0 ? { secondaryPrivateIpAddresses: secondary } : {}),
        ...((n.Ipv6Addresses ?? []).length > 0 ? { ipv6AddressCount: n.Ipv6Addresses?.length } : {}),
      };
    })
    .sort((a, b) => (a.networkCardIndex ?? 0) - (b.networkCardIndex ?? 0) || a.deviceIndex - b.deviceIndex);
  return { networkInterfaces: interfaces };
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
  HttpProtocolIpv6?: string | undefined;
}

function readMetadataOptions(m: Ec2MetadataOptions | undefined): LaunchConfig['metadataOptions'] {
  return m
    ? {
        httpTokens: m.HttpTokens,
        httpEndpoint: m.HttpEndpoint,
        httpPutResponseHopLimit: m.HttpPutResponseHopLimit,
        instanceMetadataTags: m.InstanceMetadataTags,
        ...(m.HttpProtocolIpv6 ? { httpProtocolIpv6: m.HttpProtocolIpv6 } : {}),
      }
    : undefined;
}

/** `{ [key]: value }` unless value is undefined: a setting never captured is never sent. */
const present = <K extends string, V>(key: K, value: V | undefined): { [k in K]?: V } =>
  value === undefined ? {} : ({ [key]: value } as { [k in K]: V });

/** The launch settings RunInstances and launch template data share (the network is spelt differently). */
export function launchSettings(config: StoredLaunchConfig) {
  const m = config.metadataOptions;
  const p = config.placement;
  const cpu = config.cpuOptions;
  return {
    InstanceType: config.instanceType as never,
    KeyName: config.keyName,
    ...(config.iamInstanceProfileArn
      ? { IamInstanceProfile: { Arn: config.iamInstanceProfileArn } }
      : config.iamInstanceProfileName
        ? { IamInstanceProfile: { Name: config.iamInstanceProfileName } }
        : {}),
    EbsOptimized: config.ebsOptimized,
    Monitoring: { Enabled: config.monitoring },
    ...(m
      ? {
          MetadataOptions: {
            HttpTokens: m.httpTokens as never,
            HttpEndpoint: m.httpEndpoint as never,
            HttpPutResponseHopLimit: m.httpPutResponseHopLimit,
            InstanceMetadataTags: m.instanceMetadataTags as never,
            ...present('HttpProtocolIpv6', m.httpProtocolIpv6 as never),
          },
        }
      : {}),
    UserData: config.userData,
    ...present('DisableApiTermination', config.disableApiTermination),
    ...present('DisableApiStop', config.disableApiStop),
    ...present('InstanceInitiatedShutdownBehavior', config.shutdownBehavior as never),
    ...(cpu
      ? {
          CpuOptions: {
            ...present('CoreCount', cpu.coreCount),
            ...present('ThreadsPerCore', cpu.threadsPerCore),
            ...present('AmdSevSnp', cpu.amdSevSnp as never),
          },
        }
      : {}),
    ...(config.cpuCredits ? { CreditSpecification: { CpuCredits: config.cpuCredits } } : {}),
    ...(p
      ? {
          Placement: {
            ...present('GroupName', p.groupName),
            ...present('PartitionNumber', p.partitionNumber),
            ...present('Tenancy', p.tenancy as never),
            ...present('HostId', p.hostId),
            ...present('Affinity', p.affinity),
            ...present('HostResourceGroupArn', p.hostResourceGroupArn),
          },
        }
      : {}),
    ...(config.hibernation ? { HibernationOptions: { Configured: true } } : {}),
    ...(config.spot
      ? {
          InstanceMarketOptions: {
            MarketType: 'spot' as const,
            SpotOptions: {
              ...present('MaxPrice', config.spot.maxPrice),
              ...present('SpotInstanceType', config.spot.spotInstanceType as never),
              // With hibernation configured EC2 sets hibernate itself and refuses stop or terminate (same page as spotOptionsOf).
              ...(config.hibernation && config.spot.interruptionBehavior !== 'hibernate'
                ? {}
                : present('InstanceInterruptionBehavior', config.spot.interruptionBehavior as never)),
            },
          },
        }
      : {}),
  };
}

/**
 * The network of a launch. An ordinary instance is launched as earlier versions launched it
 * (subnet and groups), so that the subnet's public IP setting applies as before. Several
 * interfaces, secondary addresses or IPv6 addresses need NetworkInterfaces: each interface is
 * created anew in its subnet with its groups, with as many secondary addresses as it had (their
 * old values are held by the failed instance's interfaces while it exists). The primary private
 * address is asked for only when `keepPrivateIp` says so (the caller knows the address is free).
 */
export function launchNetwork(config: StoredLaunchConfig, keepPrivateIp = false) {
  const privateIp = keepPrivateIp ? config.privateIpAddress : undefined;
  if (!config.networkInterfaces?.length) {
    return {
      SubnetId: config.subnetId,
      SecurityGroupIds: config.securityGroupIds.length > 0 ? config.securityGroupIds : undefined,
      ...present('PrivateIpAddress', privateIp),
    };
  }
  return {
    NetworkInterfaces: config.networkInterfaces.map((n) => ({
      DeviceIndex: n.deviceIndex,
      ...present('NetworkCardIndex', n.networkCardIndex),
      SubnetId: n.subnetId,
      ...(n.securityGroupIds.length > 0 ? { Groups: n.securityGroupIds } : {}),
      ...present('Description', n.description),
      ...present('InterfaceType', n.interfaceType),
      ...(n.deviceIndex === 0 && (n.networkCardIndex ?? 0) === 0 ? present('PrivateIpAddress', privateIp) : {}),
      ...(n.secondaryPrivateIpAddresses?.length ? { SecondaryPrivateIpAddressCount: n.secondaryPrivateIpAddresses.length } : {}),
      ...present('Ipv6AddressCount', n.ipv6AddressCount),
    })),
  };
}

/**
 * Where the template keeps the source/destination check, which launch template data cannot
 * hold (neither RunInstances nor RequestLaunchTemplateData has the member): a tag of the
 * data's network-interface tag specification. The service never launches from the template,
 * so the tag never lands on an interface.
 */
export const SOURCE_DEST_CHECK_KEY = 'ami-lifecycle:source-dest-check';

/** A captured configuration as launch template data: no image (recovery picks it at launch). */
export function toTemplateData(config: StoredLaunchConfig): RequestLaunchTemplateData {
  const { UserData, ...settings } = launchSettings(config);
  const nics = config.networkInterfaces?.length
    ? config.networkInterfaces.map((n) => ({
        DeviceIndex: n.deviceIndex,
        ...present('NetworkCardIndex', n.networkCardIndex),
        SubnetId: n.subnetId,
        Groups: n.securityGroupIds,
        ...present('Description', n.description),
        ...present('InterfaceType', n.interfaceType),
        ...(n.privateIpAddress || n.secondaryPrivateIpAddresses?.length
          ? {
              PrivateIpAddresses: [
                ...(n.privateIpAddress ? [{ Primary: true, PrivateIpAddress: n.privateIpAddress }] : []),
                ...(n.secondaryPrivateIpAddresses ?? []).map((a) => ({ Primary: false, PrivateIpAddress: a })),
              ],
            }
          : {}),
        ...present('Ipv6AddressCount', n.ipv6AddressCount),
      }))
    : [
        {
          DeviceIndex: 0,
          SubnetId: config.subnetId,
          Groups: config.securityGroupIds,
          ...present('PrivateIpAddress', config.privateIpAddress),
        },
      ];
  return {
    ...settings,
    UserData,
    NetworkInterfaces: nics,
    TagSpecifications: [
      { ResourceType: 'instance', Tags: toTagList(config.tags) },
      ...(config.sourceDestCheck === false
        ? [{ ResourceType: 'network-interface' as const, Tags: toTagList({ [SOURCE_DEST_CHECK_KEY]: 'false' }) }]
        : []),
    ],
  };
}

export function fromTemplateData(data: ResponseLaunchTemplateData): StoredLaunchConfig | undefined {
  if (!data.InstanceType) return undefined;
  const nic = data.NetworkInterfaces?.find((n) => (n.DeviceIndex ?? 0) === 0 && (n.NetworkCardIndex ?? 0) === 0);
  const primaryIp = nic?.PrivateIpAddress ?? nic?.PrivateIpAddresses?.find((a) => a.Primary)?.PrivateIpAddress;
  const p = data.Placement;
  const cpu = data.CpuOptions;
  const spot = data.InstanceMarketOptions?.MarketType === 'spot' ? (data.InstanceMarketOptions.SpotOptions ?? {}) : undefined;
  const interfaceTags = tagRecord(data.TagSpecifications?.find((t) => t.ResourceType === 'network-interface')?.Tags);
  const nics = data.NetworkInterfaces ?? [];
  const detailed =
    nics.length > 1 || nics.some((n) => (n.PrivateIpAddresses?.length ?? 0) > 0 || n.Ipv6AddressCount !== undefined || n.InterfaceType);
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
    ...(interfaceTags[SOURCE_DEST_CHECK_KEY] === 'false' ? { sourceDestCheck: false } : {}),
    ...present('disableApiTermination', data.DisableApiTermination),
    ...present('disableApiStop', data.DisableApiStop),
    ...present('shutdownBehavior', data.InstanceInitiatedShutdownBehavior),
    ...present('cpuCredits', data.CreditSpecification?.CpuCredits),
    ...(cpu ? definedOnly('cpuOptions', { coreCount: cpu.CoreCount, threadsPerCore: cpu.ThreadsPerCore, amdSevSnp: cpu.AmdSevSnp }) : {}),
    ...(p ? definedOnly('placement', placementOf(p)) : {}),
    ...(data.HibernationOptions?.Configured ? { hibernation: true } : {}),
    ...(primaryIp ? { privateIpAddress: primaryIp } : {}),
    ...(spot
      ? {
          spot: {
            ...present('maxPrice', spot.MaxPrice),
            ...present('spotInstanceType', spot.SpotInstanceType),
            ...present('interruptionBehavior', spot.InstanceInterruptionBehavior),
          },
        }
      : {}),
    ...(detailed
      ? {
          networkInterfaces: nics.map((n) => {
            const secondary = (n.PrivateIpAddresses ?? [])
              .filter((a) => !a.Primary)
              .flatMap((a) => (a.PrivateIpAddress ? [a.PrivateIpAddress] : []));
            const own = n.PrivateIpAddress ?? n.PrivateIpAddresses?.find((a) => a.Primary)?.PrivateIpAddress;
            return {
              deviceIndex: n.DeviceIndex ?? 0,
              ...present('networkCardIndex', n.NetworkCardIndex),
              subnetId: n.SubnetId,
              securityGroupIds: n.Groups ?? [],
              ...present('description', n.Description),
              ...present('interfaceType', n.InterfaceType),
              ...present('privateIpAddress', own),
              ...(secondary.length > 0 ? { secondaryPrivateIpAddresses: secondary } : {}),
              ...present('ipv6AddressCount', n.Ipv6AddressCount),
            };
          }),
        }
      : {}),
  };
}

/**
 * The spot options a replacement asks for, from the failed instance's spot request: its maximum
 * price, type and interruption behaviour. RunInstances takes a persistent request only with the
 * stop or hibernate behaviour ("For RunInstances, persistent Spot Instance requests are only
 * supported when the instance interruption behavior is either hibernate or stop": EC2 API
 * reference, SpotMarketOptions, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_SpotMarketOptions.html),
 * so a persistent request that terminates (made by RequestSpotInstances) becomes one-time.
 * An unknown request (EC2 forgets closed ones) gives EC2's defaults.
 */
export function spotOptionsOf(request: SpotInstanceRequest | undefined): NonNullable<LaunchConfig['spot']> {
  if (!request) return {};
  const behavior = request.InstanceInterruptionBehavior;
  const persistent = request.Type === 'persistent' && (behavior === 'stop' || behavior === 'hibernate');
  return {
    ...(request.SpotPrice ? { maxPrice: request.SpotPrice } : {}),
    spotInstanceType: persistent ? 'persistent' : 'one-time',
    // A one-time request can only terminate (stop and hibernate need a persistent one).
    ...(behavior ? { interruptionBehavior: persistent ? behavior : 'terminate' } : {}),
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
