/**
 * Moto gaps about launches the account refuses: moto knows neither KMS key policies nor quotas,
 * and the snapshots of an image made from encrypted volumes come out unencrypted. Followed: EC2
 * User Guide, "Troubleshoot Amazon EC2 instance launch issues"
 * (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/troubleshooting-launch.html), and the API
 * reference of CreateImage, BlockDeviceMapping.N: "You can't modify the encryption status of
 * existing volumes or snapshots" (the image's snapshots keep their volumes' encryption and key:
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateImage.html).
 * TEST-ONLY.
 */
import { DescribeSubnetsCommand, DescribeVolumesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { ec2ErrorResponse } from '../proxy/answers.js';
import type { IamLink, Interceptor, ProxiedRequest } from '../proxy/chain.js';
import { bufferBody, isEc2Action } from '../proxy/request.js';
import type { StateReasons } from './state-reasons.js';

/**
 * A launch that EC2 accepts and then ends within seconds, as it does when the account or its
 * configuration refuses it: "Client.InternalError: Client error on launch" for a KMS key the
 * caller may not use, Client.InvalidKMSKey.InvalidState, Client.VolumeLimitExceeded (EC2 User
 * Guide, "Troubleshoot Amazon EC2 instance launch issues",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/troubleshooting-launch.html). The
 * RunInstances answer is the usual one; the instances are terminated in moto straight after,
 * with the reason reported by simulatedStateReasons.
 */
export class LaunchFailures {
  private code: string | undefined;

  constructor(
    private readonly reasons: StateReasons,
    private readonly keys: ImageKeys,
    private readonly iam: IamLink | undefined,
  ) {}

  configure(code: string | undefined): void {
    this.code = code;
  }

  /**
   * Why EC2 would end this launch at once, if it would: a staged refusal, or a KMS key of the
   * image's volumes that EC2 may not use on the caller's behalf (its role decides).
   */
  private async refusal(request: ProxiedRequest): Promise<{ code: string; message: string } | undefined> {
    if (this.code !== undefined) return { code: this.code, message: `${this.code}: the launch was refused (staged by the test harness)` };
    const keys = this.keys.of(request.form?.get('ImageId') ?? '');
    if (keys.length === 0 || !this.iam?.kmsOnBehalf) return undefined;
    const denied = await this.iam.kmsOnBehalf(request, keys);
    return denied ? { code: 'Client.InternalError', message: `Client.InternalError: Client error on launch (${denied})` } : undefined;
  }

  readonly interceptor: Interceptor = async (request, next, context) => {
    if (!isEc2Action(request, 'RunInstances') || request.form?.get('DryRun') === 'true') return next(request);
    const refusal = await this.refusal(request);
    if (refusal === undefined) return next(request);
    const response = await next(request);
    if (response.status !== 200) return response;
    const body = await bufferBody(response.body);
    const ids = [...body.toString('utf8').matchAll(/<instanceId>(i-[0-9a-f]+)<\/instanceId>/g)].map((m) => m[1]!);
    if (ids.length > 0) {
      await context.ec2For(request).send(new TerminateInstancesCommand({ InstanceIds: ids }));
      for (const id of ids) this.reasons.set(id, refusal);
    }
    return { ...response, body };
  };
}

/**
 * Moto gap: CreateImage of an instance whose volumes are encrypted with a KMS key gives
 * unencrypted snapshots. In AWS the image's snapshots keep their volumes' encryption and key,
 * and a launch from it makes EC2 use that key on the caller's behalf. Remembers, per image
 * created through the proxy, the KMS keys of its instance's encrypted volumes (for
 * LaunchFailures).
 */
export class ImageKeys {
  private readonly byImage = new Map<string, string[]>();

  of(imageId: string): string[] {
    return this.byImage.get(imageId) ?? [];
  }

  clear(): void {
    this.byImage.clear();
  }

  readonly interceptor: Interceptor = async (request, next, context) => {
    if (!isEc2Action(request, 'CreateImage') || request.form?.get('DryRun') === 'true') return next(request);
    const response = await next(request);
    if (response.status !== 200) return response;
    const body = await bufferBody(response.body);
    const imageId = /<imageId>\s*([^<\s]+)\s*<\/imageId>/i.exec(body.toString('utf8'))?.[1];
    const instanceId = request.form!.get('InstanceId');
    if (imageId && instanceId) {
      const { Volumes = [] } = await context
        .ec2For(request)
        .send(new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [instanceId] }] }));
      const keys = [...new Set(Volumes.flatMap((v) => (v.Encrypted && v.KmsKeyId ? [v.KmsKeyId] : [])))];
      if (keys.length > 0) this.byImage.set(imageId, keys);
    }
    return { ...response, body };
  };
}

/** Where a staged capacity shortage applies: a subnet, an instance type, or both (an absent one matches any). */
export interface NoCapacity {
  subnetId?: string;
  instanceType?: string;
  /** InsufficientInstanceCapacity (default), or Unsupported: the type is not offered in the zone. */
  code?: 'InsufficientInstanceCapacity' | 'Unsupported';
}

/**
 * Moto gap: moto always has capacity and offers every type in every zone. EC2 refuses a launch
 * it has no room for with InsufficientInstanceCapacity, a server error (HTTP 500: "Server error
 * codes" in "Error codes for the Amazon EC2 API",
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html), and a type the
 * zone does not offer with Unsupported, "Your requested instance type (...) is not supported in
 * your requested Availability Zone (...)" (EC2 User Guide, "Troubleshoot Amazon EC2 instance
 * launch issues", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/troubleshooting-launch.html).
 * Placed after the client-token link: a repeated token answers its first launch, whatever the
 * capacity now. TEST-ONLY.
 */
export class CapacityShortage {
  private rules: NoCapacity[] = [];
  /** RunInstances refused for capacity, as `subnet|type`, oldest first. */
  readonly refused: string[] = [];

  configure(rules: NoCapacity[] | undefined): void {
    this.rules = rules ?? [];
    this.refused.length = 0;
  }

  readonly interceptor: Interceptor = async (request, next, context) => {
    if (this.rules.length === 0 || !isEc2Action(request, 'RunInstances') || request.form?.get('DryRun') === 'true') return next(request);
    const type = request.form?.get('InstanceType') ?? 'm1.small';
    let subnet = request.form?.get('SubnetId') ?? request.form?.get('NetworkInterface.1.SubnetId') ?? undefined;
    const rule = this.rules.find(
      (r) => (r.subnetId === undefined || r.subnetId === subnet) && (r.instanceType === undefined || r.instanceType === type),
    );
    if (!rule) return next(request);
    let zone = 'the zone';
    if (subnet) {
      const { Subnets = [] } = await context.ec2For(request).send(new DescribeSubnetsCommand({ SubnetIds: [subnet] }));
      zone = Subnets[0]?.AvailabilityZone ?? zone;
    } else subnet = 'default';
    this.refused.push(`${subnet}|${type}`);
    return rule.code === 'Unsupported'
      ? ec2ErrorResponse(
          400,
          'Unsupported',
          `Your requested instance type (${type}) is not supported in your requested Availability Zone (${zone}). ` +
            'Please retry your request by not specifying an Availability Zone or choosing another.',
        )
      : ec2ErrorResponse(
          500,
          'InsufficientInstanceCapacity',
          `We currently do not have sufficient ${type} capacity in the Availability Zone you requested (${zone}).`,
        );
  };
}
