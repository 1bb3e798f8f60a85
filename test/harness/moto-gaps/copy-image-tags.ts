/**
 * Moto gap: CopyImage ignores CopyImageTags. EC2 copies the source image's user-defined tags to
 * the new image (not aws: system tags; not the snapshots' tags): "CopyImageTags: Indicates
 * whether to include your user-defined AMI tags when copying the source AMI" (API reference,
 * CopyImage: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CopyImage.html).
 * moto copies none, so a person's tagged copy of a managed image could not be staged.
 * TEST-ONLY.
 */
import { CreateTagsCommand, DescribeImagesCommand } from '@aws-sdk/client-ec2';
import type { Interceptor } from '../proxy/chain.js';
import { bufferBody, isEc2Action } from '../proxy/request.js';

export const copyImageTags: Interceptor = async (request, next, context) => {
  const copying =
    isEc2Action(request, 'CopyImage') && request.form?.get('CopyImageTags') === 'true' && request.form.get('DryRun') !== 'true';
  if (!copying) return next(request);
  const response = await next(request);
  if (response.status !== 200) return response;
  const body = await bufferBody(response.body);
  const imageId = /<imageId>\s*([^<\s]+)\s*<\/imageId>/i.exec(body.toString('utf8'))?.[1];
  const sourceId = request.form?.get('SourceImageId');
  if (imageId && sourceId) {
    const ec2 = context.ec2For(request);
    const { Images = [] } = await ec2.send(new DescribeImagesCommand({ ImageIds: [sourceId] }));
    const Tags = (Images[0]?.Tags ?? []).filter((t) => !t.Key?.startsWith('aws:'));
    if (Tags.length > 0) await ec2.send(new CreateTagsCommand({ Resources: [imageId], Tags }));
  }
  return { ...response, body };
};
