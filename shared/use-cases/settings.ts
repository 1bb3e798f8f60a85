/**
 * The settings the use cases read, in their own words. shared/runtime/config.ts fills them
 * from the functions' environment; the CLI from the stage's serverless.yml; tests directly.
 */
import type { RecoverySettings } from '../domain/recovery.js';
import type { StaleFilters } from '../domain/stale.js';
import type { Retention } from '../domain/tags.js';

export interface RotationSettings {
  defaultRetention: Retention;
  timeZone: string;
  failedGraceDays: number;
  deprecateAfterDays: number | undefined;
  dryRun: boolean;
  /** Orphaned snapshots younger than this are spared: their image may still be in the making. */
  orphanGraceHours: number;
  /** Images kept per promotion target before the one promoted last (promoteRollbackDepth); absent: 1. */
  promoteRollbackDepth?: number | undefined;
}

export interface RecoveryConfig extends RecoverySettings {
  terminateReplaced: boolean;
  dryRun: boolean;
  /** How long to wait for a replacement to run before moving its Elastic IP (Lambda retries past it). */
  runningWaitSeconds: number;
}

/** Where a deferred recovery's recheck goes: the recover function, invoked as the scheduler role, undelivered ones kept in its dead-letter queue. */
export interface RecheckTarget {
  functionArn: string;
  roleArn: string;
  deadLetterArn: string;
}

/** One entry of the stage's adoptFilters: what the scheduled run adopts (the CLI's `adopt` filters and options). */
export interface AdoptionFilter {
  /** Its place in adoptFilters (0-based), as the report and ImagesAdopted name it. */
  index: number;
  filters: StaleFilters;
  /** The retain tag value the adopted images get (checked as the retain tag is); absent: the stage's default applies. */
  retain?: string | undefined;
  /** The lineage they join; absent: adopted/<name prefix>. */
  lineage?: string | undefined;
}

/** An entry of adoptFilters that could not be read: it adopts nothing, and the others go on. */
export interface InvalidAdoptionFilter {
  index: number;
  problems: string[];
}

/** The stage's adoptFilters (ADOPT_FILTERS), read once at load: off when both lists are empty. */
export interface AdoptionSettings {
  filters: AdoptionFilter[];
  invalid: InvalidAdoptionFilter[];
}
