/**
 * The user contract: the tags an operator puts on an instance, and the tags the
 * service puts on what it creates. Pure: no AWS imports.
 */
import * as v from 'valibot';

export const PREFIX = 'ami-lifecycle:';

export const TAG = {
  // set by the operator on an instance
  bake: `${PREFIX}bake`,
  retain: `${PREFIX}retain`,
  reboot: `${PREFIX}reboot`,
  recover: `${PREFIX}recover`,
  // set by the service on an instance, and on every image and snapshot it creates
  lineage: `${PREFIX}lineage`,
  // set by the service on images and snapshots
  managedBy: `${PREFIX}managed-by`,
  sourceInstance: `${PREFIX}source-instance`,
  schedule: `${PREFIX}schedule`,
  slot: `${PREFIX}slot`,
  status: `${PREFIX}status`,
  // set by recovery (issue 4) on the instances it relaunches and replaces
  replaces: `${PREFIX}replaces`,
  replacedBy: `${PREFIX}replaced-by`,
  generation: `${PREFIX}generation`,
  // set by the service on an instance: digest of the launch configuration last captured
  captured: `${PREFIX}captured`,
  // set by recovery on a replacement launched without a captured reference that had vanished
  launchedWithout: `${PREFIX}launched-without`,
  // set by the operator: the instance is under planned maintenance, and recovery relaunches nothing
  maintenance: `${PREFIX}maintenance`,
  // set by recovery on an instance: when it first held a trigger under the maintenance marker
  maintenanceSince: `${PREFIX}maintenance-since`,
  // set by recovery on an instance: when it rebooted it after its instance status check failed
  rebootedAt: `${PREFIX}rebooted-at`,
  // issue 14, set by the operator: on a volume, `true` (left out of the image) or `follow` (left
  // out, and moved to the replacement); on an instance, `volumes=root` (image the root volume only),
  // `copy-tags` (instance tags copied onto images and snapshots), and the recovery fallbacks
  exclude: `${PREFIX}exclude`,
  volumes: `${PREFIX}volumes`,
  copyTags: `${PREFIX}copy-tags`,
  subnets: `${PREFIX}subnets`,
  fallbackTypes: `${PREFIX}fallback-types`,
  // issue 14, set by the service on an image: the devices left out of it
  excluded: `${PREFIX}excluded`,
  // issue 14, set by recovery on a following volume just before it detaches it: `<replacement id> <device>`
  follows: `${PREFIX}follows`,
  // issue 16, set by the operator on an instance: who may launch its lineage's good images (accounts,
  // organizations, OUs; never everyone), and whether their snapshots are shared with the accounts too
  share: `${PREFIX}share`,
  shareSnapshots: `${PREFIX}share-snapshots`,
  // issue 16, set by the service on an image: the digest of the sharing it last applied (shared/domain/sharing.ts)
  shared: `${PREFIX}shared`,
  // issue 15, set by the operator on an instance (`off` or `boot`; the stage's verifyDefault when
  // absent), and by the bake on its image: the image is good only after a test instance booted from it
  verify: `${PREFIX}verify`,
  // issue 15, set by the verifier on a test instance: what it is (`verification`) and the image it tests
  role: `${PREFIX}role`,
  verifies: `${PREFIX}verifies`,
  // issue 15, set by the verifier on an image that failed its verification: which check, and why
  failure: `${PREFIX}failure`,
  // issue 16, set by the operator on an instance: where its lineage's newest good image is promoted
  promote: `${PREFIX}promote`,
  // issue 16, set by the operator on a launch template or Auto Scaling group the service may promote into
  promotable: `${PREFIX}promotable`,
  // issue 16, set by the service on an image: the targets it was promoted to (comma list, as the promote tag spells them)
  promoted: `${PREFIX}promoted`,
  // issue 17, set by the bake on an image: the regions it is copied to, and how long its copies are kept
  copyTo: `${PREFIX}copy-to`,
  copyRetain: `${PREFIX}copy-retain`,
  // issue 17, set by the service on a copy in another region: the image it was copied from, and its region
  sourceImage: `${PREFIX}source-image`,
  sourceRegion: `${PREFIX}source-region`,
  // issue 17, set on a DR relaunch (an instance launched in another region): the copy it was launched from
  drRelaunchOf: `${PREFIX}dr-relaunch-of`,
  // issue 17, set on the DR capture (a lineage's launch template in another region): the home capture's
  // digest it holds, and what of the home capture could not be copied into the region (see dr-launch.ts)
  captureDigest: `${PREFIX}capture-digest`,
  leftBehind: `${PREFIX}left-behind`,
  // issue 19, set by `adopt` on an image it adopts (and its snapshots): the adoption record,
  // `<image id>@<ISO time>`; the image id binds it to that image, so a copy carrying it is not adopted
  adopted: `${PREFIX}adopted`,
  name: 'Name',
} as const;

export type Tags = Readonly<Record<string, string>>;

/** Lifecycle status of an image (and its snapshots), kept in the `status` tag. */
export const IMAGE_STATUSES = ['pending', 'verifying', 'good', 'failed', 'bad'] as const;
export type ImageStatus = (typeof IMAGE_STATUSES)[number];

/** Schedule names: what `ami-lifecycle:bake` lists and serverless.yml declares. */
export const ScheduleName = v.pipe(
  v.string(),
  v.regex(/^[a-z][a-z0-9-]{0,23}$/, 'a schedule name is 1-24 lower-case letters, digits or dashes, starting with a letter'),
);

/**
 * The stack's name, the value of `managed-by` on everything it creates: the first part
 * of every AMI name, so it keeps to characters AMI names allow (MANAGED_BY in config).
 */
export const StackName = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/, 'a stack name is 1-32 letters, digits or dashes, starting with a letter or digit'),
);

/** A lineage id ends up in AMI names, so it keeps to characters AMI names allow. */
export const Lineage = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$/, 'a lineage is 1-48 letters, digits, dots, dashes or underscores'),
);

export const RECOVER_MODES = ['off', 'on-failure', 'always'] as const;
export type RecoverMode = (typeof RECOVER_MODES)[number];

export const RETENTION_TIERS = ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
export type RetentionTier = (typeof RETENTION_TIERS)[number];

export type Retention =
  | { kind: 'count'; count: number }
  | { kind: 'age'; days: number }
  | { kind: 'tiers'; tiers: Partial<Record<RetentionTier, number>> };

const MAX_COUNT = 1000;
const MAX_DAYS = 3650;

export const RetentionSpec = v.pipe(
  v.string(),
  v.rawTransform(({ dataset: { value: raw }, addIssue, NEVER }): Retention => {
    const value = raw.trim();
    if (/^\d+$/.test(value)) {
      const count = Number(value);
      if (count < 1 || count > MAX_COUNT) {
        addIssue({ message: `a count must be 1-${MAX_COUNT}` });
        return NEVER;
      }
      return { kind: 'count', count };
    }
    const age = /^(\d+)d$/.exec(value);
    if (age) {
      const days = Number(age[1]);
      if (days < 1 || days > MAX_DAYS) {
        addIssue({ message: `an age must be 1-${MAX_DAYS} days` });
        return NEVER;
      }
      return { kind: 'age', days };
    }
    if (value.includes('=')) {
      const tiers: Partial<Record<RetentionTier, number>> = {};
      for (const part of value.split(',')) {
        const m = /^\s*([a-z]+)\s*=\s*(\d+)\s*$/.exec(part);
        if (!m) {
          addIssue({ message: `'${part}' is not tier=count` });
          return NEVER;
        }
        const tier = m[1] as RetentionTier;
        if (!RETENTION_TIERS.includes(tier)) {
          addIssue({ message: `unknown tier '${m[1]}' (known: ${RETENTION_TIERS.join(', ')})` });
          return NEVER;
        }
        if (tier in tiers) {
          addIssue({ message: `tier '${tier}' given twice (each tier at most once, e.g. daily=7,weekly=4)` });
          return NEVER;
        }
        const n = Number(m[2]);
        if (n > MAX_COUNT) {
          addIssue({ message: `a tier keeps at most ${MAX_COUNT}` });
          return NEVER;
        }
        tiers[tier] = n;
      }
      if (!Object.values(tiers).some((n) => n > 0)) {
        addIssue({ message: 'at least one tier must keep one image or more' });
        return NEVER;
      }
      return { kind: 'tiers', tiers };
    }
    addIssue({ message: "expected a count ('7'), an age ('14d') or tiers ('daily=7,weekly=4,monthly=12')" });
    return NEVER;
  }),
);

export const Bool = v.pipe(
  v.string(),
  v.transform((s) => s.trim().toLowerCase()),
  v.picklist(['true', 'false'], "expected 'true' or 'false'"),
  v.transform((s) => s === 'true'),
);

const Recover = v.pipe(
  v.string(),
  v.transform((s) => s.trim().toLowerCase()),
  v.picklist(RECOVER_MODES, `expected one of ${RECOVER_MODES.join(', ')}`),
);

/** Which of an instance's volumes go into its image (`ami-lifecycle:volumes`). */
export const VOLUME_MODES = ['all', 'root'] as const;
export type VolumeMode = (typeof VOLUME_MODES)[number];

const Volumes = v.pipe(
  v.string(),
  v.transform((s) => s.trim().toLowerCase()),
  v.picklist(VOLUME_MODES, `expected one of ${VOLUME_MODES.join(', ')}`),
);

/** What a volume's `ami-lifecycle:exclude` tag may say: left out (`true`, `follow`: it moves on recovery) or not. */
export const EXCLUDE_VALUES = ['true', 'follow', 'false'] as const;

/**
 * Instance tags copied onto an image and its snapshots (the stage's `copyTags`, an instance's
 * `ami-lifecycle:copy-tags`): none, every key the operator may write (`*`), or the keys named.
 */
export type CopyTags = { kind: 'none' } | { kind: 'all' } | { kind: 'keys'; keys: string[] };

/** EC2 tag keys are 1-128 characters ("Tag restrictions", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html). */
const MAX_TAG_KEY = 128;

/** True for the keys never copied: EC2 refuses `aws:` in a request, and the service's own are set by it. */
export const notCopyable = (key: string): boolean => key.toLowerCase().startsWith('aws:') || key.startsWith(PREFIX);

/**
 * `''` or `none`: nothing; `*`: every tag but `aws:` and the service's own; else a comma list of
 * keys (trimmed, each at most 128 characters, neither `aws:` nor the service's own).
 */
export const CopyTagsSpec = v.pipe(
  v.string(),
  v.rawTransform(({ dataset: { value: raw }, addIssue, NEVER }): CopyTags => {
    const value = raw.trim();
    if (value === '' || value.toLowerCase() === 'none') return { kind: 'none' };
    if (value === '*') return { kind: 'all' };
    const keys = value.split(',').map((k) => k.trim());
    const fail = (message: string) => {
      addIssue({ message });
      return NEVER;
    };
    if (keys.some((k) => k === '')) return fail("expected a comma list of tag keys, '*' or 'none' (an empty key is not one)");
    if (keys.some((k) => k === '*' || k.toLowerCase() === 'none')) return fail("'*' and 'none' stand alone, not in a list of keys");
    const long = keys.filter((k) => k.length > MAX_TAG_KEY);
    if (long.length > 0)
      return fail(`a tag key is at most ${MAX_TAG_KEY} characters: ${long.map((k) => `'${k.slice(0, 20)}...'`).join(', ')}`);
    const refused = keys.filter(notCopyable);
    if (refused.length > 0) return fail(`never copied: ${refused.join(', ')} (aws: keys are AWS's, ${PREFIX} keys the service's own)`);
    return { kind: 'keys', keys: [...new Set(keys)] };
  }),
);

/**
 * Who an image is shared with (`ami-lifecycle:share`): 12-digit account ids, organization ARNs and
 * OU ARNs, each list sorted and without repeats. Never the group `all` (public).
 */
export interface ShareTargets {
  accounts: string[];
  organizations: string[];
  units: string[];
}

/**
 * The forms ModifyImageAttribute's launch permissions take: "The Amazon Web Services account ID,
 * organization ARN, or OU ARN" (EC2 API reference, LaunchPermission,
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_LaunchPermission.html). The ARN patterns
 * are the ones Image Builder documents for the same launch permissions (LaunchPermissionConfiguration,
 * https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_LaunchPermissionConfiguration.html);
 * an account id is 12 digits ("View AWS account identifiers",
 * https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-identifiers.html).
 */
export const SHARE_PATTERNS = {
  account: /^[0-9]{12}$/,
  organization: /^arn:aws[a-z-]*:organizations::[0-9]{12}:organization\/o-[a-z0-9]{10,32}$/,
  unit: /^arn:aws[a-z-]*:organizations::[0-9]{12}:ou\/o-[a-z0-9]{10,32}\/ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}$/,
} as const;

/**
 * "AMI sharing: the maximum number of entities (organizations, organizational units (OUs), and
 * accounts) that an AMI can be shared with in a Region ... 1,000" ("AMI quotas",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ami-quotas.html). A 256-character tag value
 * holds far fewer; the parser holds the quota anyway, so that no input can ask for more.
 */
export const MAX_SHARE_TARGETS = 1000;

/**
 * `''` or `none`: shared with nobody; else a comma list of account ids, organization ARNs and OU
 * ARNs. `all` (public) is refused, and so is the whole list when any entry is malformed: a bad
 * value never changes what the images are shared with.
 */
export const ShareSpec = v.pipe(
  v.string(),
  v.rawTransform(({ dataset: { value: raw }, addIssue, NEVER }): ShareTargets => {
    const value = raw.trim();
    const targets: ShareTargets = { accounts: [], organizations: [], units: [] };
    if (value === '' || value.toLowerCase() === 'none') return targets;
    const fail = (message: string) => {
      addIssue({ message });
      return NEVER;
    };
    const entries = value.split(',').map((e) => e.trim());
    if (entries.some((e) => e.toLowerCase() === 'all')) {
      return fail("'all' would make the images public: never done (share with account ids, organization or OU ARNs)");
    }
    if (entries.some((e) => e === '')) return fail('an empty entry (expected a comma list of account ids, organization or OU ARNs)');
    const bad = entries.filter((e) => !Object.values(SHARE_PATTERNS).some((p) => p.test(e)));
    if (bad.length > 0) {
      const shown = bad.slice(0, 5).map((e) => `'${e.length > 80 ? `${e.slice(0, 80)}...` : e}'`);
      return fail(
        `not an account id (12 digits), an organization ARN (arn:aws:organizations::<account>:organization/o-...) or an OU ARN ` +
          `(arn:aws:organizations::<account>:ou/o-.../ou-...): ${shown.join(', ')}${bad.length > 5 ? ` and ${bad.length - 5} more` : ''}`,
      );
    }
    const unique = [...new Set(entries)];
    if (unique.length > MAX_SHARE_TARGETS) return fail(`an image is shared with at most ${MAX_SHARE_TARGETS} entities (AMI sharing quota)`);
    for (const e of unique.sort()) {
      if (SHARE_PATTERNS.account.test(e)) targets.accounts.push(e);
      else if (SHARE_PATTERNS.organization.test(e)) targets.organizations.push(e);
      else targets.units.push(e);
    }
    return targets;
  }),
);
/** How an image proves itself good (`ami-lifecycle:verify`): available is enough (`off`), or a test instance boots (`boot`). */
export const VERIFY_MODES = ['off', 'boot'] as const;
export type VerifyMode = (typeof VERIFY_MODES)[number];

export const Verify = v.pipe(
  v.string(),
  v.transform((s) => s.trim().toLowerCase()),
  v.picklist(VERIFY_MODES, `expected one of ${VERIFY_MODES.join(', ')}`),
);

/** An AWS region name as the contract spells it (issue 17): `eu-west-1`, `us-gov-west-1`. */
export const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d+$/;
export const Region = v.pipe(v.string(), v.regex(REGION_PATTERN, 'a region name such as eu-west-1'));

/**
 * Where images are copied (`ami-lifecycle:copy-to`, the stage's copyTo): `''` or `none`, no region;
 * else a comma list of region names, sorted and without repeats. A malformed entry refuses the
 * whole list: a bad value never copies somewhere the operator did not name.
 */
export const CopyToSpec = v.pipe(
  v.string(),
  v.rawTransform(({ dataset: { value: raw }, addIssue, NEVER }): string[] => {
    const value = raw.trim();
    if (value === '' || value.toLowerCase() === 'none') return [];
    // An empty entry (a trailing comma) names nothing, as in the other comma lists.
    const entries = value
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean);
    const bad = entries.filter((e) => !REGION_PATTERN.test(e));
    if (bad.length > 0) {
      addIssue({
        message: `not a region name: ${bad.map((e) => `'${e.slice(0, 40)}'`).join(', ')} (expected a comma list such as eu-west-1,us-east-2, or 'none')`,
      });
      return NEVER;
    }
    return [...new Set(entries)].sort();
  }),
);

/** A problem with one tag of one instance: what PolicyInvalid reports. */
export interface TagProblem {
  tag: string;
  value: string;
  reason: string;
}

/** What the operator asked for on one instance, as far as it could be read. */
export interface InstancePolicy {
  /** Known schedule names from `bake`; empty when the tag is absent or unreadable. */
  schedules: string[];
  reboot: boolean;
  retain: Retention | undefined;
  recover: RecoverMode;
  lineage: string | undefined;
  /** Which volumes go into the image: `all` unless the instance says `root` (an unreadable value: all). */
  volumes: VolumeMode;
  /** The instance's own `copy-tags`, or undefined to follow the stage's (an unreadable value too). */
  copyTags: CopyTags | undefined;
  /** The instance's own `verify`, or undefined to follow the stage's (an unreadable value too). */
  verify: VerifyMode | undefined;
  /** The instance's own `copy-to` (`[]` for `none`), or undefined to follow the stage's (an unreadable value: none, reported). */
  copyTo: string[] | undefined;
  /** The instance's valid `copy-retain`, as written; undefined when absent or unreadable (reported). */
  copyRetain: string | undefined;
  problems: TagProblem[];
  /**
   * False when a tag that baking depends on (bake, reboot, lineage) is unreadable:
   * the instance is then not baked, rather than baked in a way the operator did not ask for.
   * Unreadable retain/recover values are reported but do not stop backups: skipping a
   * backup is never the safe side.
   */
  bakeable: boolean;
}

/** The keys an operator sets on an instance; the others under the prefix are the service's. */
export const OPERATOR_KEYS = [
  TAG.bake,
  TAG.retain,
  TAG.reboot,
  TAG.recover,
  TAG.maintenance,
  TAG.volumes,
  TAG.copyTags,
  TAG.subnets,
  TAG.fallbackTypes,
  TAG.share,
  TAG.shareSnapshots,
  TAG.verify,
  TAG.promote,
  TAG.copyTo,
  TAG.copyRetain,
] as const;
const KNOWN_KEYS: ReadonlySet<string> = new Set(Object.values(TAG).filter((k) => k.startsWith(PREFIX)));

/** Edit distance of two short strings (keys are at most 128 characters). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * Why a key under the prefix is not read: a misspelt `ami-lifecycle:retian` would
 * otherwise leave the lineage on the default retention without a word.
 */
function unknownKeyReason(key: string): string {
  const normal = key
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, '-');
  let meant: string | undefined = KNOWN_KEYS.has(normal) ? normal : undefined;
  if (!meant && normal.length <= 64) {
    const near = [...OPERATOR_KEYS, TAG.lineage]
      .filter((k) => Math.abs(k.length - normal.length) <= 2)
      .map((k) => ({ k, d: editDistance(normal, k) }))
      .filter(({ d }) => d <= 2)
      .sort((x, y) => x.d - y.d);
    meant = near[0]?.k;
  }
  return `unknown tag key${meant ? `, did you mean ${meant}?` : ''} (keys are case-sensitive; an operator sets ${OPERATOR_KEYS.join(', ')}); it is ignored`;
}

function reason(issues: ReadonlyArray<v.BaseIssue<unknown>>): string {
  return issues.map((i) => i.message).join('; ');
}

/**
 * Reads the `ami-lifecycle:*` tags of one instance. Never throws: every bad value
 * becomes a TagProblem naming the tag, the value and what was expected, and so does
 * every key under the prefix that the service does not know (a typo; it never stops
 * a bake).
 */
export function parseInstancePolicy(tags: Tags, knownSchedules: readonly string[]): InstancePolicy {
  const problems: TagProblem[] = [];
  let bakeable = true;
  const problem = (tag: string, value: string, why: string, blocksBake: boolean) => {
    problems.push({ tag, value, reason: why });
    if (blocksBake) bakeable = false;
  };

  let schedules: string[] = [];
  const bakeRaw = tags[TAG.bake];
  if (bakeRaw !== undefined) {
    const names = bakeRaw.split(',').map((s) => s.trim());
    const malformed = names.filter((n) => !v.is(ScheduleName, n));
    if (names.every((n) => n === '')) {
      problem(TAG.bake, bakeRaw, 'expected a comma list of schedule names, e.g. nightly or nightly,weekly', true);
    } else if (malformed.length > 0) {
      problem(
        TAG.bake,
        bakeRaw,
        `not a schedule name: ${malformed.map((n) => `'${n}'`).join(', ')} (lower-case letters, digits and dashes, comma separated)`,
        true,
      );
    } else {
      const unknown = names.filter((n) => !knownSchedules.includes(n));
      if (unknown.length > 0) {
        // Known names still bake: one typo must not stop the schedules that are right.
        problem(
          TAG.bake,
          bakeRaw,
          `unknown schedule ${unknown.map((n) => `'${n}'`).join(', ')} (${knownSchedules.length > 0 ? `known: ${knownSchedules.join(', ')}` : 'no schedules are configured'})`,
          false,
        );
      }
      schedules = [...new Set(names.filter((n) => knownSchedules.includes(n)))];
    }
  }

  /** One tag through its schema: the parsed value, or the fallback and a problem. */
  const read = <T>(key: string, schema: v.GenericSchema<string, T>, fallback: T, blocksBake: boolean): T => {
    const raw = tags[key];
    if (raw === undefined) return fallback;
    const parsed = v.safeParse(schema, raw);
    if (parsed.success) return parsed.output;
    problem(key, raw, reason(parsed.issues), blocksBake);
    return fallback;
  };
  const reboot = read(TAG.reboot, Bool, false, true);
  const retain = read<Retention | undefined>(TAG.retain, RetentionSpec, undefined, false);
  const recover = read<RecoverMode>(TAG.recover, Recover, 'off', false);
  // A lineage we cannot put in an image name would split or merge series: do not guess.
  const lineage = read<string | undefined>(TAG.lineage, Lineage, undefined, true);
  // Unreadable: every volume goes in, and the stage's tags are copied. Never a skipped backup.
  const volumes = read<VolumeMode>(TAG.volumes, Volumes, 'all', false);
  const copyTags = read<CopyTags | undefined>(TAG.copyTags, CopyTagsSpec, undefined, false);
  // Read here to be reported with the others (status, the scheduled run); the sharing step
  // (shared/domain/sharing.ts) reads them again and changes nothing for a lineage while they are bad.
  read(TAG.share, ShareSpec, undefined, false);
  read(TAG.shareSnapshots, Bool, false, false);
  // Unreadable: the stage's default. A bake is never skipped for it.
  const verify = read<VerifyMode | undefined>(TAG.verify, Verify, undefined, false);
  // Unreadable copy tags: reported, and the image is still baked (a copy is extra, never a reason to skip the backup).
  // An unreadable copy-to copies nowhere rather than to the stage's default: the operator asked for something else.
  const copyTo = read<string[] | undefined>(TAG.copyTo, CopyToSpec, tags[TAG.copyTo] === undefined ? undefined : [], false);
  const copyRetain = read<Retention | undefined>(TAG.copyRetain, RetentionSpec, undefined, false)
    ? tags[TAG.copyRetain]!.trim()
    : undefined;
  for (const key of Object.keys(tags)) {
    if (key.trim().toLowerCase().startsWith(PREFIX) && !KNOWN_KEYS.has(key)) problem(key, tags[key]!, unknownKeyReason(key), false);
  }

  return { schedules, reboot, retain, recover, lineage, volumes, copyTags, verify, copyTo, copyRetain, problems, bakeable };
}

/** Tag list (as the EC2 API returns it) to a plain record; entries without a key are dropped. */
export function tagRecord(tags: ReadonlyArray<{ Key?: string | undefined; Value?: string | undefined }> | undefined): Tags {
  // fromEntries defines own properties, so a tag named `__proto__` is kept as a tag.
  return Object.fromEntries((tags ?? []).flatMap((t) => (t.Key !== undefined ? [[t.Key, t.Value ?? '']] : [])));
}
