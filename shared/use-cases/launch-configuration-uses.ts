/**
 * Auto Scaling launch configurations as in-use reasons. DescribeImageReferences does not look at
 * them ("How AMI reference checks work": instances, launch templates, SSM parameters and Image
 * Builder recipes; user guide "Identify your resources referencing specified AMIs",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-ami-references.html), yet a group that
 * launches from one fails to scale out once its image is gone. One paged read per 100 configurations.
 * Rotation (rotate-images.ts) and `stale` (stale-images.ts) both call it.
 */
import type { LaunchConfigurationListing } from './ports.js';

/** Calls `addUse` once per launch configuration, with the image it names. */
export async function addLaunchConfigurationUses(
  launchConfigurations: LaunchConfigurationListing,
  addUse: (imageId: string, use: string, name: string) => void,
): Promise<void> {
  for await (const page of launchConfigurations.listLaunchConfigurationImages()) {
    for (const c of page) addUse(c.imageId, `launch configuration ${c.name}`, c.name);
  }
}
