/**
 * Moto gap: AttachVolume attaches a volume that is attached already (moto replaces the
 * attachment), and it never checks the zone. In AWS a volume must be `available` to attach
 * ("The volume must be in the available state", EC2 API reference, AttachVolume,
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AttachVolume.html); otherwise
 * VolumeInUse ("The specified EBS volume is attached to an instance": "Error codes for the
 * Amazon EC2 API", https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html),
 * and a volume attaches only to an instance in its Availability Zone (InvalidVolume.ZoneMismatch,
 * same page). Calls are serialised so that two concurrent attaches of one volume cannot both pass.
 * TEST-ONLY.
 */
import { DescribeInstancesCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import type { Interceptor } from '../proxy/chain.js';
import { ec2ErrorResponse } from '../proxy/answers.js';
import { isEc2Action, type Mutex } from '../proxy/request.js';

export function volumeAttachments(lock: Mutex): Interceptor {
  return (request, next, context) => {
    if (!isEc2Action(request, 'AttachVolume') || request.form?.get('DryRun') === 'true') return next(request);
    const volumeId = request.form?.get('VolumeId') ?? '';
    const instanceId = request.form?.get('InstanceId') ?? '';
    return lock.run(async () => {
      const ec2 = context.ec2For(request);
      const { Volumes = [] } = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] })).catch(() => ({ Volumes: [] }));
      const volume = Volumes[0];
      if (volume && volume.State !== 'available') {
        return ec2ErrorResponse(400, 'VolumeInUse', `${volumeId} is already attached to an instance`);
      }
      const { Reservations = [] } = await ec2
        .send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))
        .catch(() => ({ Reservations: [] }));
      const zone = Reservations[0]?.Instances?.[0]?.Placement?.AvailabilityZone;
      if (volume && zone && volume.AvailabilityZone !== zone) {
        return ec2ErrorResponse(
          400,
          'InvalidVolume.ZoneMismatch',
          `The volume '${volumeId}' is not in the same availability zone as instance '${instanceId}'`,
        );
      }
      return next(request);
    });
  };
}
