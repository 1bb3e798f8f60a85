/**
 * Moto gap: DeregisterImage ignores DeleteAssociatedSnapshots. AWS deletes the image's snapshots
 * with it, except a snapshot another AMI still uses (API reference, DeregisterImage:
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeregisterImage.html: "If a snapshot
 * is associated with multiple AMIs, it is not deleted, regardless of this setting").
 * TEST-ONLY.
 */
import { DeleteSnapshotCommand, DescribeImagesCommand } from '@aws-sdk/client-ec2';
import type { Interceptor } from '../proxy/chain.js';
import { isEc2Action } from '../proxy/request.js';

/**
 * Moto gap: moto ignores DeregisterImage's DeleteAssociatedSnapshots and leaves
 * the image's snapshots behind. AWS deletes them with the image, except a
 * snapshot another AMI still uses (here: moto refuses it as InvalidSnapshot.InUse,
 * and it stays, as in AWS).
 */
export const deleteAssociatedSnapshots: Interceptor = async (request, next, context) => {
  const form = request.form;
  if (!isEc2Action(request, 'DeregisterImage') || form?.get('DeleteAssociatedSnapshots') !== 'true' || form.get('DryRun') === 'true') {
    return next(request);
  }
  const imageId = form.get('ImageId') ?? '';
  const ec2 = context.ec2For(request);
  const { Images = [] } = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] })).catch(() => ({ Images: [] }));
  const snapshotIds = Images.flatMap((i) => i.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : []));
  const response = await next(request);
  if (response.status !== 200) return response;
  for (const SnapshotId of snapshotIds) {
    await ec2.send(new DeleteSnapshotCommand({ SnapshotId })).catch((error: { name?: string }) => {
      if (error.name !== 'InvalidSnapshot.InUse' && error.name !== 'InvalidSnapshot.NotFound') throw error;
    });
  }
  return response;
};
