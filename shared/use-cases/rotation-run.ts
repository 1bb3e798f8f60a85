/**
 * The daily rotation run (functions/rotate): rotation, the sharing step (share-images.ts), then,
 * where the stage lists adoptFilters, the adoption of unused images the stack did not make
 * (stale-images.ts, the CLI's own path).
 *
 * Adoption runs last, so that an image adopted today is first rotated by tomorrow's run: a day in
 * which ImagesAdopted is seen and an adoption can be undone (its tags removed) before any deletion,
 * and in which EC2's tags, eventually consistent, settle before rotation reads them. A rotation or
 * sharing step that fails does not stop it (adoption only adds tags); the run fails after.
 */
import type { RotationDeps, ShareDeps } from './ports.js';
import type { RotateOptions } from './rotate-images.js';
import type { AdoptionSettings } from './settings.js';
import { rotateAndShare, type RotationRunReport } from './share-images.js';
import { adoptOnSchedule, type ScheduledAdoptionDeps, type ScheduledAdoptionReport } from './stale-images.js';

/** The stage's adoption, where adoptFilters lists anything (valid or not). */
export interface ScheduledAdoption {
  settings: AdoptionSettings;
  deps: ScheduledAdoptionDeps;
}

export type ScheduledRunReport = RotationRunReport & { adoption?: ScheduledAdoptionReport };

export async function rotateShareAndAdopt(
  options: RotateOptions,
  deps: RotationDeps & ShareDeps,
  adoption?: ScheduledAdoption,
): Promise<ScheduledRunReport> {
  let report: RotationRunReport | undefined;
  let failure: unknown;
  try {
    report = await rotateAndShare(options, deps);
  } catch (error) {
    failure = error;
  }
  // The run's dry run (the request's, else the stage's) is adoption's too: it tags nothing.
  const dryRun = options.dryRun ?? deps.rotation.dryRun;
  const adopted = adoption ? await adoptOnSchedule(adoption.settings, dryRun, adoption.deps) : undefined;
  if (failure !== undefined) throw failure;
  return { ...report!, ...(adopted ? { adoption: adopted } : {}) };
}
