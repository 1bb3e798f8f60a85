/**
 * Reads of moto's EC2 state that several moto-gap links share, made straight to moto (not
 * through the proxy, so not counted). TEST-ONLY.
 */
import { DescribeImagesCommand } from '@aws-sdk/client-ec2';
import type { ProxiedRequest, ProxyContext } from '../proxy/chain.js';

/** Whether moto still has this image (not deregistered). */
export async function imageExists(imageId: string, request: ProxiedRequest, context: ProxyContext): Promise<boolean> {
  try {
    const { Images = [] } = await context.ec2For(request).send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    return Images.some((i) => i.ImageId === imageId && i.State !== 'deregistered');
  } catch (error) {
    if ((error as { name?: string }).name?.startsWith('InvalidAMIID.')) return false;
    throw error;
  }
}
