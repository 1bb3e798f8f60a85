/**
 * Each function's EC2 gateway: the operations of its use case's slice of EC2 (ec2-ports.ts), and
 * none other, bound to its client. esbuild leaves out of a function's bundle every operation its
 * gateway does not name (issue 18: schedule carries no RunInstances, no launch template).
 * A selection names an operation once; a slice that extends another spreads its selection.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import type {
  BakeEc2,
  CopyRegionEc2,
  CopySourceEc2,
  DrCaptureEc2,
  DrHomeEc2,
  PromoteEc2,
  RecoveryEc2,
  RotationEc2,
  ScheduleEc2,
  SettleEc2,
  ShareEc2,
  StaleEc2,
  StatusAlarmsEc2,
  VerifyEc2,
} from '../../use-cases/ec2-ports.js';
import { associateAddress, findLineageAddresses, tagElasticIp } from './addresses.js';
import { bindEc2, ec2Context } from './common.js';
import { copyImage, countCopiesInFlight, listCopies, listCopySources } from './copies.js';
import {
  createImage,
  deregisterImage,
  describeImage,
  describeImages,
  enableImageDeprecation,
  findLineageOf,
  listImagesByStatus,
  listLineageImages,
  listManagedImages,
  listOwnedImages,
  listPendingImages,
} from './images.js';
import {
  disableSourceDestCheck,
  rebootInstance,
  stopInstance,
  terminateInstance,
  waitUntilRunning,
  waitUntilStopped,
} from './instance-actions.js';
import {
  describeInstance,
  describeStatusChecks,
  instanceTypeArchitectures,
  listBakeCandidates,
  listInstances,
  listLineageInstances,
  listListedInstances,
  listPromoteCandidates,
  listRecoverCandidates,
  placementOf,
  readCaptureSettings,
  readUserData,
  subnetZones,
} from './instances.js';
import {
  createImageVersion,
  describeLaunchTemplate,
  launchTemplateVersions,
  readLaunchCapture,
  readLaunchConfig,
  saveLaunchConfig,
  setDefaultVersion,
} from './launch-templates.js';
import { runInstance, runTestInstance } from './launches.js';
import { findImageReferences, listLaunchTemplateImages } from './references.js';
import {
  changeLaunchPermissions,
  changeSnapshotPermissions,
  listPublicImages,
  readLaunchPermissions,
  readSnapshotPermissions,
  revokePublicLaunch,
} from './sharing.js';
import { deleteSnapshot, listManagedSnapshots, listOwnedSnapshots } from './snapshots.js';
import { tagResources } from './tags.js';
import { consoleOutput, listTestInstances } from './test-instances.js';
import { attachVolume, detachVolume, findFollowingVolumes, listExcludeTags, waitUntilDetached } from './volumes.js';

/** A function's EC2 gateway, made from its client (shared/runtime/deps.ts makes one per container). */
export type Ec2GatewayOf<P> = (client: EC2Client) => P;

// Selections spread only inside the factories: a spread at the top level would keep every selection in every bundle.
const SETTLE = { tagResources, describeImages, listPendingImages };
const ROTATION = {
  listManagedImages,
  listInstances,
  listManagedSnapshots,
  listLaunchTemplateImages,
  findImageReferences,
  tagResources,
  deregisterImage,
  deleteSnapshot,
  enableImageDeprecation,
};
const SHARE = {
  listManagedImages,
  listInstances,
  tagResources,
  listPublicImages,
  readLaunchPermissions,
  changeLaunchPermissions,
  revokePublicLaunch,
  readSnapshotPermissions,
  changeSnapshotPermissions,
};

/** image-state: marking images good or failed. */
export const settleEc2 = (client: EC2Client): SettleEc2 => bindEc2(ec2Context(client), SETTLE);

/** schedule: settling, then the fan-out of bakes. */
export const scheduleEc2 = (client: EC2Client): ScheduleEc2 =>
  bindEc2(ec2Context(client), { ...SETTLE, listBakeCandidates, listManagedImages, listExcludeTags });

/** bake: the image, and the capture of the instance's launch configuration. */
export const bakeEc2 = (client: EC2Client): BakeEc2 =>
  bindEc2(ec2Context(client), { tagResources, tagElasticIp, createImage, readUserData, readCaptureSettings, saveLaunchConfig });

/** rotate, at home: the rotation, then the sharing step. */
export const rotationEc2 = (client: EC2Client): RotationEc2 & ShareEc2 => bindEc2(ec2Context(client), { ...ROTATION, ...SHARE });

/** rotate, in a copy region: the rotation of the copies there. */
export const regionRotationEc2 = (client: EC2Client): RotationEc2 => bindEc2(ec2Context(client), ROTATION);

/** rotate, where the stage adopts on schedule: the account's images and what uses them. */
export const staleEc2 = (client: EC2Client): StaleEc2 =>
  bindEc2(ec2Context(client), {
    tagResources,
    listOwnedImages,
    listOwnedSnapshots,
    listListedInstances,
    listLaunchTemplateImages,
    findImageReferences,
    readLaunchPermissions,
  });

/** recover: relaunching a failed instance from its lineage's last good image. */
export const recoveryEc2 = (client: EC2Client): RecoveryEc2 =>
  bindEc2(ec2Context(client), {
    tagResources,
    tagElasticIp,
    describeInstance,
    listLineageInstances,
    listLineageImages,
    findLineageOf,
    readLaunchConfig,
    findLineageAddresses,
    runInstance,
    disableSourceDestCheck,
    findFollowingVolumes,
    subnetZones,
    placementOf,
    detachVolume,
    waitUntilDetached,
    attachVolume,
    instanceTypeArchitectures,
    waitUntilRunning,
    stopInstance,
    waitUntilStopped,
    associateAddress,
    terminateInstance,
    describeStatusChecks,
    rebootInstance,
  });

/** verify: test instances booted from the images. */
export const verifyEc2 = (client: EC2Client): VerifyEc2 =>
  bindEc2(ec2Context(client), {
    tagResources,
    describeImages,
    listImagesByStatus,
    listTestInstances,
    readLaunchConfig,
    runTestInstance,
    describeStatusChecks,
    consoleOutput,
    terminateInstance,
  });

/** status-alarms: the instances whose status-check alarms are kept. */
export const statusAlarmsEc2 = (client: EC2Client): StatusAlarmsEc2 => bindEc2(ec2Context(client), { listRecoverCandidates });

/** promote: launch templates, and the images and instances promotion decides from. */
export const promoteEc2 = (client: EC2Client): PromoteEc2 =>
  bindEc2(ec2Context(client), {
    tagResources,
    describeImage,
    listLineageInstances,
    listLineageImages,
    listPromoteCandidates,
    describeLaunchTemplate,
    launchTemplateVersions,
    createImageVersion,
    setDefaultVersion,
  });

/** copy, at home: the images to copy, and the capture a DR capture reads. */
export const copyHomeEc2 = (client: EC2Client): CopySourceEc2 & DrHomeEc2 =>
  bindEc2(ec2Context(client), { listCopySources, readLaunchCapture, findLineageAddresses });

/** copy, in a destination region: the copies there, and the DR capture written there. */
export const copyRegionEc2 = (client: EC2Client): CopyRegionEc2 & DrCaptureEc2 =>
  bindEc2(ec2Context(client), { tagResources, listCopies, countCopiesInFlight, copyImage, describeLaunchTemplate, saveLaunchConfig });
