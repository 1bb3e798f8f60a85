/**
 * In-memory implementations of the ports in shared/use-cases (ports.ts, ec2-ports.ts), for unit
 * tests of the use cases, and the world a test arranges them in:
 *
 * - fakes/ec2-account.ts: one EC2 account (instances, images, snapshots, launch templates,
 *   Elastic IPs, image references), the failures a test plants and the calls that reached it.
 * - fakes/*-ec2.ts: each use case's slice of EC2 over that account (settleEc2, scheduleEc2,
 *   bakeEc2, onDemandBakeEc2, fleetViewEc2, rotationEc2, recoveryEc2, statusAlarmsEc2), answering
 *   the way Ec2Gateway does against EC2 where it matters to the use cases.
 * - fakes/event-bus.ts, fakes/status-alarms.ts, fakes/recording.ts: the bus, CloudWatch's
 *   alarms, and a log and metrics that remember what they were told.
 *
 * A use-case test builds the world of its slice only (`world(settleEc2)`): its use case sees
 * nothing else of EC2, and the test arranges and inspects the account (`w.account`).
 */
import type { BakeRequested } from '../../shared/domain/events.js';
import type { LaunchConfigurationImage, LaunchConfigurationListing, UseCaseDeps } from '../../shared/use-cases/ports.js';
import type { RecoveryConfig, RotationSettings } from '../../shared/use-cases/settings.js';
import { FakeEc2Account, hex, type Journal } from './fakes/ec2-account.js';
import { InMemoryEventBus } from './fakes/event-bus.js';
import { RecordingLog, RecordingMetrics } from './fakes/recording.js';
import { InMemoryRechecks } from './fakes/rechecks.js';
import { InMemoryAlarms } from './fakes/status-alarms.js';

export * from './fakes/bake-ec2.js';
export * from './fakes/ec2-account.js';
export * from './fakes/event-bus.js';
export * from './fakes/rechecks.js';
export * from './fakes/recording.js';
export * from './fakes/recovery-ec2.js';
export * from './fakes/rotation-ec2.js';
export * from './fakes/settle-ec2.js';
export * from './fakes/share-ec2.js';
export * from './fakes/status-alarms.js';
export * from './fakes/verify-ec2.js';

export const STACK = 'ami-lifecycle-test';
export const NOW = new Date('2026-11-26T01:00:05.000Z');

/** What every use case of the world may read: all settings, and one slice of EC2. */
export interface WorldDeps<E> extends UseCaseDeps {
  schedules: readonly string[];
  rotation: RotationSettings;
  recovery: RecoveryConfig;
  ec2: E;
  rechecks: InMemoryRechecks;
  /** Auto Scaling launch configurations (World.launchConfigurations). */
  launchConfigurations: LaunchConfigurationListing;
}

export interface World<E = unknown> {
  /** What the use case runs with: its slice of EC2 over `account`, the bus, the log, the metrics, the clock. */
  deps: WorldDeps<E>;
  /** The EC2 account the slice answers from: what a test arranges and inspects. */
  account: FakeEc2Account;
  alarms: InMemoryAlarms;
  /** The one-time schedules recovery made to look again. */
  rechecks: InMemoryRechecks;
  bus: InMemoryEventBus;
  log: RecordingLog;
  metrics: RecordingMetrics;
  journal: Journal;
  /** The world's time, read by deps.now() and EC2 alike: a test moves it to make a run last. */
  clock: { now: Date };
  /** The region's Auto Scaling launch configurations, as deps.launchConfigurations lists them. */
  launchConfigurations: LaunchConfigurationImage[];
}

export interface WorldOptions {
  pageSize?: number;
  schedules?: string[];
  now?: Date;
  rotation?: Partial<RotationSettings>;
  recovery?: Partial<RecoveryConfig>;
}

/** Rotation settings of the test world: the configured defaults, with orphans spared a day. */
export const ROTATION_DEFAULTS: RotationSettings = {
  defaultRetention: { kind: 'count', count: 7 },
  failedGraceDays: 2,
  deprecateAfterDays: undefined,
  dryRun: false,
  timeZone: 'UTC',
  orphanGraceHours: 24,
};

/** Recovery settings of the test world: the configured defaults. */
export const RECOVERY_DEFAULTS: RecoveryConfig = {
  maxRelaunchesPerHour: 3,
  crashLoopGraceMinutes: 30,
  instanceCheckWaitMinutes: 15,
  bakeRebootWindowMinutes: 20,
  terminateReplaced: false,
  dryRun: false,
  runningWaitSeconds: 180,
};

/** A fresh in-memory world whose use case sees the slice of EC2 `slice` makes of its account. */
export function world<E>(slice: (account: FakeEc2Account) => E, options: WorldOptions = {}): World<E> {
  const journal: Journal = [];
  const clock = { now: options.now ?? NOW };
  const account = new FakeEc2Account({ pageSize: options.pageSize, journal, clock: () => clock.now });
  const bus = new InMemoryEventBus(journal);
  const log = new RecordingLog();
  const alarms = new InMemoryAlarms();
  const rechecks = new InMemoryRechecks(journal);
  const metrics = new RecordingMetrics();
  const launchConfigurations: LaunchConfigurationImage[] = [];
  const deps: WorldDeps<E> = {
    managedBy: STACK,
    schedules: options.schedules ?? ['nightly', 'weekly'],
    rotation: { ...ROTATION_DEFAULTS, ...options.rotation },
    recovery: { ...RECOVERY_DEFAULTS, ...options.recovery },
    ec2: slice(account),
    rechecks,
    launchConfigurations: {
      async *listLaunchConfigurationImages() {
        yield [...launchConfigurations];
      },
    },
    events: bus,
    log,
    metrics,
    now: () => clock.now,
  };
  return { deps, account, alarms, rechecks, bus, log, metrics, journal, clock, launchConfigurations };
}

/** Instance ids that match the InstanceId schema: i- and 17 hex digits. */
export const instanceIdOf = (n: number) => `i-${hex(n)}`;

/** A BakeRequested detail as the scheduled run produces it, for tests to vary. */
export const bakeRequest = (overrides: Partial<BakeRequested> = {}): BakeRequested => ({
  managedBy: STACK,
  instanceId: 'i-0123456789abcdef0',
  lineage: 'web',
  assignLineage: false,
  schedule: 'nightly',
  slot: '2026-11-26',
  reboot: false,
  requestedAt: NOW.toISOString(),
  ...overrides,
});

/** A string the AWS SDK can serialize: its query serializer runs encodeURIComponent, which throws on a lone surrogate. */
export function isWellFormed(s: string): boolean {
  try {
    encodeURIComponent(s);
    return true;
  } catch {
    return false;
  }
}
