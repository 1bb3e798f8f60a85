/**
 * The launch configuration of a lineage (issue 4, part of the groundwork): what
 * is captured from a healthy instance so that a replacement can be launched
 * without describing an instance that is already gone, and the replacement's
 * identity (tags, generation, idempotency token). Pure.
 */
import { createHash } from 'node:crypto';
import { PREFIX, TAG, type Tags } from './tags.js';

export interface LaunchConfig {
  instanceType: string;
  subnetId?: string | undefined;
  securityGroupIds: string[];
  keyName?: string | undefined;
  iamInstanceProfileArn?: string | undefined;
  ebsOptimized: boolean;
  monitoring: boolean;
  metadataOptions?:
    | {
        httpTokens?: string | undefined;
        httpEndpoint?: string | undefined;
        httpPutResponseHopLimit?: number | undefined;
        instanceMetadataTags?: string | undefined;
      }
    | undefined;
  /** The operator's own tags, carried to the replacement (not aws:*, not the service's bookkeeping). */
  tags: Tags;
}

/** Tags of the service that describe one instance or one image, never carried to another instance. */
const NOT_CARRIED = new Set<string>([TAG.replaces, TAG.replacedBy, TAG.generation, TAG.maintenance, `${PREFIX}captured`]);

/** The tags a replacement inherits: the operator's and the opt-in tags, lineage included. */
export function carriedTags(tags: Tags): Tags {
  return Object.fromEntries(Object.entries(tags).filter(([k]) => !k.startsWith('aws:') && !NOT_CARRIED.has(k)));
}

/** A stable digest of a configuration: equal configurations, whatever their key order, digest alike. */
export function configDigest(config: LaunchConfig): string {
  const canonical = (value: unknown): unknown => {
    if (Array.isArray(value)) return [...value].map(canonical).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
    if (value && typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value)
          .filter(([, v]) => v !== undefined)
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([k, v]) => [k, canonical(v)]),
      );
    }
    return value;
  };
  return createHash('sha256').update(JSON.stringify(canonical(config))).digest('hex').slice(0, 16);
}

/** The launch template that holds a lineage's captured configuration. */
export function launchTemplateName(managedBy: string, lineage: string): string {
  return `${managedBy}-${lineage}`;
}

/**
 * The idempotency token of one replacement: the same lineage and failed instance
 * always give the same token, so duplicated or retried events, or a crash after
 * the launch, find the first replacement instead of starting a second one.
 * RunInstances takes at most 64 ASCII characters.
 */
export function replacementToken(lineage: string, failedInstanceId: string): string {
  return `ami-lifecycle-${createHash('sha256').update(`${lineage}\u0000${failedInstanceId}`).digest('hex').slice(0, 40)}`;
}

/** Tags of the replacement: what it inherits, plus where it comes from and its generation. */
export function replacementTags(failed: { instanceId: string; tags: Tags }, lineage: string): Tags {
  const generation = Number.parseInt(failed.tags[TAG.generation] ?? '0', 10);
  return {
    ...carriedTags(failed.tags),
    [TAG.lineage]: lineage,
    [TAG.replaces]: failed.instanceId,
    [TAG.generation]: String((Number.isFinite(generation) && generation >= 0 ? generation : 0) + 1),
  };
}
