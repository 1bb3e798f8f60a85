/**
 * The DR capture (issue 17): the lineage's captured launch template, copied from the home region
 * into a disaster-recovery region R under the same name, without what is bound to home (see
 * drCaptureOf), so that a relaunch in R needs nothing of home: on the day home is down, the
 * configuration is already where the copy is. Launch templates are regional ("Launch templates are
 * Region-specific", EC2 user guide, "Store instance launch parameters in Amazon EC2 launch templates",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-launch-templates.html).
 *
 * Kept current by digest, cheaply: one read in home (its newest version), one in R (the template's
 * tags, which hold the digest it was copied at); a new version in R only when the home capture's
 * digest changed. Idempotent: a crash between the version and its tag finds the version by its
 * revision (saveLaunchConfig) and tags it.
 */
import { captureDigestOf, digestOfCapture, drCaptureOf, drCaptureTags } from '../domain/dr-launch.js';
import { launchTemplateName } from '../domain/launch.js';
import { TAG } from '../domain/tags.js';
import type { DrCaptureEc2, DrHomeEc2 } from './ec2-ports.js';
import type { Log } from './ports.js';

export interface DrCaptureDeps {
  managedBy: string;
  /** The stack's region. */
  homeRegion: string;
  /** EC2 in the home region. */
  ec2: DrHomeEc2;
  /** EC2 in another region. */
  ec2In: (region: string) => DrCaptureEc2;
  log: Log;
}

export type DrCaptureOutcome =
  | { lineage: string; region: string; status: 'unchanged' | 'created' | 'updated'; digest: string; version?: number }
  /** Nothing to copy yet: the lineage has no home capture (it was never baked, or its capture failed). */
  | { lineage: string; region: string; status: 'no-home-capture' }
  /** A launch template of that name in R that this stack did not make: never overwritten. */
  | { lineage: string; region: string; status: 'not-ours'; reason: string };

export async function syncDrCapture(deps: DrCaptureDeps, lineage: string, region: string): Promise<DrCaptureOutcome> {
  const name = launchTemplateName(deps.managedBy, lineage);
  const there = deps.ec2In(region);
  const [home, template] = await Promise.all([deps.ec2.readLaunchCapture(name), there.describeLaunchTemplate(name)]);
  if (!home) return { lineage, region, status: 'no-home-capture' };
  const digest = captureDigestOf(home.description) ?? digestOfCapture(home.config);
  if (template && template.tags[TAG.managedBy] !== deps.managedBy) {
    const reason = `the launch template ${name} in ${region} is not tagged ${TAG.managedBy}=${deps.managedBy}: left as it is`;
    deps.log.warn('DR capture not written', { lineage, region, reason });
    return { lineage, region, status: 'not-ours', reason };
  }
  if (template?.tags[TAG.captureDigest] === digest) return { lineage, region, status: 'unchanged', digest };

  // The Elastic IP is not in the template: the lineage's address, as the bake tagged it, said at relaunch.
  const addresses = await deps.ec2.findLineageAddresses(lineage);
  const { config, leftBehind } = drCaptureOf(home.config, addresses[0]?.publicIp);
  const tags = drCaptureTags(deps.managedBy, lineage, deps.homeRegion, digest, leftBehind);
  const version = await there.saveLaunchConfig(name, config, tags, `DR capture from ${deps.homeRegion}`, `digest ${digest}`);
  // A new template got its tags at creation; an existing one is told its new digest after the version.
  if (template)
    await there.tagResources([template.launchTemplateId], { [TAG.captureDigest]: digest, [TAG.leftBehind]: tags[TAG.leftBehind]! });
  deps.log.info('DR capture written', { lineage, region, version, digest });
  return { lineage, region, status: template ? 'updated' : 'created', digest, version };
}
