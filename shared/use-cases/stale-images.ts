/**
 * `ami-lifecycle stale` and `ami-lifecycle adopt`: every image the account owns in the region, what
 * uses each one, which are candidates (shared/domain/stale.ts decides), and the adoption of the
 * candidates: tags, nothing deleted. The next rotation handles adopted images with every rule it has.
 *
 * Calls, for N owned images: DescribeImages N/1,000 pages; DescribeSnapshots, DescribeInstances a
 * page per 1,000 snapshots or instances; DescribeLaunchTemplateVersions a page per 200 templates;
 * DescribeLaunchConfigurations and DescribeAutoScalingGroups a page per 100; DescribeParameters a
 * page per 50 String parameters and GetParameters per 10; DescribeImageReferences one call (paged)
 * per 10 images that match the filters; DescribeImageAttribute launchPermission one per would-be
 * candidate (EC2 has no batch read of launch permissions). The run counts the last two.
 */
import pLimit from 'p-limit';
import { append } from '../domain/collections.js';
import { outgoing } from '../domain/events.js';
import {
  DEFAULT_SNAPSHOT_PRICE_PER_GB_MONTH,
  assessStale,
  planAdoption,
  type AdoptionStep,
  type AdoptOptions,
  type ImageUse,
  type StaleFilters,
  type StaleImageInput,
  type StaleReport,
} from '../domain/stale.js';
import { AwsCallError } from './errors.js';
import type { StaleEc2 } from './ec2-ports.js';
import { addLaunchConfigurationUses } from './launch-configuration-uses.js';
import type { EventPort, ImageParameterListing, Log, StaleGroupsPort } from './ports.js';
import type { AdoptionSettings, InvalidAdoptionFilter } from './settings.js';

export interface StaleDeps {
  managedBy: string;
  log: Log;
  now: () => Date;
  ec2: StaleEc2;
  groups: StaleGroupsPort;
  parameters: ImageParameterListing;
}

export interface StaleOptions {
  filters: StaleFilters;
  pricePerGbMonth: number;
}

export interface StaleRun {
  report: StaleReport;
  /** The calls whose number follows the images rather than a page: what `stale` on 10,000 images costs. */
  calls: { describeImageReferences: number; describeImageAttribute: number };
}

/** Launch permissions read at once (one call per image: EC2 has no batch read). */
const PERMISSION_READS_AT_ONCE = 4;

/** A DescribeImageReferences answer ("<resource type> <arn>") as an in-use reason. */
function referenceUse(reference: string): ImageUse {
  const [type = '', arn = ''] = reference.split(' ');
  // arn:partition:service:region:account:resource
  const tail = arn.split(':').slice(5).join(':');
  if (type === 'ec2:Instance') return { kind: 'instance', resource: tail.replace(/^instance\//, ''), detail: `instance ${arn}` };
  if (type === 'ec2:LaunchTemplate') {
    const id = tail.replace(/^launch-template\//, '');
    return { kind: 'launch-template', resource: id, detail: `launch template ${id} (one of its versions)` };
  }
  if (type === 'ssm:Parameter') {
    const name = tail.replace(/^parameter/, '');
    return { kind: 'ssm-parameter', resource: name.replace(/^\//, ''), detail: `SSM parameter ${name}` };
  }
  if (type.startsWith('imagebuilder:')) return { kind: 'image-builder', resource: arn, detail: `Image Builder ${type.slice(13)} ${arn}` };
  return { kind: 'other', resource: arn || reference, detail: reference };
}

/** Reads the account, then decides. Changes nothing. */
export async function findStaleImages(options: StaleOptions, deps: StaleDeps): Promise<StaleRun> {
  const now = deps.now();
  const images: StaleImageInput[] = [];
  for await (const page of deps.ec2.listOwnedImages()) {
    for (const i of page) {
      images.push({
        imageId: i.imageId,
        name: i.name,
        state: i.state,
        creationDate: i.creationDate,
        lastLaunchedTime: i.lastLaunchedTime,
        tags: i.tags,
        snapshotIds: i.snapshotIds,
        public: i.public,
        sourceInstanceId: i.sourceInstanceId,
      });
    }
  }
  const snapshotSizes = new Map<string, number>();
  for await (const page of deps.ec2.listOwnedSnapshots()) for (const s of page) snapshotSizes.set(s.snapshotId, s.sizeBytes);

  // One reason per resource: the same instance found by two reads is one use.
  const uses = new Map<string, ImageUse[]>();
  const seen = new Set<string>();
  const addUse = (imageId: string, use: ImageUse) => {
    const key = `${imageId} ${use.kind} ${use.resource}`;
    if (seen.has(key)) return;
    seen.add(key);
    append(uses, imageId, use);
  };
  for await (const page of deps.ec2.listListedInstances()) {
    for (const i of page) {
      if (i.imageId) addUse(i.imageId, { kind: 'instance', resource: i.instanceId, detail: `instance ${i.instanceId} (${i.state})` });
    }
  }
  for await (const page of deps.ec2.listLaunchTemplateImages()) {
    for (const v of page) {
      addUse(v.imageId, {
        kind: 'launch-template',
        resource: v.launchTemplateId,
        detail: `launch template ${v.launchTemplateId} version ${v.version}${v.isDefault ? ' (default)' : ' (latest)'}`,
      });
    }
  }
  const configurationImages = new Map<string, string>();
  await addLaunchConfigurationUses(deps.groups, (imageId, use, name) => {
    configurationImages.set(name, imageId);
    addUse(imageId, { kind: 'launch-configuration', resource: name, detail: use });
  });
  for await (const page of deps.groups.listGroupLaunchConfigurations()) {
    for (const g of page) {
      const imageId = g.launchConfigurationName ? configurationImages.get(g.launchConfigurationName) : undefined;
      if (imageId) {
        addUse(imageId, {
          kind: 'auto-scaling-group',
          resource: g.name,
          detail: `Auto Scaling group ${g.name} (launch configuration ${g.launchConfigurationName})`,
        });
      }
    }
  }
  for (const p of await deps.parameters.listImageIdParameters()) {
    for (const imageId of p.imageIds) {
      addUse(imageId, { kind: 'ssm-parameter', resource: p.name.replace(/^\//, ''), detail: `SSM parameter ${p.name} (${p.dataType})` });
    }
  }

  const assess = () =>
    assessStale({
      managedBy: deps.managedBy,
      now,
      images,
      snapshotSizes,
      uses,
      filters: options.filters,
      pricePerGbMonth: options.pricePerGbMonth,
    });
  const calls = { describeImageReferences: 0, describeImageAttribute: 0 };

  // What else references the images the report is about (those matching the filters): every
  // launch template version, SSM parameters, Image Builder recipes, and what AWS adds later.
  const listed = assess()
    .entries.filter((e) => e.matches)
    .map((e) => e.imageId);
  if (listed.length > 0) {
    calls.describeImageReferences = Math.ceil(listed.length / 10);
    const answer = await deps.ec2.findImageReferences(listed);
    for (const [imageId, refs] of answer.references) for (const r of refs) addUse(imageId, referenceUse(r));
    for (const [imageId, why] of answer.unverified) {
      addUse(imageId, {
        kind: 'unverified',
        resource: 'DescribeImageReferences',
        detail: `the reference check could not answer (${why.errorCode})`,
      });
    }
  }

  // Launch permissions, one image a call: only for those nothing else rules out.
  const wouldBe = assess().entries.filter((e) => e.candidate);
  const limit = pLimit(PERMISSION_READS_AT_ONCE);
  await Promise.all(
    wouldBe.map((e) =>
      limit(async () => {
        calls.describeImageAttribute++;
        try {
          const entries = await deps.ec2.readLaunchPermissions(e.imageId);
          if (entries === undefined) {
            addUse(e.imageId, { kind: 'unverified', resource: 'launchPermission', detail: 'the image is gone' });
            return;
          }
          for (const entry of entries) {
            if (entry === 'all') addUse(e.imageId, { kind: 'public', resource: 'all', detail: 'public: anyone may launch it' });
            else addUse(e.imageId, { kind: 'shared', resource: entry, detail: `shared with ${entry} (it may be in use there)` });
          }
        } catch (error) {
          if (!(error instanceof AwsCallError)) throw error;
          addUse(e.imageId, {
            kind: 'unverified',
            resource: 'launchPermission',
            detail: `its launch permissions could not be read (${error.code})`,
          });
        }
      }),
    ),
  );
  return { report: assess(), calls };
}

export interface AdoptionFailure {
  imageId: string;
  errorCode: string;
  message: string;
}

export interface AdoptionResult {
  dryRun: boolean;
  steps: AdoptionStep[];
  adopted: string[];
  failures: AdoptionFailure[];
}

/** The adoption the report's candidates would get: the plan `adopt` shows before it asks. */
export function adoptionPlan(run: StaleRun, options: AdoptOptions, deps: Pick<StaleDeps, 'managedBy' | 'now'>): AdoptionStep[] {
  return planAdoption(run.report, deps.managedBy, deps.now(), options);
}

/**
 * Tags each image of the plan and its snapshots (one CreateTags for both). One refused call is
 * reported and the others go on. Nothing is deleted: the next rotation decides, with every rule.
 */
export async function adoptImages(steps: readonly AdoptionStep[], dryRun: boolean, deps: StaleDeps): Promise<AdoptionResult> {
  const result: AdoptionResult = { dryRun, steps: [...steps], adopted: [], failures: [] };
  if (dryRun) return result;
  for (const step of steps) {
    try {
      await deps.ec2.tagResources([step.imageId, ...step.snapshotIds], step.tags);
      result.adopted.push(step.imageId);
      deps.log.info('image adopted', { imageId: step.imageId, lineage: step.lineage, snapshots: step.snapshotIds });
    } catch (error) {
      if (!(error instanceof AwsCallError)) throw error;
      result.failures.push({ imageId: step.imageId, errorCode: error.code, message: error.message });
      deps.log.error('adoption refused; the others go on', { imageId: step.imageId, errorCode: error.code, message: error.message });
    }
  }
  return result;
}

// ---- the scheduled run's adoption (the stage's adoptFilters) ----------------------------------

export interface ScheduledAdoptionDeps extends StaleDeps {
  events: EventPort;
}

/** What the scheduled run's adoption did, per filter entry, in the rotation run's report. */
export interface ScheduledAdoptionReport {
  dryRun: boolean;
  /** Per valid entry of adoptFilters: the images adopted (or, in a dry run, that would be). */
  filters: Array<{ filter: number; adopted: Array<{ imageId: string; lineage: string }>; candidates: number }>;
  /** Tagging refused, or a filter whose reads failed: the others went on. */
  failures: Array<{ filter: number; imageId?: string; errorCode: string; message: string }>;
  invalidFilters: InvalidAdoptionFilter[];
}

/** Lists in ImagesAdopted are capped, as ImagesRotated's: far below EventBridge's 256 KB. */
const ADOPTED_EVENT_MAX = 50;

/**
 * The stage's adoptFilters, entry after entry, through the CLI's own path (findStaleImages,
 * adoptionPlan, adoptImages): each entry reads the account afresh, so an image the first entry
 * adopted is this stack's when the next looks. A bad entry (config.ts named its problems) and an
 * entry whose reads fail are reported and the others go on. A dry run tags nothing and reports
 * what it would have. Publishes one ImagesAdopted when anything was (or would be) adopted or failed.
 */
export async function adoptOnSchedule(
  settings: AdoptionSettings,
  dryRun: boolean,
  deps: ScheduledAdoptionDeps,
): Promise<ScheduledAdoptionReport> {
  const report: ScheduledAdoptionReport = { dryRun, filters: [], failures: [], invalidFilters: [...settings.invalid] };
  for (const bad of settings.invalid) {
    deps.log.error('an adoptFilters entry cannot be read: it adopts nothing; the others go on', {
      filter: bad.index,
      problems: bad.problems,
    });
  }
  for (const entry of settings.filters) {
    try {
      const run = await findStaleImages({ filters: entry.filters, pricePerGbMonth: DEFAULT_SNAPSHOT_PRICE_PER_GB_MONTH }, deps);
      const steps = adoptionPlan(run, { lineage: entry.lineage, retain: entry.retain }, deps);
      const result = await adoptImages(steps, dryRun, deps);
      const done = new Set(dryRun ? steps.map((s) => s.imageId) : result.adopted);
      report.filters.push({
        filter: entry.index,
        candidates: run.report.candidates,
        adopted: steps.filter((s) => done.has(s.imageId)).map((s) => ({ imageId: s.imageId, lineage: s.lineage })),
      });
      for (const f of result.failures) report.failures.push({ filter: entry.index, ...f });
      deps.log.info(dryRun ? 'adoption planned (dry run: nothing tagged)' : 'adoption done', {
        filter: entry.index,
        adopted: done.size,
        refused: result.failures.length,
      });
    } catch (error) {
      if (!(error instanceof AwsCallError)) throw error;
      report.failures.push({ filter: entry.index, errorCode: error.code, message: error.message });
      deps.log.error('an adoption filter could not read the account; the others go on', {
        filter: entry.index,
        action: error.action,
        errorCode: error.code,
        message: error.message,
      });
    }
  }
  const adopted = report.filters.flatMap((f) => f.adopted);
  if (adopted.length > 0 || report.failures.length > 0 || report.invalidFilters.length > 0) {
    const byLineage = new Map<string, string[]>();
    for (const a of adopted.slice(0, ADOPTED_EVENT_MAX)) append(byLineage, a.lineage, a.imageId);
    const said = await deps.events.publish([
      outgoing('ImagesAdopted', {
        managedBy: deps.managedBy,
        dryRun,
        count: adopted.length,
        lineages: [...byLineage].map(([lineage, imageIds]) => ({ lineage, imageIds })),
        failures: report.failures.slice(0, ADOPTED_EVENT_MAX).map((f) => ({ ...f, message: f.message.slice(0, 500) })),
        invalidFilters: report.invalidFilters.slice(0, ADOPTED_EVENT_MAX).map((i) => ({ filter: i.index, problems: i.problems })),
        truncated: [adopted, report.failures, report.invalidFilters].some((l) => l.length > ADOPTED_EVENT_MAX),
      }),
    ]);
    for (const f of said.failed) deps.log.error('could not publish event', { detailType: f.event.detailType, code: f.code });
  }
  return report;
}
