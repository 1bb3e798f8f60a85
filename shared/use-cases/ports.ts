/**
 * What the use cases need from the outside world. The gateways in shared/aws
 * implement these against AWS; tests implement them in memory.
 */
import type { ImageSpec, InstanceSummary } from '../domain/bake.js';
import type { OutgoingEvent } from '../domain/events.js';
import type { ImageView } from '../domain/image-status.js';
import type { Tags } from '../domain/tags.js';
import type { RotationSettings } from '../runtime/config.js';
import type { Log } from '../runtime/logger.js';

export interface CreatedImage {
  imageId: string;
  /** False when an image of the same name already existed (a retried or duplicated bake). */
  created: boolean;
  /** The existing image, when created is false. */
  existing?: ImageView;
}

export interface Ec2Port {
  /** Instances carrying the bake tag, not terminated, a page at a time. */
  listBakeCandidates(): AsyncIterable<InstanceSummary[]>;
  /** CreateImage; an image that already has this name is found and returned instead. */
  createImage(spec: ImageSpec): Promise<CreatedImage>;
  describeImage(imageId: string): Promise<ImageView | undefined>;
  /** Images of this stack still marked pending, a page at a time. */
  listPendingImages(managedBy: string): AsyncIterable<ImageView[]>;
  tagResources(resourceIds: string[], tags: Tags): Promise<void>;

  // ---- rotation --------------------------------------------------------------------------
  /** Every image of this stack, a page at a time. */
  listManagedImages(managedBy: string): AsyncIterable<ImageView[]>;
  /** Every snapshot of this stack, a page at a time. */
  listManagedSnapshots(managedBy: string): AsyncIterable<SnapshotView[]>;
  /** Every instance that is not terminated, whatever its tags, a page at a time. */
  listInstances(): AsyncIterable<InstanceSummary[]>;
  /** The images named by the default and latest version of every launch template. */
  listLaunchTemplateImages(): AsyncIterable<LaunchTemplateImage[]>;
  /**
   * What AWS knows to reference these images (DescribeImageReferences), or undefined
   * where the region does not offer the call.
   */
  findImageReferences(imageIds: string[]): Promise<Map<string, string[]> | undefined>;
  /** DeregisterImage with DeleteAssociatedSnapshots; 'gone' when it no longer exists. */
  deregisterImage(imageId: string): Promise<'deregistered' | 'gone'>;
  deleteSnapshot(snapshotId: string): Promise<'deleted' | 'gone'>;
  enableImageDeprecation(imageId: string, at: Date): Promise<void>;
}

export interface SnapshotView {
  snapshotId: string;
  sizeBytes: number;
  startTime: Date;
  tags: Tags;
}

export interface LaunchTemplateImage {
  launchTemplateId: string;
  version: number;
  isDefault: boolean;
  imageId: string;
}

export interface PublishFailure {
  event: OutgoingEvent;
  code: string;
  message: string;
}

export interface PublishOutcome {
  published: number;
  failed: PublishFailure[];
}

export interface EventPort {
  publish(events: OutgoingEvent[]): Promise<PublishOutcome>;
}

export interface Deps {
  managedBy: string;
  schedules: readonly string[];
  rotation: RotationSettings;
  ec2: Ec2Port;
  events: EventPort;
  log: Log;
  now: () => Date;
}
