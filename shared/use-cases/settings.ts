/**
 * The settings the use cases read, in their own words. shared/runtime/config.ts fills them
 * from the functions' environment; the CLI from the stage's serverless.yml; tests directly.
 */
import type { Retention } from '../domain/tags.js';

export interface RotationSettings {
  defaultRetention: Retention;
  timeZone: string;
  failedGraceDays: number;
  deprecateAfterDays: number | undefined;
  dryRun: boolean;
  /** Orphaned snapshots younger than this are spared: their image may still be in the making. */
  orphanGraceHours: number;
}

export interface RecoveryConfig {
  maxRelaunchesPerHour: number;
  crashLoopGraceMinutes: number;
  terminateReplaced: boolean;
  dryRun: boolean;
  /** How long to wait for a replacement to run before moving its Elastic IP (Lambda retries past it). */
  runningWaitSeconds: number;
}
