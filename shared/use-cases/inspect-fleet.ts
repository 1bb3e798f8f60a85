/**
 * What the operator CLI's `status` and `plan` show: the rotation's own reads and
 * plan (nothing is changed), summarised per lineage; and `status --region`, the
 * recovery points in a destination region.
 */
import { summariseFleet, summariseRegion, type LineageStatus, type RecoveryPoint } from '../domain/fleet-status.js';
import type { Period } from '../domain/schedule.js';
import type { ManagedImageListing } from './ec2-ports.js';
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

/** What `status --region` reads: the stack's images at home and in the region. Reads only. */
export interface RegionViewDeps {
  managedBy: string;
  now: () => Date;
  /** The home region's EC2. */
  ec2: ManagedImageListing;
  homeRegion: string;
  /** EC2 in another region. */
  ec2In(region: string): ManagedImageListing;
}

export interface RegionView {
  region: string;
  homeRegion: string;
  now: Date;
  lineages: RecoveryPoint[];
}

/** Each lineage's recovery point in a destination region (docs/disaster-recovery.md, "status --region"). */
export async function inspectRegion(
  region: string,
  deps: RegionViewDeps,
  schedulePeriods: Readonly<Record<string, Period>>,
): Promise<RegionView> {
  const now = deps.now();
  const [homeImages, regionImages] = await Promise.all([
    collect(deps.ec2.listManagedImages(deps.managedBy)),
    collect(deps.ec2In(region).listManagedImages(deps.managedBy)),
  ]);
  const lineages = summariseRegion({ now, region, homeRegion: deps.homeRegion, homeImages, regionImages, schedulePeriods });
  return { region, homeRegion: deps.homeRegion, now, lineages };
}

async function collect<T>(pages: AsyncIterable<T[]>): Promise<T[]> {
  const all: T[] = [];
  for await (const page of pages) all.push(...page);
  return all;
}
