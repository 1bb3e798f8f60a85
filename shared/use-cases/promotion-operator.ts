/**
 * What an operator does with promotion from the CLI (never the promote function, whose role has
 * none of it): take targets back to the image they held before (rollback), and see what each
 * target holds (status). Rollback reads an SSM parameter's history (GetParameterHistory) and a
 * launch template's earlier versions, and makes an earlier version the default again.
 */
import { outgoing } from '../domain/event-requests.js';
import { statusOf } from '../domain/image-status.js';
import { chooseRollback, type PromotionTarget, type TargetRevision } from '../domain/promotion.js';
import { TAG } from '../domain/tags.js';
import type { PromoteDeps } from './ports.js';
import {
  eachTarget,
  groupTemplate,
  lineageTargets,
  newestPromotable,
  notPromotable,
  promotableTemplate,
  refreshGroup,
  versionImage,
  type TargetOutcome,
} from './promote-image.js';
import { publishOrThrow } from './publish.js';

/** Whether a target may go back to this image: EC2 still has it available, and it is not failed or marked bad. */
async function usableImages(ids: readonly string[], deps: PromoteDeps): Promise<Set<string>> {
  const usable = new Set<string>();
  for (const id of new Set(ids)) {
    const view = await deps.ec2.describeImage(id);
    const status = view ? statusOf(view) : undefined;
    if (view && view.state === 'available' && status !== 'bad' && status !== 'failed') usable.add(id);
  }
  return usable;
}

/** How far back a rollback looks in a launch template's versions. */
const TEMPLATE_LOOKBACK = 50;

async function rollbackTarget(target: PromotionTarget, lineage: string, deps: PromoteDeps): Promise<TargetOutcome> {
  if (target.kind === 'ssm') {
    const current = await deps.parameters.getParameter(target.name);
    const history = await deps.parameters.parameterHistory(target.name);
    const usable = await usableImages(
      history.map((h) => h.imageId),
      deps,
    );
    const choice = chooseRollback(history, current?.value, (id) => usable.has(id));
    if (!choice) return { target: target.key, outcome: 'nothing-to-roll-back-to' };
    const version = await deps.parameters.putImageParameter(target.name, choice.imageId, `${deps.managedBy}: rollback of ${lineage}`);
    return { target: target.key, outcome: 'rolled-back', version, previousImageId: current?.value, to: choice.imageId };
  }
  const t = target.kind === 'lt' ? await promotableTemplate(target.ref, deps) : await groupTemplate(target.name, deps);
  const versions = await deps.ec2.launchTemplateVersions(
    t.launchTemplateId,
    Math.max(1, t.defaultVersion - TEMPLATE_LOOKBACK),
    t.defaultVersion,
  );
  const history: TargetRevision[] = versions.flatMap((v) => (v.imageId ? [{ version: v.version, imageId: v.imageId }] : []));
  const held = versions.find((v) => v.version === t.defaultVersion)?.imageId;
  const usable = await usableImages(
    history.map((h) => h.imageId),
    deps,
  );
  const choice = chooseRollback(history, held, (id) => usable.has(id));
  if (!choice) return { target: target.key, outcome: 'nothing-to-roll-back-to' };
  // The earlier version becomes the default again: no new version, the newer one stays for a look.
  await deps.ec2.setDefaultVersion(t.launchTemplateId, choice.version);
  return { target: target.key, outcome: 'rolled-back', version: choice.version, previousImageId: held, to: choice.imageId };
}

/**
 * An operator's rollback: each target of the lineage (or the one named) goes back to the image it
 * held before the one it holds now. The image it leaves is marked `bad` when it is this stack's and
 * good, so that neither the next promotion nor recovery goes back to it (`mark-good` undoes that).
 */
export async function rollbackLineage(lineage: string, deps: PromoteDeps, only?: string): Promise<TargetOutcome[]> {
  const found = await lineageTargets(lineage, deps);
  const targets = only ? found.targets.filter((t) => t.key === only) : found.targets;
  if (only && targets.length === 0) throw new Error(`the lineage ${lineage} names no target ${only} (its instances' ${TAG.promote} tag)`);
  return eachTarget(targets, { lineage }, deps, async (target) => {
    const done = await rollbackTarget(target, lineage, deps);
    if (done.outcome !== 'rolled-back' || !done.to) return done;
    const left = done.previousImageId ? await deps.ec2.describeImage(done.previousImageId) : undefined;
    if (left && notPromotable(left, deps.managedBy) === undefined) {
      await deps.ec2.tagResources([left.imageId, ...left.snapshotIds], { [TAG.status]: 'bad' });
    }
    const refresh = target.kind === 'asg' ? await refreshGroup(target.name, (await deps.ec2.describeImage(done.to))!, deps) : undefined;
    const event = outgoing('ImagePromoted', {
      managedBy: deps.managedBy,
      imageId: done.to,
      lineage,
      target: target.key,
      ...(done.previousImageId ? { previousImageId: done.previousImageId } : {}),
      ...(done.version ? { version: done.version } : {}),
      action: 'rollback',
      trigger: 'manual',
      resumed: false,
    });
    await publishOrThrow(deps.events, event, `${done.to} ${target.key}`);
    return { ...done, ...(refresh ? { refresh } : {}) };
  });
}

/** What one target holds now, for `status`. */
export interface TargetHolding {
  lineage: string;
  target: string;
  imageId?: string | undefined;
  version?: number | undefined;
  /** The newest image of the lineage that may be promoted: the target is behind when it holds another. */
  newestGood?: string | undefined;
  error?: string | undefined;
}

/** What each target of each promoting lineage holds now. */
export async function promotionHoldings(deps: PromoteDeps): Promise<TargetHolding[]> {
  const lineages = new Set<string>();
  for await (const page of deps.ec2.listPromoteCandidates())
    for (const i of page) if (i.tags[TAG.lineage]) lineages.add(i.tags[TAG.lineage]!);
  const out: TargetHolding[] = [];
  for (const lineage of [...lineages].sort()) {
    const { targets } = await lineageTargets(lineage, deps);
    const newest = (await newestPromotable(lineage, deps))?.imageId;
    for (const target of targets) {
      try {
        if (target.kind === 'ssm') {
          const p = await deps.parameters.getParameter(target.name);
          out.push({ lineage, target: target.key, imageId: p?.value, version: p?.version, newestGood: newest });
        } else {
          const t = target.kind === 'lt' ? await promotableTemplate(target.ref, deps) : await groupTemplate(target.name, deps);
          out.push({
            lineage,
            target: target.key,
            imageId: await versionImage(t, t.defaultVersion, deps),
            version: t.defaultVersion,
            newestGood: newest,
          });
        }
      } catch (error) {
        out.push({ lineage, target: target.key, newestGood: newest, error: error instanceof Error ? error.message : String(error) });
      }
    }
  }
  return out;
}
