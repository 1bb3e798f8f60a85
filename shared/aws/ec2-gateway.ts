/**
 * The only code that talks to EC2, in one piece: every operation of shared/aws/ec2/ bound to one
 * client, for the CLI, the scripts and the tests. Paged reads through the SDK's paginators (one call
 * per page of up to 1,000 resources, never one per resource), errors translated to AwsCallError,
 * and CreateImage made idempotent by its name. What it reads and sends is mapped to and from the
 * domain's shapes in ec2-mappers.ts.
 *
 * The functions are wired with only the operations their port needs (ec2/gateways.ts), so that
 * their bundles leave out the others (issue 18): none of them imports this file.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { Ec2Port } from '../use-cases/ec2-ports.js';
import * as addresses from './ec2/addresses.js';
import { bindEc2, ec2Context, type Bound } from './ec2/common.js';
import * as copies from './ec2/copies.js';
import * as images from './ec2/images.js';
import * as instanceActions from './ec2/instance-actions.js';
import * as instances from './ec2/instances.js';
import * as launchTemplates from './ec2/launch-templates.js';
import * as launches from './ec2/launches.js';
import * as references from './ec2/references.js';
import * as sharing from './ec2/sharing.js';
import * as snapshots from './ec2/snapshots.js';
import * as tags from './ec2/tags.js';
import * as testInstances from './ec2/test-instances.js';
import * as volumes from './ec2/volumes.js';

export { DESCRIBE_IMAGES_IDS_PER_CALL } from './ec2/images.js';
export { IMAGE_REFERENCES_IDS_PER_CALL } from './ec2/references.js';
export { SNAPSHOT_PERMISSIONS_PER_CALL } from './ec2/sharing.js';

const OPERATIONS = {
  ...addresses,
  ...copies,
  ...images,
  ...instanceActions,
  ...instances,
  ...launchTemplates,
  ...launches,
  ...references,
  ...sharing,
  ...snapshots,
  ...tags,
  ...testInstances,
  ...volumes,
};

/** Every EC2 operation of the service, on one client. */
export type Ec2Gateway = Bound<typeof OPERATIONS>;

/** `new Ec2Gateway(client, pageSize?)`: every operation of shared/aws/ec2/ bound to the client; it implements every slice (Ec2Port). */
export const Ec2Gateway = class {
  constructor(client: EC2Client, pageSize?: number) {
    const all: Ec2Port & Ec2Gateway = bindEc2(ec2Context(client, pageSize), OPERATIONS);
    Object.assign(this, all);
  }
} as new (
  client: EC2Client,
  pageSize?: number,
) => Ec2Gateway;
