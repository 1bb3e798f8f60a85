/**
 * Bake one instance for one slot of one schedule. Safe to run any number of times
 * for the same request: the image name is deterministic and EC2 refuses a second
 * image of that name, so a duplicate or retried request finds the first image and
 * stops there.
 */
import { planBake } from '../domain/bake.js';
import { outgoing } from '../domain/event-requests.js';
import type { BakeRequested } from '../domain/events.js';
import { isManagedBy } from '../domain/image-status.js';
import { launchTemplateName } from '../domain/launch.js';
import { TAG } from '../domain/tags.js';
import { AwsCallError } from './errors.js';
import type { BakeDeps } from './ports.js';
import { publishOrThrow } from './publish.js';

/** What became of the launch configuration the request asked to capture. */
export type CaptureOutcome = { launchTemplateVersion: number; digestNotKept?: string } | { captureFailed: string };

export type BakeOutcome =
  | ({ status: 'created'; imageId: string; imageName: string } & Partial<CaptureOutcome>)
  | ({ status: 'already-baked'; imageId: string; imageName: string; state: string } & Partial<CaptureOutcome>)
  | { status: 'failed'; errorCode: string; message: string };

/** Friendlier words for the refusals an operator will meet most. */
const EXPLAIN: Record<string, string> = {
  'InvalidInstanceID.NotFound': 'the instance no longer exists',
  'InvalidInstanceID.Malformed': 'the instance id is malformed',
  IncorrectInstanceState: 'the instance is in a state that cannot be imaged',
  IncorrectState: 'the instance is in a state that cannot be imaged',
  UnauthorizedOperation: 'the service is not allowed to image this instance',
  NameTakenByUnmanagedImage: 'an image not managed by this stack already has the name',
};

/**
 * Gives the instance its lineage. A permanent refusal does not stop the bake: the image
 * carries the lineage in its own tags, and the next bake derives the same one again
 * (the instance id). A vanished instance is then reported by CreateImage itself.
 */
async function tagLineage(request: BakeRequested, tags: Record<string, string>, deps: BakeDeps): Promise<void> {
  try {
    await deps.ec2.tagResources([request.instanceId], tags);
  } catch (error) {
    if (!(error instanceof AwsCallError) || error.retryable) throw error;
    deps.log.warn('could not tag the instance with its lineage; baking anyway', {
      instanceId: request.instanceId,
      lineage: request.lineage,
      errorCode: error.code,
      message: error.message,
    });
  }
}

/**
 * Saves the instance's launch configuration (with its user data) as the newest version
 * of the lineage's launch template, tags its Elastic IP with the lineage, and marks the
 * instance with the digest so that the next runs skip all this until something changes.
 * The template names no image: recovery picks one at launch, and rotation never finds
 * the service's own templates holding an image. A permanent refusal is logged and tried
 * again on the next bake; it never costs the image.
 */
async function captureLaunchConfig(request: BakeRequested, deps: BakeDeps): Promise<CaptureOutcome | undefined> {
  const capture = request.capture;
  if (!capture) return undefined;
  const { instanceId, lineage } = request;
  try {
    // Side by side: user data and the settings no listing shows, read only now, when the digest changed.
    const [userData, settings] = await Promise.all([
      deps.ec2.readUserData(instanceId),
      deps.ec2.readCaptureSettings(instanceId, capture.config),
    ]);
    const launchTemplateVersion = await deps.ec2.saveLaunchConfig(
      launchTemplateName(deps.managedBy, lineage),
      { ...capture.config, ...settings, userData },
      { [TAG.managedBy]: deps.managedBy, [TAG.lineage]: lineage },
      `captured at ${request.requestedAt}`,
      // Not the digest alone: two instances of a lineage launched in the same second with
      // one configuration share it, and the second would find the first's version.
      `from ${instanceId}, digest ${capture.digest}`,
    );
    if (capture.config.elasticIp) await deps.ec2.tagElasticIp(capture.config.elasticIp, { [TAG.lineage]: lineage });
    const digestNotKept = await keepDigest(request, capture.digest, deps);
    deps.log.info('launch configuration captured', { instanceId, lineage, launchTemplateVersion, digest: capture.digest });
    return { launchTemplateVersion, ...(digestNotKept ? { digestNotKept } : {}) };
  } catch (error) {
    if (!(error instanceof AwsCallError) || error.retryable) throw error;
    deps.log.warn('could not capture the launch configuration; the next bake tries again', {
      instanceId,
      lineage,
      errorCode: error.code,
      action: error.action,
      message: error.message,
    });
    return { captureFailed: `${error.action}: ${error.code}` };
  }
}

/**
 * Marks the instance with the digest of what was captured, so the next runs skip the capture.
 * The configuration itself is in the launch template whatever happens here: an instance the
 * service may not tag (EC2's 50 tags per resource, TagLimitExceeded) is captured again by the
 * next run, which finds its version already there and adds none.
 */
async function keepDigest(request: BakeRequested, digest: string, deps: BakeDeps): Promise<string | undefined> {
  try {
    await deps.ec2.tagResources([request.instanceId], { [TAG.captured]: digest });
    return undefined;
  } catch (error) {
    if (!(error instanceof AwsCallError) || error.retryable) throw error;
    deps.log.warn('launch configuration captured, but its digest could not be kept on the instance; the next run captures again', {
      instanceId: request.instanceId,
      lineage: request.lineage,
      errorCode: error.code,
      message: error.message,
    });
    return error.code;
  }
}

export async function bakeInstance(request: BakeRequested, deps: BakeDeps): Promise<BakeOutcome> {
  const plan = planBake(request);
  const context = {
    instanceId: request.instanceId,
    lineage: request.lineage,
    schedule: request.schedule,
    slot: request.slot,
    imageName: plan.image.name,
  };
  if (plan.droppedTags.length > 0) {
    // EC2 takes 50 tags a resource: the service's own go first, the copied ones after, in key order.
    deps.log.warn('copied tags left off the image: EC2 takes 50 tags per resource', { ...context, droppedTags: plan.droppedTags });
  }
  try {
    if (plan.instanceTags) await tagLineage(request, plan.instanceTags, deps);
    const result = await deps.ec2.createImage(plan.image);
    if (result.created) {
      // Counted here, once: a retry or a duplicate finds the image and is 'already-baked'.
      deps.metrics.count('ImagesBaked');
      deps.log.info('image creation started', {
        ...context,
        imageId: result.imageId,
        noReboot: plan.image.noReboot,
        ...(plan.image.noDevices.length > 0 ? { excludedDevices: plan.image.noDevices } : {}),
      });
      const captured = await captureLaunchConfig(request, deps);
      return { status: 'created', imageId: result.imageId, imageName: plan.image.name, ...captured };
    }
    const existing = result.existing;
    if (existing && !isManagedBy(existing.tags, deps.managedBy)) {
      throw new AwsCallError('NameTakenByUnmanagedImage', 'CreateImage', `image ${existing.imageId} is named ${plan.image.name}`, false);
    }
    const bakedFrom = existing?.tags[TAG.sourceInstance];
    if (bakedFrom && bakedFrom !== request.instanceId) {
      // Expected after a relaunch (the predecessor baked this slot); otherwise two live
      // instances share one lineage, e.g. copied with "launch more like this".
      deps.log.warn('this slot of the lineage was baked from another instance', { ...context, imageId: result.imageId, bakedFrom });
    }
    deps.log.info('already baked: this slot has its image', { ...context, imageId: result.imageId, state: existing?.state });
    // A retry after a crash between the image and the capture finishes the capture.
    const captured = await captureLaunchConfig(request, deps);
    return {
      status: 'already-baked',
      imageId: result.imageId,
      imageName: plan.image.name,
      state: existing?.state ?? 'unknown',
      ...captured,
    };
  } catch (error) {
    // Transient trouble (throttling, 5xx, network) goes back to Lambda, whose retry is safe.
    if (!(error instanceof AwsCallError) || error.retryable) throw error;
    const message = `${EXPLAIN[error.code] ?? 'CreateImage was refused'}: ${error.message}`;
    deps.log.error('bake failed', { ...context, errorCode: error.code, action: error.action, message });
    await publishOrThrow(
      deps.events,
      outgoing('ImageBakeFailed', {
        managedBy: deps.managedBy,
        phase: 'create',
        instanceId: request.instanceId,
        lineage: request.lineage,
        schedule: request.schedule,
        slot: request.slot,
        errorCode: error.code,
        message,
      }),
    );
    // After the publish: a run that must be retried to publish it is counted by the retry alone.
    deps.metrics.count('ImageBakesFailed');
    return { status: 'failed', errorCode: error.code, message };
  }
}
