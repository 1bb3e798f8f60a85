/**
 * The fuller launch configuration (issue 14): what DescribeInstances gives is read into the
 * configuration (and its digest), what only other calls give is read at capture, all of it
 * survives the launch template, and RunInstances gets it back. Earlier captures still relaunch
 * as they did.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DescribeInstanceAttributeCommand,
  DescribeInstanceCreditSpecificationsCommand,
  DescribeSpotInstanceRequestsCommand,
  ModifyInstanceAttributeCommand,
  RunInstancesCommand,
  type Instance,
  type ResponseLaunchTemplateData,
} from '@aws-sdk/client-ec2';
import {
  fromTemplateData,
  launchNetwork,
  launchSettings,
  spotOptionsOf,
  toInstanceSummary,
  toTemplateData,
} from '../../../shared/aws/ec2-mappers.js';
import type { LaunchConfig, StoredLaunchConfig } from '../../../shared/domain/launch.js';
import { awsError, ec2Mock, gateway } from './support.js';

const INSTANCE_ID = 'i-0123456789abcdef0';

/** A NAT-like spot instance with a second interface, a secondary address, IPv6, a partition placement group. */
const natInstance: Instance = {
  InstanceId: INSTANCE_ID,
  InstanceType: 'c7i.large',
  State: { Name: 'running', Code: 16 },
  SubnetId: 'subnet-0a',
  PrivateIpAddress: '10.0.1.10',
  SecurityGroups: [{ GroupId: 'sg-0a' }],
  EbsOptimized: true,
  Monitoring: { State: 'disabled' },
  SourceDestCheck: false,
  CpuOptions: { CoreCount: 1, ThreadsPerCore: 1 },
  Placement: { AvailabilityZone: 'us-east-1a', GroupName: 'nat-pg', PartitionNumber: 2, Tenancy: 'default' },
  HibernationOptions: { Configured: false },
  InstanceLifecycle: 'spot',
  SpotInstanceRequestId: 'sir-0123',
  MetadataOptions: {
    HttpTokens: 'required',
    HttpEndpoint: 'enabled',
    HttpPutResponseHopLimit: 1,
    InstanceMetadataTags: 'enabled',
    HttpProtocolIpv6: 'enabled',
  },
  NetworkInterfaces: [
    {
      NetworkInterfaceId: 'eni-1',
      SubnetId: 'subnet-0b',
      Groups: [{ GroupId: 'sg-0b' }, { GroupId: 'sg-0c' }],
      Description: 'inside',
      Attachment: { DeviceIndex: 1, DeleteOnTermination: false },
      PrivateIpAddress: '10.0.2.20',
      PrivateIpAddresses: [{ Primary: true, PrivateIpAddress: '10.0.2.20' }],
    },
    {
      NetworkInterfaceId: 'eni-0',
      SubnetId: 'subnet-0a',
      Groups: [{ GroupId: 'sg-0a' }],
      Attachment: { DeviceIndex: 0, DeleteOnTermination: true },
      PrivateIpAddress: '10.0.1.10',
      PrivateIpAddresses: [
        { Primary: true, PrivateIpAddress: '10.0.1.10' },
        { Primary: false, PrivateIpAddress: '10.0.1.11' },
      ],
      Ipv6Addresses: [{ Ipv6Address: '2001:db8::10' }],
      SourceDestCheck: false,
    },
  ],
  Tags: [{ Key: 'Name', Value: 'nat' }],
};

const natConfig: LaunchConfig = {
  instanceType: 'c7i.large',
  subnetId: 'subnet-0a',
  securityGroupIds: ['sg-0a'],
  keyName: undefined,
  iamInstanceProfileArn: undefined,
  ebsOptimized: true,
  monitoring: false,
  metadataOptions: {
    httpTokens: 'required',
    httpEndpoint: 'enabled',
    httpPutResponseHopLimit: 1,
    instanceMetadataTags: 'enabled',
    httpProtocolIpv6: 'enabled',
  },
  elasticIp: undefined,
  tags: { Name: 'nat' },
  sourceDestCheck: false,
  cpuOptions: { coreCount: 1, threadsPerCore: 1, amdSevSnp: undefined },
  placement: {
    groupName: 'nat-pg',
    partitionNumber: 2,
    tenancy: undefined,
    hostId: undefined,
    affinity: undefined,
    hostResourceGroupArn: undefined,
  },
  networkInterfaces: [
    {
      deviceIndex: 0,
      subnetId: 'subnet-0a',
      securityGroupIds: ['sg-0a'],
      privateIpAddress: '10.0.1.10',
      secondaryPrivateIpAddresses: ['10.0.1.11'],
      ipv6AddressCount: 1,
    },
    { deviceIndex: 1, subnetId: 'subnet-0b', securityGroupIds: ['sg-0b', 'sg-0c'], description: 'inside', privateIpAddress: '10.0.2.20' },
  ],
  privateIpAddress: '10.0.1.10',
  spot: { requestId: 'sir-0123' },
};

describe('launchConfigOf (DescribeInstances)', () => {
  it('reads the source/dest check, CPU options, placement, every interface, the private IP, IPv6, metadata options in full and spot', () => {
    expect(toInstanceSummary(natInstance).launch).toEqual(natConfig);
  });

  it('leaves an ordinary instance as earlier versions read it, plus its CPU options and private IP', () => {
    // Prepare
    const ordinary: Instance = {
      InstanceType: 't3.micro',
      SubnetId: 'subnet-0a',
      PrivateIpAddress: '10.0.1.5',
      SecurityGroups: [{ GroupId: 'sg-0a' }],
      SourceDestCheck: true,
      CpuOptions: { CoreCount: 1, ThreadsPerCore: 2 },
      Placement: { AvailabilityZone: 'us-east-1a', Tenancy: 'default', GroupName: '' },
      HibernationOptions: { Configured: false },
      NetworkInterfaces: [
        {
          Attachment: { DeviceIndex: 0 },
          SubnetId: 'subnet-0a',
          PrivateIpAddresses: [{ Primary: true, PrivateIpAddress: '10.0.1.5' }],
          Ipv6Addresses: [],
          InterfaceType: 'interface',
        },
      ],
    };

    // Act
    const launch = toInstanceSummary(ordinary).launch!;

    // Assess
    expect(launch).not.toHaveProperty('sourceDestCheck');
    expect(launch).not.toHaveProperty('placement');
    expect(launch).not.toHaveProperty('networkInterfaces');
    expect(launch).not.toHaveProperty('hibernation');
    expect(launch).not.toHaveProperty('spot');
    expect(launch).toMatchObject({ cpuOptions: { coreCount: 1, threadsPerCore: 2 }, privateIpAddress: '10.0.1.5' });
  });

  it('reads dedicated tenancy, a host and its affinity, and hibernation', () => {
    const launch = toInstanceSummary({
      InstanceType: 'm7i.large',
      Placement: { Tenancy: 'host', HostId: 'h-0123', Affinity: 'host' },
      HibernationOptions: { Configured: true },
    }).launch;
    expect(launch).toMatchObject({ placement: { tenancy: 'host', hostId: 'h-0123', affinity: 'host' }, hibernation: true });
  });
});

describe('launchSettings and launchNetwork (RunInstances)', () => {
  const captured: StoredLaunchConfig = {
    ...natConfig,
    disableApiTermination: true,
    disableApiStop: true,
    shutdownBehavior: 'terminate',
    cpuCredits: 'unlimited',
    spot: { requestId: 'sir-0123', maxPrice: '0.05', spotInstanceType: 'one-time', interruptionBehavior: 'terminate' },
  };

  it('asks for every captured setting', () => {
    expect(launchSettings(captured)).toMatchObject({
      DisableApiTermination: true,
      DisableApiStop: true,
      InstanceInitiatedShutdownBehavior: 'terminate',
      CpuOptions: { CoreCount: 1, ThreadsPerCore: 1 },
      CreditSpecification: { CpuCredits: 'unlimited' },
      Placement: { GroupName: 'nat-pg', PartitionNumber: 2 },
      MetadataOptions: { HttpProtocolIpv6: 'enabled', InstanceMetadataTags: 'enabled' },
      InstanceMarketOptions: {
        MarketType: 'spot',
        SpotOptions: { MaxPrice: '0.05', SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' },
      },
    });
    // The zone follows the subnet; the request id is the failed instance's, never sent.
    expect(launchSettings(captured).Placement).not.toHaveProperty('AvailabilityZone');
    expect(JSON.stringify(launchSettings(captured))).not.toContain('sir-0123');
  });

  it('sends no setting an earlier capture lacks', () => {
    const earlier: StoredLaunchConfig = {
      instanceType: 't3.micro',
      securityGroupIds: ['sg-0a'],
      ebsOptimized: false,
      monitoring: false,
      tags: {},
    };
    expect(Object.keys(launchSettings(earlier)).sort()).toEqual(['EbsOptimized', 'InstanceType', 'KeyName', 'Monitoring', 'UserData']);
    expect(launchNetwork(earlier)).toEqual({ SubnetId: undefined, SecurityGroupIds: ['sg-0a'] });
  });

  it('creates every interface anew with as many secondary addresses as it had, never the addresses themselves', () => {
    expect(launchNetwork(captured)).toEqual({
      NetworkInterfaces: [
        { DeviceIndex: 0, SubnetId: 'subnet-0a', Groups: ['sg-0a'], SecondaryPrivateIpAddressCount: 1, Ipv6AddressCount: 1 },
        { DeviceIndex: 1, SubnetId: 'subnet-0b', Groups: ['sg-0b', 'sg-0c'], Description: 'inside' },
      ],
    });
  });

  it('asks for the primary private IP only when told to, on the primary interface only', () => {
    const network = launchNetwork(captured, true);
    expect(network.NetworkInterfaces?.[0]).toMatchObject({ DeviceIndex: 0, PrivateIpAddress: '10.0.1.10' });
    expect(network.NetworkInterfaces?.[1]).not.toHaveProperty('PrivateIpAddress');
    const single: StoredLaunchConfig = { ...captured, networkInterfaces: undefined };
    expect(launchNetwork(single, true)).toEqual({ SubnetId: 'subnet-0a', SecurityGroupIds: ['sg-0a'], PrivateIpAddress: '10.0.1.10' });
    expect(launchNetwork(single, false)).not.toHaveProperty('PrivateIpAddress');
  });

  it('leaves the interruption behaviour to EC2 when hibernation is configured (it sets hibernate and refuses the others)', () => {
    const hibernating: StoredLaunchConfig = { ...captured, hibernation: true };
    expect(launchSettings(hibernating)).toMatchObject({ HibernationOptions: { Configured: true } });
    expect(launchSettings(hibernating).InstanceMarketOptions?.SpotOptions).not.toHaveProperty('InstanceInterruptionBehavior');
  });
});

describe('spotOptionsOf (DescribeSpotInstanceRequests)', () => {
  it('keeps the price, type and behaviour of a request RunInstances can make again', () => {
    expect(spotOptionsOf({ SpotPrice: '0.1', Type: 'persistent', InstanceInterruptionBehavior: 'stop' })).toEqual({
      maxPrice: '0.1',
      spotInstanceType: 'persistent',
      interruptionBehavior: 'stop',
    });
    expect(spotOptionsOf({ SpotPrice: '0.1', Type: 'one-time', InstanceInterruptionBehavior: 'terminate' })).toEqual({
      maxPrice: '0.1',
      spotInstanceType: 'one-time',
      interruptionBehavior: 'terminate',
    });
  });

  it('makes a persistent request that terminates one-time: RunInstances takes persistent only with stop or hibernate', () => {
    expect(spotOptionsOf({ Type: 'persistent', InstanceInterruptionBehavior: 'terminate' })).toEqual({
      spotInstanceType: 'one-time',
      interruptionBehavior: 'terminate',
    });
  });

  it("gives EC2's defaults for a request EC2 has forgotten", () => {
    expect(spotOptionsOf(undefined)).toEqual({});
  });
});

describe('toTemplateData / fromTemplateData with the fuller configuration', () => {
  it('keeps the source/dest check, which template data has no member for, in a network-interface tag specification', () => {
    const data = toTemplateData({ ...natConfig, spot: {} });
    expect(data.TagSpecifications).toContainEqual({
      ResourceType: 'network-interface',
      Tags: [{ Key: 'ami-lifecycle:source-dest-check', Value: 'false' }],
    });
    expect(fromTemplateData(data as ResponseLaunchTemplateData)?.sourceDestCheck).toBe(false);
  });

  it('reads a template an earlier version wrote exactly as it did', () => {
    const earlier: ResponseLaunchTemplateData = {
      InstanceType: 't3.micro',
      EbsOptimized: false,
      Monitoring: { Enabled: false },
      NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: 'subnet-0a', Groups: ['sg-0a'] }],
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'web' }] }],
    };
    expect(fromTemplateData(earlier)).toEqual({
      instanceType: 't3.micro',
      subnetId: 'subnet-0a',
      securityGroupIds: ['sg-0a'],
      keyName: undefined,
      iamInstanceProfileArn: undefined,
      ebsOptimized: false,
      monitoring: false,
      metadataOptions: undefined,
      userData: undefined,
      tags: { Name: 'web' },
    });
  });

  it('preserves every captured setting through template data (property)', () => {
    const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
    const ip = fc.tuple(fc.nat(255), fc.nat(255)).map(([a, b]) => `10.0.${a}.${b}`);
    const nic = (deviceIndex: number) =>
      fc.record({
        deviceIndex: fc.constant(deviceIndex),
        subnetId: fc.constantFrom('subnet-0a', 'subnet-0b'),
        securityGroupIds: fc.array(fc.constantFrom('sg-0a', 'sg-0b', 'sg-0c'), { maxLength: 3 }),
        privateIpAddress: ip,
        secondaryPrivateIpAddresses: fc.array(ip, { minLength: 1, maxLength: 3 }),
        ipv6AddressCount: fc.integer({ min: 1, max: 3 }),
      });
    const configs: fc.Arbitrary<StoredLaunchConfig> = fc
      .record({
        instanceType: fc.constantFrom('t3.micro', 'c7i.large'),
        subnetId: fc.constant('subnet-0a'),
        securityGroupIds: fc.constant(['sg-0a']),
        ebsOptimized: fc.boolean(),
        monitoring: fc.boolean(),
        tags: fc.constant({ Name: 'x' }),
        metadataOptions: fc.record({
          httpTokens: fc.constantFrom('required', 'optional'),
          httpEndpoint: fc.constant('enabled'),
          httpPutResponseHopLimit: fc.integer({ min: 1, max: 64 }),
          instanceMetadataTags: fc.constantFrom('enabled', 'disabled'),
          httpProtocolIpv6: fc.constantFrom('enabled', 'disabled'),
        }),
        sourceDestCheck: optional(fc.constant(false)),
        cpuOptions: optional(fc.record({ coreCount: fc.integer({ min: 1, max: 64 }), threadsPerCore: fc.constantFrom(1, 2) })),
        placement: optional(
          fc.record(
            {
              groupName: fc.constantFrom('pg-a', 'pg-b'),
              partitionNumber: fc.integer({ min: 1, max: 7 }),
              tenancy: fc.constant('dedicated'),
            },
            { requiredKeys: ['groupName'] },
          ),
        ),
        hibernation: optional(fc.constant(true)),
        networkInterfaces: optional(fc.tuple(nic(0), nic(1)).map((n) => [...n])),
        privateIpAddress: optional(ip),
        spot: optional(
          fc.record(
            {
              maxPrice: fc.constantFrom('0.01', '0.5'),
              spotInstanceType: fc.constant('one-time'),
              interruptionBehavior: fc.constant('terminate'),
            },
            { requiredKeys: [] },
          ),
        ),
        disableApiTermination: optional(fc.boolean()),
        disableApiStop: optional(fc.boolean()),
        shutdownBehavior: optional(fc.constantFrom('stop', 'terminate')),
        cpuCredits: optional(fc.constantFrom('standard', 'unlimited')),
      })
      .map((c) => {
        // The primary private IP lives on the primary interface when there are interfaces.
        const primaryIp = c.networkInterfaces?.[0]?.privateIpAddress ?? c.privateIpAddress;
        // A hibernating spot instance interrupts by hibernating: EC2 sets that itself (no other is ever captured).
        const spot = c.spot && c.hibernation ? { ...c.spot, interruptionBehavior: undefined } : c.spot;
        // The instance's subnet and groups are its primary interface's.
        const network = c.networkInterfaces
          ? { subnetId: c.networkInterfaces[0]!.subnetId, securityGroupIds: c.networkInterfaces[0]!.securityGroupIds }
          : {};
        const whole = { ...c, ...network, spot, privateIpAddress: primaryIp };
        const out = Object.fromEntries(Object.entries(whole).filter(([, v]) => v !== undefined));
        return out as StoredLaunchConfig;
      });

    fc.assert(
      fc.property(configs, (original) => {
        const back = fromTemplateData(toTemplateData(original) as ResponseLaunchTemplateData);
        const defined = (o: object) => JSON.parse(JSON.stringify(o));
        expect(defined(back!)).toEqual(defined(original));
      }),
      { numRuns: 300 },
    );
  });
});

describe('Ec2Gateway.readCaptureSettings', () => {
  beforeEach(() => ec2Mock.reset());
  afterEach(() => ec2Mock.reset());

  const answerAttributes = () => {
    ec2Mock
      .on(DescribeInstanceAttributeCommand, { Attribute: 'disableApiTermination' })
      .resolves({ DisableApiTermination: { Value: true } });
    ec2Mock.on(DescribeInstanceAttributeCommand, { Attribute: 'disableApiStop' }).resolves({ DisableApiStop: { Value: false } });
    ec2Mock
      .on(DescribeInstanceAttributeCommand, { Attribute: 'instanceInitiatedShutdownBehavior' })
      .resolves({ InstanceInitiatedShutdownBehavior: { Value: 'terminate' } });
  };

  it('reads protection, shutdown behaviour, the credit option of a burstable instance and the spot request', async () => {
    // Prepare
    answerAttributes();
    ec2Mock
      .on(DescribeInstanceCreditSpecificationsCommand)
      .resolves({ InstanceCreditSpecifications: [{ InstanceId: INSTANCE_ID, CpuCredits: 'unlimited' }] });
    ec2Mock.on(DescribeSpotInstanceRequestsCommand).resolves({
      SpotInstanceRequests: [
        { SpotInstanceRequestId: 'sir-0123', SpotPrice: '0.02', Type: 'one-time', InstanceInterruptionBehavior: 'terminate' },
      ],
    });

    // Act
    const settings = await gateway().readCaptureSettings(INSTANCE_ID, { ...natConfig, instanceType: 't3.micro' });

    // Assess
    expect(settings).toEqual({
      disableApiTermination: true,
      disableApiStop: false,
      shutdownBehavior: 'terminate',
      cpuCredits: 'unlimited',
      spot: { maxPrice: '0.02', spotInstanceType: 'one-time', interruptionBehavior: 'terminate' },
    });
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstanceAttributeCommand, 3);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstanceCreditSpecificationsCommand, { InstanceIds: [INSTANCE_ID] });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeSpotInstanceRequestsCommand, { SpotInstanceRequestIds: ['sir-0123'] });
  });

  it('reads no credit option of a type that has none, and no spot request of an on-demand instance', async () => {
    // Prepare
    answerAttributes();
    const { spot: _spot, ...onDemand } = natConfig;

    // Act
    const settings = await gateway().readCaptureSettings(INSTANCE_ID, onDemand);

    // Assess
    expect(settings).toEqual({ disableApiTermination: true, disableApiStop: false, shutdownBehavior: 'terminate' });
    expect(ec2Mock).not.toHaveReceivedCommand(DescribeInstanceCreditSpecificationsCommand);
    expect(ec2Mock).not.toHaveReceivedCommand(DescribeSpotInstanceRequestsCommand);
  });

  it('relaunches as spot with EC2 defaults when the spot request is gone', async () => {
    // Prepare
    answerAttributes();
    ec2Mock.on(DescribeSpotInstanceRequestsCommand).rejects(awsError('InvalidSpotInstanceRequestID.NotFound'));

    // Act
    const settings = await gateway().readCaptureSettings(INSTANCE_ID, natConfig);

    // Assess
    expect(settings.spot).toEqual({});
  });
});

describe('Ec2Gateway.runInstance and disableSourceDestCheck', () => {
  beforeEach(() => ec2Mock.reset());
  afterEach(() => ec2Mock.reset());

  it('launches with the interfaces and no instance-level subnet or groups (EC2 refuses both at once)', async () => {
    // Prepare
    ec2Mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0fff' }] });

    // Act
    await gateway().runInstance({ imageId: 'ami-0a', config: natConfig, clientToken: 't', tags: { Name: 'nat' }, droppedTags: [] });

    // Assess
    const sent = ec2Mock.commandCalls(RunInstancesCommand)[0]!.args[0].input;
    expect(sent).not.toHaveProperty('SubnetId');
    expect(sent).not.toHaveProperty('SecurityGroupIds');
    expect(sent.NetworkInterfaces).toHaveLength(2);
    expect(sent).toMatchObject({ Placement: { GroupName: 'nat-pg', PartitionNumber: 2 }, InstanceMarketOptions: { MarketType: 'spot' } });
  });

  it("turns the instance's source/destination check off with ModifyInstanceAttribute", async () => {
    ec2Mock.on(ModifyInstanceAttributeCommand).resolves({});
    await gateway().disableSourceDestCheck('i-0fff');
    expect(ec2Mock).toHaveReceivedCommandWith(ModifyInstanceAttributeCommand, { InstanceId: 'i-0fff', SourceDestCheck: { Value: false } });
  });
});
