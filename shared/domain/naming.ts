import { truncate } from './text.js';

/**
 * Deterministic names for what the service creates. The AMI name is the idempotency
 * key of a bake: EC2 refuses a second image with the same name in an account and
 * region, so one (stack, lineage, schedule, slot) can only ever yield one image.
 */

/** Characters EC2 allows in an AMI name, and its length limits. */
const AMI_NAME = /^[A-Za-z0-9()[\] ./\-'@_]{3,128}$/;

export interface ImageKey {
  managedBy: string;
  lineage: string;
  schedule: string;
  slot: string;
}

export function imageName(key: ImageKey): string {
  const name = `${key.managedBy}/${key.lineage}/${key.schedule}/${key.slot}`;
  if (!AMI_NAME.test(name)) throw new RangeError(`not a valid AMI name: ${name}`);
  return name;
}

export function isValidAmiName(name: string): boolean {
  return AMI_NAME.test(name);
}

const DESCRIPTION_MAX = 255;

export function imageDescription(key: ImageKey & { instanceId: string; instanceName?: string | undefined }): string {
  const who = key.instanceName ? `${key.instanceId} (${key.instanceName})` : key.instanceId;
  const text = `${key.schedule} ${key.slot} image of ${who}, lineage ${key.lineage}, by ${key.managedBy}`;
  return truncate(text, DESCRIPTION_MAX, '…');
}
