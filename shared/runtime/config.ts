/**
 * Configuration from the environment, validated once at cold start. A function
 * with bad configuration fails at load with every problem listed, rather than
 * half-working.
 */
import * as v from 'valibot';
import { defineSchema, int, intFrom, numberFrom, object, pathOf, record, strictObject } from '../domain/schema.js';
import { TimeZone } from '../domain/schedule.js';
import { DEFAULT_PARAMETER_PREFIX } from '../domain/promotion.js';
import { AWS_MAX_CONCURRENT_COPIES } from '../domain/copies.js';
import { CopyTagsSpec, CopyToSpec, Region, RetentionSpec, ScheduleName, Verify, type CopyTags, type VerifyMode } from '../domain/tags.js';
import type { VerifySettings } from '../domain/verification.js';
import type { PromotionSettings } from '../use-cases/ports.js';
import type { AdoptionSettings, RecheckTarget, RecoveryConfig, RotationSettings } from '../use-cases/settings.js';
import { ADOPT_LINEAGE, parseAge } from '../domain/stale.js';
import { ConfigError } from './errors.js';
import { DrRegions } from '../domain/dr-launch.js';

/** An empty (or blank) variable is an unset one, so that its default applies. */
const unsetIfBlank = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);

/**
 * A variable whose blank value counts as unset, read by `schema` (undefined when unset or blank). Unset
 * is the empty string to valibot's object, which would otherwise refuse the missing key.
 */
const blankAsUnset = <T extends v.GenericSchema>(schema: T) => v.pipe(v.optional(v.unknown(), ''), v.transform(unsetIfBlank), schema);

/** 'true' or 'false'; blank or unset is false. */
const Flag = v.pipe(
  v.optional(v.picklist(['true', 'false', '']), 'false'),
  v.transform((s) => s === 'true'),
);

/** A variable holding JSON, `fallback` (`{}`) when blank or unset, read by `schema` once parsed. */
const jsonVariable = <T extends v.GenericSchema>(schema: T, notJson: string, fallback = '{}') =>
  blankAsUnset(
    v.pipe(
      v.optional(v.string(), fallback),
      v.rawTransform(({ dataset, addIssue, NEVER }) => {
        try {
          return JSON.parse(dataset.value) as unknown;
        } catch {
          addIssue({ message: notJson });
          return NEVER;
        }
      }),
      schema,
    ),
  );

/** DR_REGIONS: a JSON object, region -> DrRegionEntry (shared/domain/dr-launch.ts); blank: none. */
const DrRegionsJson = jsonVariable(DrRegions, 'not JSON (expected an object: region -> {subnetId, securityGroupIds, ...})');

/**
 * One entry of adoptFilters (ADOPT_FILTERS): the filters and options the CLI's `adopt` takes
 * (docs/stale-images.md). Strict: a key misspelt would otherwise widen the filter it meant to narrow.
 */
const AdoptFilterEntry = strictObject({
  /** The image name, `*` and `?` as EC2's name filter reads them. */
  name: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(128))),
  /** Tags the image must carry, key -> value. */
  tags: v.optional(record(v.pipe(v.string(), v.minLength(1), v.maxLength(128)), v.pipe(v.string(), v.maxLength(256))), {}),
  /** Created, and last launched, at least this long ago: `90d`, `12w`, or a number of days. */
  olderThan: v.pipe(
    v.optional(v.union([v.string(), v.pipe(int(), v.minValue(0))]), '90d'),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      try {
        return parseAge(String(dataset.value));
      } catch (error) {
        addIssue({ message: (error as Error).message });
        return NEVER;
      }
    }),
  ),
  /** Images shared with other accounts may be adopted (never public ones): the operator says so, explicitly. */
  includeShared: v.optional(v.boolean(), false),
  /** The retain tag value the adopted images get. */
  retain: v.optional(
    v.pipe(
      v.string(),
      v.transform((s) => s.trim()),
      v.check((s) => v.is(RetentionSpec, s), 'not a retention (7, 14d, daily=7,weekly=4)'),
    ),
  ),
  /** The lineage they join; absent: adopted/<the name without its numbered suffix>. */
  lineage: v.optional(
    v.pipe(v.string(), v.regex(ADOPT_LINEAGE, '1-48 letters, digits, dots, dashes or underscores, optionally after adopted/')),
  ),
});

/**
 * ADOPT_FILTERS, read entry by entry: a bad entry is named with its problems and adopts nothing,
 * the others go on (the scheduled run reports it in ImagesAdopted). Not JSON, or not a list, is
 * a bad configuration, as for DR_REGIONS: nothing can be read from it.
 */
export function readAdoptionFilters(entries: readonly unknown[]): AdoptionSettings {
  const settings: AdoptionSettings = { filters: [], invalid: [] };
  entries.forEach((entry, index) => {
    const parsed = v.safeParse(AdoptFilterEntry, entry);
    if (!parsed.success) {
      settings.invalid.push({ index, problems: parsed.issues.map((i) => [...pathOf(i).map(String), i.message].join(': ')) });
      return;
    }
    const { name, tags, olderThan, includeShared, retain, lineage } = parsed.output;
    settings.filters.push({
      index,
      filters: { olderThanDays: olderThan, name, tags, includeShared },
      ...(retain !== undefined ? { retain } : {}),
      ...(lineage !== undefined ? { lineage } : {}),
    });
  });
  return settings;
}

/** Issue 17: where images are copied and how many copies are in flight into one region at most. */
export interface CopySettings {
  /** The stage's copyTo: regions for an instance without its own copy-to. */
  copyTo: string[];
  /** 1 to 300 (AWS's limit, copies.ts). */
  maxConcurrent: number;
  drRegions: DrRegions;
  /** The stack's own region (AWS_REGION, which Lambda sets); undefined where it is not known. */
  homeRegion: string | undefined;
}

const ConfigSchema = object({
  /** Value of the managed-by tag: the stack, e.g. ami-lifecycle-prod. Part of every AMI name. */
  MANAGED_BY: v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/, '1-32 letters, digits or dashes')),
  /** The service's own EventBridge bus. */
  EVENT_BUS_NAME: v.pipe(v.string(), v.minLength(1)),
  /** Comma list of the schedule names declared in serverless.yml. */
  SCHEDULES: v.pipe(
    v.string(),
    v.transform((s) =>
      s
        .split(',')
        .map((n) => n.trim())
        .filter(Boolean),
    ),
    v.pipe(v.array(ScheduleName), v.minLength(1, 'at least one schedule')),
  ),
  /** Retention of a lineage whose instance and images name none. */
  DEFAULT_RETAIN: v.pipe(blankAsUnset(v.optional(v.string(), '7')), RetentionSpec),
  /** Time zone of the schedules, and of retention's days, weeks and months. */
  TIMEZONE: blankAsUnset(v.optional(TimeZone, 'UTC')),
  /** Days a failed or bad image is kept for a look before rotation deletes it. */
  FAILED_GRACE_DAYS: blankAsUnset(v.optional(intFrom(0, 365), 3)),
  /** Kept images older than this many days are deprecated; empty or 0 turns it off. */
  DEPRECATE_AFTER_DAYS: v.pipe(
    v.optional(v.string(), ''),
    v.transform((s) => (s.trim() === '' || s.trim() === '0' ? undefined : Number(s))),
    v.optional(v.pipe(int(), v.minValue(1), v.maxValue(3650))),
  ),
  /** Orphaned managed snapshots younger than this are spared (their image may still be in the making). */
  ORPHAN_GRACE_HOURS: blankAsUnset(v.optional(numberFrom(0, 720), 24)),
  /** Recovery gives up on a lineage after this many relaunches within an hour. */
  RECOVERY_MAX_PER_HOUR: blankAsUnset(v.optional(intFrom(1, 100), 3)),
  /** A replacement failing sooner than this after launch marks its image bad. */
  RECOVERY_CRASH_LOOP_MINUTES: blankAsUnset(v.optional(intFrom(0, 1440), 30)),
  /** Minutes after recovery reboots an instance whose instance check failed before it relaunches it if the check still fails. */
  RECOVERY_INSTANCE_CHECK_WAIT_MINUTES: blankAsUnset(v.optional(intFrom(1, 1440), 15)),
  /** The longest a bake's reboot (reboot=true) holds alarm- and Health-triggered recovery of its instance. */
  RECOVERY_BAKE_REBOOT_WINDOW_MINUTES: blankAsUnset(v.optional(intFrom(1, 1440), 20)),
  /** Terminate a replaced instance that still exists (it is always tagged replaced-by). */
  RECOVERY_TERMINATE_REPLACED: Flag,
  /** Recovery plans and publishes RelaunchPlanned, launches nothing. */
  RECOVERY_DRY_RUN: Flag,
  /** A replacement asks for the failed instance's primary private IP when that instance no longer holds it. */
  RECOVERY_KEEP_PRIVATE_IP: Flag,
  /** Rotation plans and reports but deletes nothing. */
  DRY_RUN: Flag,
  /** Instance tags copied onto images and snapshots: comma list of keys, '*', or '' / 'none'. */
  COPY_TAGS: v.pipe(v.optional(v.string(), ''), CopyTagsSpec),
  /** `ami-lifecycle:verify` of an instance without one: `off` (available is good) or `boot` (docs/verification.md). */
  VERIFY_DEFAULT: v.pipe(blankAsUnset(v.optional(v.string(), 'off')), Verify),
  /** Images kept per promotion target before the one promoted last (rollback points). */
  PROMOTE_ROLLBACK_DEPTH: blankAsUnset(v.optional(intFrom(0, 100), 1)),
  /** Issue 17: regions the images of an instance without copy-to are copied to (comma list; '' none). */
  COPY_TO: v.pipe(v.optional(v.string(), ''), CopyToSpec),
  /** Issue 17: copies in flight into one region at most, 1 to AWS's 300. */
  COPY_MAX_CONCURRENT: blankAsUnset(v.optional(intFrom(1, AWS_MAX_CONCURRENT_COPIES), 100)),
  /** Issue 17: the DR map (drRegions): where a DR relaunch goes, and the KMS key of copies into each region. */
  DR_REGIONS: DrRegionsJson,
  /** Issue 19: adoption filters of the scheduled rotation run (adoptFilters), a JSON list; blank or `[]`: off. */
  ADOPT_FILTERS: jsonVariable(
    v.pipe(v.array(v.unknown()), v.maxLength(20, 'at most 20 entries')),
    'not JSON (expected a list of filters)',
    '[]',
  ),
  /** Set by Lambda: the stack's own region. */
  AWS_REGION: blankAsUnset(v.optional(Region)),
});

export interface Config {
  managedBy: string;
  eventBusName: string;
  schedules: string[];
  copyTags: CopyTags;
  verifyDefault: VerifyMode;
  rotation: RotationSettings;
  recovery: RecoveryConfig;
  copies: CopySettings;
  /** Issue 19: the scheduled run's adoption (adoptFilters); no entries: off. */
  adoption: AdoptionSettings;
}

/** What every caller of the use cases takes from the configuration as it is (functions and CLI alike). */
export function stageSettings(
  config: Config,
): Pick<Config, 'managedBy' | 'schedules' | 'copyTags' | 'verifyDefault' | 'rotation' | 'recovery' | 'copies'> {
  const { managedBy, schedules, copyTags, verifyDefault, rotation, recovery, copies } = config;
  return { managedBy, schedules, copyTags, verifyDefault, rotation, recovery, copies };
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = v.safeParse(ConfigSchema, env);
  if (!parsed.success) {
    const problems = parsed.issues.map((i) => `${pathOf(i).join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  return {
    managedBy: parsed.output.MANAGED_BY,
    eventBusName: parsed.output.EVENT_BUS_NAME,
    schedules: parsed.output.SCHEDULES,
    copyTags: parsed.output.COPY_TAGS,
    verifyDefault: parsed.output.VERIFY_DEFAULT,
    rotation: {
      defaultRetention: parsed.output.DEFAULT_RETAIN,
      timeZone: parsed.output.TIMEZONE,
      failedGraceDays: parsed.output.FAILED_GRACE_DAYS,
      deprecateAfterDays: parsed.output.DEPRECATE_AFTER_DAYS,
      dryRun: parsed.output.DRY_RUN,
      orphanGraceHours: parsed.output.ORPHAN_GRACE_HOURS,
      promoteRollbackDepth: parsed.output.PROMOTE_ROLLBACK_DEPTH,
    },
    recovery: {
      maxRelaunchesPerHour: parsed.output.RECOVERY_MAX_PER_HOUR,
      crashLoopGraceMinutes: parsed.output.RECOVERY_CRASH_LOOP_MINUTES,
      instanceCheckWaitMinutes: parsed.output.RECOVERY_INSTANCE_CHECK_WAIT_MINUTES,
      bakeRebootWindowMinutes: parsed.output.RECOVERY_BAKE_REBOOT_WINDOW_MINUTES,
      terminateReplaced: parsed.output.RECOVERY_TERMINATE_REPLACED,
      dryRun: parsed.output.RECOVERY_DRY_RUN,
      keepPrivateIp: parsed.output.RECOVERY_KEEP_PRIVATE_IP,
      runningWaitSeconds: 180,
    },
    copies: {
      copyTo: parsed.output.COPY_TO,
      maxConcurrent: parsed.output.COPY_MAX_CONCURRENT,
      drRegions: parsed.output.DR_REGIONS,
      homeRegion: parsed.output.AWS_REGION,
    },
    adoption: readAdoptionFilters(parsed.output.ADOPT_FILTERS),
  };
}

const RecheckTargetSchema = /* @__PURE__ */ defineSchema(() =>
  object({
    /** The recover function itself: where a deferred recovery's one-time schedule hands it back. */
    RECHECK_FUNCTION_ARN: v.pipe(v.string(), v.startsWith('arn:')),
    /** The role EventBridge Scheduler invokes it as. */
    RECHECK_ROLE_ARN: v.pipe(v.string(), v.startsWith('arn:')),
    /** Where Scheduler puts a recheck it could not deliver: the recover function's dead-letter queue. */
    RECHECK_DEAD_LETTER_ARN: v.pipe(v.string(), v.startsWith('arn:')),
  }),
);

/**
 * The recover function's own configuration: where its rechecks go (serverless.yml, functions.recover.environment);
 * with prefix VERIFY_CHECK, the verify function's (its one-time checks): the same three variables under that prefix.
 */
export function loadRecheckTarget(env: Record<string, string | undefined> = process.env, prefix = 'RECHECK'): RecheckTarget {
  const own =
    prefix === 'RECHECK'
      ? env
      : Object.fromEntries(['FUNCTION_ARN', 'ROLE_ARN', 'DEAD_LETTER_ARN'].map((k) => [`RECHECK_${k}`, env[`${prefix}_${k}`]]));
  const parsed = v.safeParse(RecheckTargetSchema, own);
  if (!parsed.success) {
    const named = (path: PropertyKey[]) => path.join('.').replace(/^RECHECK/, prefix);
    throw new ConfigError(`invalid configuration: ${parsed.issues.map((i) => `${named(pathOf(i))}: ${i.message}`).join('; ')}`);
  }
  return {
    functionArn: parsed.output.RECHECK_FUNCTION_ARN,
    roleArn: parsed.output.RECHECK_ROLE_ARN,
    deadLetterArn: parsed.output.RECHECK_DEAD_LETTER_ARN,
  };
}

const VerifySchema = /* @__PURE__ */ defineSchema(() =>
  object({
    /** The subnet test instances launch into: isolated, with no route in (docs/verification.md). */
    VERIFY_SUBNET_ID: blankAsUnset(v.optional(v.pipe(v.string(), v.regex(/^subnet-[0-9a-f]{8,17}$/, 'a subnet id')))),
    /** Their security group: no ingress. */
    VERIFY_SECURITY_GROUP_ID: blankAsUnset(v.optional(v.pipe(v.string(), v.regex(/^sg-[0-9a-f]{8,17}$/, 'a security group id')))),
    /** Their instance type; blank: the lineage's captured type. */
    VERIFY_INSTANCE_TYPE: blankAsUnset(
      v.optional(v.pipe(v.string(), v.regex(/^[a-z0-9-]+\.[a-z0-9-]+$/, 'an instance type, e.g. t3.micro'))),
    ),
    /** Minutes from a test instance's launch to a verdict; past it, the image fails (timeout). */
    VERIFY_TIMEOUT_MINUTES: blankAsUnset(v.optional(intFrom(5, 720), 20)),
    /** Test instances at once; images beyond wait, verifying, oldest first. */
    VERIFY_MAX_CONCURRENT: blankAsUnset(v.optional(intFrom(1, 100), 2)),
    /** 'true': the test instance gets the lineage's captured instance profile (SSM needs one, or Default Host Management). */
    VERIFY_INSTANCE_PROFILE: Flag,
    /** An SSM document run on the test instance once its status checks passed; blank: none. */
    VERIFY_COMMAND_DOCUMENT: blankAsUnset(v.optional(v.pipe(v.string(), v.regex(/^[a-zA-Z0-9_\-.:/]{3,128}$/, 'an SSM document name')))),
    /** Its parameters, a JSON object of string lists, e.g. {"commands":["systemctl is-active nginx"]}. */
    VERIFY_COMMAND_PARAMETERS: jsonVariable(record(v.string(), v.array(v.string())), 'not JSON'),
  }),
);

/**
 * The verify function's settings (params verify*). Undefined settings and the problems when the
 * subnet or security group is not set: the stage does not verify, and a verification asked for
 * fails loudly (the function's dead-letter queue) rather than launching somewhere unplanned.
 */
export function loadVerifySettings(env: Record<string, string | undefined> = process.env): VerifySettings | { notConfigured: string } {
  const parsed = v.safeParse(VerifySchema, env);
  if (!parsed.success) {
    throw new ConfigError(`invalid configuration: ${parsed.issues.map((i) => `${pathOf(i).join('.')}: ${i.message}`).join('; ')}`);
  }
  const d = parsed.output;
  if (!d.VERIFY_SUBNET_ID || !d.VERIFY_SECURITY_GROUP_ID) {
    return { notConfigured: 'verifySubnetId and verifySecurityGroupId must both be set for images to be verified (docs/verification.md)' };
  }
  return {
    subnetId: d.VERIFY_SUBNET_ID,
    securityGroupId: d.VERIFY_SECURITY_GROUP_ID,
    instanceType: d.VERIFY_INSTANCE_TYPE,
    timeoutMinutes: d.VERIFY_TIMEOUT_MINUTES,
    maxConcurrent: d.VERIFY_MAX_CONCURRENT,
    instanceProfile: d.VERIFY_INSTANCE_PROFILE,
    ...(d.VERIFY_COMMAND_DOCUMENT ? { command: { document: d.VERIFY_COMMAND_DOCUMENT, parameters: d.VERIFY_COMMAND_PARAMETERS } } : {}),
  };
}

/**
 * Checkpoint percentages of an instance refresh: ascending whole percentages, the last 100 if any
 * ("CheckpointPercentages ... Values must be unique and in ascending order. To replace all
 * instances, the final number must be 100", RefreshPreferences:
 * https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RefreshPreferences.html).
 */
const Checkpoints = /* @__PURE__ */ defineSchema(() =>
  v.pipe(
    v.optional(v.string(), ''),
    v.transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
        .map(Number),
    ),
    v.array(v.pipe(int(), v.minValue(1), v.maxValue(100))),
    v.check((l) => l.every((p, i) => i === 0 || p > l[i - 1]!), 'checkpoint percentages ascend, each once'),
    v.check((l) => l.length === 0 || l[l.length - 1] === 100, 'the last checkpoint percentage is 100'),
  ),
);

const PromotionSchema = /* @__PURE__ */ defineSchema(() =>
  object({
    /** Only parameters under this path are written (promoteParameterPrefix): a path that starts and ends with /. */
    PROMOTE_PARAMETER_PREFIX: blankAsUnset(
      v.optional(
        v.pipe(
          v.string(),
          v.regex(/^\/([a-zA-Z0-9_.-]+\/)+$/, 'a path such as /ami-lifecycle/'),
          v.check((p) => !/^\/(aws|ssm)/i.test(p), 'SSM reserves names that start with aws or ssm'),
        ),
        DEFAULT_PARAMETER_PREFIX,
      ),
    ),
    /** MinHealthyPercentage of an instance refresh, 0-100 (RefreshPreferences). */
    REFRESH_MIN_HEALTHY_PERCENTAGE: blankAsUnset(v.optional(intFrom(0, 100), 90)),
    REFRESH_SKIP_MATCHING: v.pipe(
      v.optional(v.picklist(['true', 'false', '']), 'true'),
      v.transform((s) => s !== 'false'),
    ),
    REFRESH_CHECKPOINT_PERCENTAGES: Checkpoints,
    PROMOTE_ROLLBACK_DEPTH: blankAsUnset(v.optional(intFrom(0, 100), 1)),
  }),
);

/** The promote function's own configuration (serverless.yml, functions.promote.environment), and the CLI's. */
export function loadPromotionSettings(env: Record<string, string | undefined> = process.env): PromotionSettings {
  const parsed = v.safeParse(PromotionSchema, env);
  if (!parsed.success) {
    throw new ConfigError(`invalid configuration: ${parsed.issues.map((i) => `${pathOf(i).join('.')}: ${i.message}`).join('; ')}`);
  }
  return {
    parameterPrefix: parsed.output.PROMOTE_PARAMETER_PREFIX,
    rollbackDepth: parsed.output.PROMOTE_ROLLBACK_DEPTH,
    refresh: {
      minHealthyPercentage: parsed.output.REFRESH_MIN_HEALTHY_PERCENTAGE,
      skipMatching: parsed.output.REFRESH_SKIP_MATCHING,
      checkpointPercentages: parsed.output.REFRESH_CHECKPOINT_PERCENTAGES,
    },
  };
}

// ---- issue 17: the disaster-recovery map --------------------------------------------------------

/**
 * The stage's `drRegions` (DR_REGIONS): a JSON object, region -> {subnetId?, securityGroupIds?,
 * instanceProfile?, keyName?, kmsKeyId?}; blank or unset is `{}`. A bad map fails at load, every
 * problem named, as the rest of the configuration does.
 */
export function loadDrRegions(env: Record<string, string | undefined> = process.env): DrRegions {
  // The same field of the schema loadConfig reads, so the CLI and the functions agree on the map.
  const parsed = v.safeParse(ConfigSchema.entries.DR_REGIONS, env.DR_REGIONS);
  if (!parsed.success) {
    throw new ConfigError(
      `invalid configuration: ${parsed.issues.map((i) => ['DR_REGIONS', ...pathOf(i)].join('.') + `: ${i.message}`).join('; ')}`,
    );
  }
  return parsed.output;
}
