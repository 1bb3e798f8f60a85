/**
 * Promotion: where the newest good image of a lineage goes so that fleets launch from it (an SSM
 * parameter, a launch template's default version, an Auto Scaling group's launch template), and
 * the rules that make it safe. Pure: no AWS imports.
 *
 * - Targets come from the instance tag `ami-lifecycle:promote`, a comma list; each target is read
 *   on its own, so one malformed target is a problem for that target only and the others proceed.
 * - A target already holding the image gets nothing new (exactly once per image and target); a
 *   target holding a newer image is left alone (never over a newer one).
 * - Rollback goes to the image the target held before the one it holds now.
 * - Rotation keeps what targets received: see promotionKeeps.
 */
import { newestFirst } from './image-status.js';

export type PromotionTarget =
  | { kind: 'ssm'; name: string; key: string }
  | { kind: 'lt'; ref: string; key: string }
  | { kind: 'asg'; name: string; key: string };

export interface TargetProblem {
  /** The target as the tag spells it. */
  target: string;
  reason: string;
}

export interface PromoteTag {
  targets: PromotionTarget[];
  problems: TargetProblem[];
}

/** The default of the stage parameter promoteParameterPrefix: the only path parameters are written under. */
export const DEFAULT_PARAMETER_PREFIX = '/ami-lifecycle/';

/**
 * SSM parameter names. "Parameter names can include only the following symbols and letters:
 * a-zA-Z0-9_.-" and the slash; "Parameter hierarchies are limited to a maximum depth of fifteen
 * levels"; a name can't be prefixed with "aws" or "ssm" (PutParameter, Name:
 * https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html). The
 * name's own maximum is 1011 characters ("The reported maximum length of 2048 characters for a
 * parameter name includes 1037 characters reserved for internal use"); a tag value holds 256, so
 * a name from the tag never reaches it.
 */
export const SSM_MAX_DEPTH = 15;
export const SSM_NAME_MAX = 1011;
const SSM_NAME = /^\/[a-zA-Z0-9_.\-/]+$/;

/**
 * Launch templates: a name of 3-128 characters of letters, digits and `().-/_`, or an id
 * `lt-` and 17 hex digits (CreateLaunchTemplate, LaunchTemplateName:
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplate.html).
 */
const LT_NAME = /^[a-zA-Z0-9().\-/_]{3,128}$/;
const LT_ID = /^lt-[0-9a-f]{17}$/;
/**
 * Auto Scaling group names: 1-255 characters, no ':' (AutoScalingGroupName, "Pattern:
 * [\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\r\n\t]*", CreateAutoScalingGroup:
 * https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CreateAutoScalingGroup.html;
 * a colon would read as an ARN).
 */
const ASG_NAME = /^[^:,]{1,255}$/;

/** Depth of an SSM parameter name: its levels, `/a/b/c` is 3. */
export function parameterDepth(name: string): number {
  return name.split('/').filter(Boolean).length;
}

/** Problems with an SSM parameter name written under the prefix, or undefined when it is fine. */
export function parameterNameProblem(name: string, prefix: string): string | undefined {
  if (!SSM_NAME.test(name)) return 'an SSM parameter name starts with / and has only letters, digits and _.-/';
  if (name.includes('//')) return 'an SSM parameter name has no empty level (//)';
  if (name.endsWith('/')) return 'an SSM parameter name does not end with /';
  if (name.length > SSM_NAME_MAX) return `an SSM parameter name has at most ${SSM_NAME_MAX} characters`;
  if (parameterDepth(name) > SSM_MAX_DEPTH) return `an SSM parameter hierarchy has at most ${SSM_MAX_DEPTH} levels`;
  if (!name.startsWith(prefix) || name.length === prefix.length)
    return `only parameters under ${prefix} are written (promoteParameterPrefix)`;
  return undefined;
}

/** Reads one target of the tag. */
export function parseTarget(raw: string, prefix: string): PromotionTarget | TargetProblem {
  const text = raw.trim();
  const colon = text.indexOf(':');
  const kind = colon < 0 ? '' : text.slice(0, colon);
  const rest = colon < 0 ? '' : text.slice(colon + 1).trim();
  if (kind === 'ssm') {
    const why = parameterNameProblem(rest, prefix);
    return why ? { target: text, reason: why } : { kind, name: rest, key: `ssm:${rest}` };
  }
  if (kind === 'lt') {
    if (!LT_ID.test(rest) && !LT_NAME.test(rest)) {
      return { target: text, reason: 'a launch template is its id (lt-...) or a name of 3-128 letters, digits or ().-/_' };
    }
    return { kind, ref: rest, key: `lt:${rest}` };
  }
  if (kind === 'asg') {
    if (!ASG_NAME.test(rest)) return { target: text, reason: 'an Auto Scaling group name has 1-255 characters, no colon' };
    return { kind, name: rest, key: `asg:${rest}` };
  }
  return { target: text, reason: 'a target is ssm:/path/name, lt:<launch template name or id> or asg:<group name>' };
}

/** The targets of an `ami-lifecycle:promote` value: each read on its own, duplicates once. */
export function parsePromoteTag(raw: string, prefix: string = DEFAULT_PARAMETER_PREFIX): PromoteTag {
  const targets: PromotionTarget[] = [];
  const problems: TargetProblem[] = [];
  for (const part of raw.split(',')) {
    if (part.trim() === '') continue;
    const parsed = parseTarget(part, prefix);
    if ('reason' in parsed) problems.push(parsed);
    else if (!targets.some((t) => t.key === parsed.key)) targets.push(parsed);
  }
  return { targets, problems };
}

/** What a target holds now: its image id, and that image's creation date when EC2 still knows it. */
export interface HeldImage {
  imageId: string;
  createdAt?: Date | undefined;
}

export interface Candidate {
  imageId: string;
  createdAt: Date;
}

export type PromotionDecision =
  | { action: 'promote'; replaces?: string | undefined }
  | { action: 'already-holds' }
  | { action: 'holds-newer'; held: string };

/**
 * Whether the candidate goes into a target that holds `held`: not when it holds the candidate
 * already (a retried or duplicated delivery), nor when it holds a newer image (a late event of
 * an older image, or an operator's newer choice). An image EC2 no longer knows (deregistered, or
 * never there) is no reason to hold back: the candidate replaces it.
 */
export function decidePromotion(candidate: Candidate, held: HeldImage | undefined): PromotionDecision {
  if (!held) return { action: 'promote' };
  if (held.imageId === candidate.imageId) return { action: 'already-holds' };
  if (held.createdAt && newestFirst({ createdAt: held.createdAt, imageId: held.imageId }, { ...candidate }) < 0) {
    return { action: 'holds-newer', held: held.imageId };
  }
  return { action: 'promote', replaces: held.imageId };
}

/** One earlier value of a target: an SSM parameter's version, a launch template's version. */
export interface TargetRevision {
  version: number;
  imageId: string;
}

/**
 * The image a rollback returns a target to: the newest revision older than the one it holds now
 * whose image differs from the held one and may still be launched (`usable`: it exists, and is
 * not failed or marked bad). Undefined when there is none.
 */
export function chooseRollback(
  history: readonly TargetRevision[],
  held: string | undefined,
  usable: (imageId: string) => boolean,
): TargetRevision | undefined {
  const ordered = [...history].sort((a, b) => b.version - a.version);
  const current = held ?? ordered[0]?.imageId;
  return ordered.find((r) => r.imageId !== current && usable(r.imageId));
}

/** The `ami-lifecycle:promoted` tag of an image: the targets it was promoted to, by key. */
export function promotedTargets(tag: string | undefined): string[] {
  return (tag ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The tag value with `key` added (stable order, no duplicate); fits the tag's 256 characters or answers undefined. */
export function withPromotedTarget(tag: string | undefined, key: string): string | undefined {
  const keys = promotedTargets(tag);
  if (keys.includes(key)) return keys.join(',');
  const value = [...keys, key].join(',');
  return value.length <= 256 ? value : undefined;
}

export interface PromotedImage {
  imageId: string;
  createdAt: Date;
  lineage: string | undefined;
  /** Targets from its `promoted` tag. */
  promotedTo: readonly string[];
}

/**
 * What rotation keeps for promotion: per lineage and target, the newest image promoted to it
 * (what it holds, unless rolled back) and the `depth` before it (its rollback points), each with
 * its reason. Images a target holds are also kept by the reference check; this keeps them by
 * their own record even where that check cannot see (another account's parameter, a deleted
 * version's image being restored by a rollback).
 */
export function promotionKeeps(images: readonly PromotedImage[], depth: number): Map<string, string[]> {
  const byTarget = new Map<string, PromotedImage[]>();
  for (const img of images) {
    for (const key of img.promotedTo) {
      const group = `${img.lineage ?? ''}\u0000${key}`;
      byTarget.set(group, [...(byTarget.get(group) ?? []), img]);
    }
  }
  const keeps = new Map<string, string[]>();
  for (const [group, list] of byTarget) {
    const key = group.split('\u0000')[1]!;
    list
      .sort(newestFirst)
      .slice(0, depth + 1)
      .forEach((img, i) => {
        const why = i === 0 ? `promoted to ${key}` : `rollback point ${i} of ${depth} for ${key}`;
        keeps.set(img.imageId, [...(keeps.get(img.imageId) ?? []), why]);
      });
  }
  return keeps;
}
