/** The in-memory settle slice (settleImage, reconcilePending), and the scheduled run's, which settles first. */
import type { ImageView } from '../../../shared/domain/image-status.js';
import { TAG } from '../../../shared/domain/tags.js';
import type { ScheduleEc2, SettleEc2 } from '../../../shared/use-cases/ec2-ports.js';
import type { FakeEc2Account } from './ec2-account.js';
import { bakeCandidateListing, ec2Tagging, excludeTagListing, managedImageListing } from './ec2-shared.js';

export const settleEc2 = (a: FakeEc2Account): SettleEc2 => ({
  ...ec2Tagging(a),

  async describeImages(imageIds: readonly string[]) {
    a.describeImageCalls.push([...imageIds]);
    if (a.describeFailure) throw a.describeFailure;
    const found = new Map<string, ImageView>();
    for (const id of imageIds) {
      const image = a.images.get(id);
      if (image) found.set(id, a.view(image));
    }
    return found;
  },

  async *listPendingImages(managedBy: string) {
    if (a.listPendingFailure) throw a.listPendingFailure;
    const matching = [...a.images.values()]
      .filter((i) => i.tags[TAG.managedBy] === managedBy && i.tags[TAG.status] === 'pending')
      .map((i) => a.view(i));
    yield* a.pages(matching);
  },
});

export const scheduleEc2 = (a: FakeEc2Account): ScheduleEc2 => ({
  ...settleEc2(a),
  ...bakeCandidateListing(a),
  ...managedImageListing(a),
  ...excludeTagListing(a),
});
