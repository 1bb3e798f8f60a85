/**
 * What the operator CLI's `status` and `plan` show: the rotation's own reads and
 * plan (nothing is changed), summarised per lineage.
 */
import { summariseFleet, type LineageStatus } from '../domain/fleet-status.js';
import type { Period } from '../domain/schedule.js';
import type { FleetViewDeps } from './ports.js';
import { planRotationRun, type RotationRun } from './rotate-images.js';

export interface FleetView {
  run: RotationRun;
  lineages: LineageStatus[];
}

export async function inspectFleet(deps: FleetViewDeps, schedulePeriods: Readonly<Record<string, Period>>): Promise<FleetView> {
  const run = await planRotationRun(deps);
  const lineages = summariseFleet({
    now: run.now,
    images: run.images,
    instances: run.instances,
    plan: run.plan,
    snapshotSizes: run.snapshotSizes,
    knownSchedules: deps.schedules,
    schedulePeriods,
  });
  return { run, lineages };
}
