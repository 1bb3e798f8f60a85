/** CreateTags, on any of EC2's resources: images, snapshots, instances, volumes, Elastic IPs. */
import { CreateTagsCommand } from '@aws-sdk/client-ec2';
import type { Tags } from '../../domain/tags.js';
import { toTagList } from '../ec2-mappers.js';
import { call } from '../errors.js';
import type { Ec2Context } from './common.js';

export async function tagResources(ec2: Ec2Context, resourceIds: string[], tags: Tags): Promise<void> {
  if (resourceIds.length === 0) return;
  await call('CreateTags', () => ec2.client.send(new CreateTagsCommand({ Resources: resourceIds, Tags: toTagList(tags) })));
}
