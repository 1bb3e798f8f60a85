/**
 * What each field of each published event means, for docs/events.md. The fields, their types
 * and whether they are optional come from the zod schemas in shared/domain/events.ts, the ones
 * the code publishes with; this file only says what they mean. The docs test fails when a
 * schema has a field this file does not describe, or this file describes one it does not have.
 * Nested fields are named by their path (`planned.keep`).
 */
export interface EventDoc {
  /** One or two sentences: when it is published. */
  when: string;
  /** The fields a consumer deduplicates on (delivery is at least once). */
  dedupe: string;
  fields: Record<string, string>;
  /** Objects documented as a whole, their own fields not listed (internal shapes). */
  opaque?: string[];
}

const managedBy = 'the stack, e.g. `ami-lifecycle-prod`';
const trigger = 'what started the recovery: `state`, `alarm`, `health` or `manual` (the CLI)';

export const EVENT_DOCS: Record<string, EventDoc> = {
  BakeRequested: {
    opaque: ['capture.config'],
    when: 'The scheduled run asks for one instance to be baked for one slot. The service routes it to its own bake queue.',
    dedupe: '`instanceId` + `schedule` + `slot`',
    fields: {
      managedBy,
      instanceId: 'the instance to bake',
      lineage: 'the lineage the image joins',
      assignLineage: 'the instance has no lineage tag yet: the bake gives it one (its own id)',
      instanceName: "the instance's `Name` tag",
      schedule: 'the schedule, e.g. `nightly`',
      slot: 'the period the image stands for, e.g. `2026-11-26`',
      reboot: 'from `ami-lifecycle:reboot`',
      retain: "the instance's valid retain tag, stamped on the image: the lineage's last known policy",
      requestedAt: 'when the run decided',
      capture: 'the launch configuration to capture for recovery, when it changed since the last capture',
      'capture.digest': 'its digest; it goes on the instance (`ami-lifecycle:captured`) once saved',
      'capture.config': 'the configuration: instance type, subnet, security groups, key pair, profile, options, tags, Elastic IP',
      excludeDevices:
        'devices left out of the image: volumes tagged `ami-lifecycle:exclude`, or all but the root one with `volumes=root`; absent: every volume',
      copyTags: 'the instance tags copied onto the image and its snapshots (`copyTags`, `ami-lifecycle:copy-tags`)',
      verify:
        '`boot` when the image is good only after a test instance booted from it (`ami-lifecycle:verify`, `verifyDefault`); absent otherwise',
    },
  },
  ImageBaked: {
    when: 'An image became `available` and is marked `good`.',
    dedupe: '`imageId`',
    fields: {
      managedBy,
      imageId: 'the image',
      imageName: '`<managed-by>/<lineage>/<schedule>/<slot>`',
      lineage: 'its lineage',
      sourceInstanceId: 'the instance imaged',
      schedule: 'its schedule',
      slot: 'its slot',
      snapshotIds: 'its EBS snapshots',
      creationDate: "EC2's creation date of the image",
      settledBy:
        '`event` (the AMI state change), `reconcile` (the scheduled run found it still `pending`) or `verification` (a test instance booted from it passed its checks: docs/verification.md)',
    },
  },
  ImageBakeFailed: {
    when: 'A bake did not produce a good image: CreateImage was refused (`create`: no image exists) or the image failed while being built (`build`: it is marked `failed`).',
    dedupe: '`instanceId` + `schedule` + `slot`',
    fields: {
      managedBy,
      phase: '`create` or `build`',
      instanceId: 'the instance',
      lineage: 'its lineage',
      schedule: 'the schedule',
      slot: 'the slot',
      imageId: 'the failed image (`build` only)',
      errorCode: "AWS's code, e.g. `InvalidInstanceID.NotFound`, or `Image.failed`",
      message: "what happened, with AWS's message",
    },
  },
  PolicyInvalid: {
    when: 'An instance carries tag values the service cannot read (see [the tag contract](tags.md#what-a-bad-value-does)).',
    dedupe: '`instanceId` + `schedule` + `slot`',
    fields: {
      managedBy,
      instanceId: 'the instance',
      schedule: "the run's schedule; `rotate` for the sharing step of the rotation schedule",
      slot: "the run's slot; the run's day (`2026-11-26`) for the sharing step",
      problems: 'one entry per problem',
      'problems.tag': 'the tag key',
      'problems.value': 'the value as written',
      'problems.reason': 'what is allowed',
      bakeSkipped: 'this run did not bake the instance because of the problems',
    },
  },
  ImagesRotated: {
    when: "One rotation run ended: what was planned and what was done. In a dry run `done` is all zeros. Lists hold at most 50 entries; the full plan is in the function's log.",
    dedupe: 'none needed (one summary per run)',
    fields: {
      managedBy,
      region:
        "the region whose images were rotated: the home region, or a destination region's copies (one event per region; [disaster recovery](disaster-recovery.md#copy-rotation))",
      sourceRegion: "on a destination region's event: the home region the copies were made from",
      dryRun: 'nothing was deleted',
      lineages: 'lineages seen',
      imagesSeen: 'images of this stack seen',
      planned: "the plan's counts",
      'planned.keep': 'images kept',
      'planned.delete': 'images to delete',
      'planned.deprecate': 'kept images to deprecate',
      'planned.orphanSnapshots': 'managed snapshots whose image is gone',
      'planned.bytesToFree':
        'the size of the snapshots to delete (an upper bound: see `BytesFreed` in [operations](operations.md#metrics))',
      'planned.keptUnverified': 'candidates kept because `DescribeImageReferences` could not clear them',
      done: 'what was done',
      'done.deleted': 'images deregistered',
      'done.deprecated': 'images deprecated',
      'done.snapshotsDeleted': 'snapshots of deleted images gone',
      'done.orphanSnapshotsDeleted': 'orphaned snapshots deleted',
      'done.bytesFreed': "their size: `FullSnapshotSizeInBytes`, else the volume's size",
      referencesChecked: '`DescribeImageReferences` answered for every delete candidate',
      keptUnverified: 'candidates kept because that check could not clear them',
      'keptUnverified.imageId': 'the image',
      'keptUnverified.lineage': 'its lineage',
      'keptUnverified.errorCode': 'the error that stopped the check, e.g. `UnauthorizedOperation`',
      'keptUnverified.message': "AWS's message",
      deletions: 'the images deleted (or, in a dry run, to delete)',
      'deletions.imageId': 'the image',
      'deletions.name': 'its name',
      'deletions.lineage': 'its lineage',
      'deletions.reason': 'why the plan deletes it',
      failures: 'steps that failed and were skipped; the others went on',
      'failures.resourceId': 'the image or snapshot; the region, when the whole region could not be read',
      'failures.action': 'the refused call',
      'failures.errorCode': "AWS's code",
      'failures.message': "AWS's message",
      notOurs: "images carrying this stack's tags that it did not make (a person's copy): reported, never touched",
      truncated: 'a list was cut at 50 entries',
    },
  },
  InstanceRelaunched: {
    when: 'A failed instance was replaced. A later delivery that finds the replacement already launched publishes it again with `resumed`.',
    dedupe: '`failedInstanceId`',
    fields: {
      managedBy,
      lineage: 'the lineage',
      failedInstanceId: 'the instance that failed',
      newInstanceId: 'its replacement',
      imageId: 'the image the replacement runs',
      trigger,
      reason: 'why it was relaunched',
      generation: '1 for the first replacement, then 2, ...',
      secondsToLaunch: "from the triggering event's time to RunInstances' answer",
      markedBad: 'an image blamed for a crash loop and marked `bad` on the way',
      elasticIp: 'the Elastic IP moved to the replacement',
      'elasticIp.allocationId': 'its allocation',
      'elasticIp.publicIp': 'its address',
      failedInstance: 'what became of the failed instance: `kept` (tagged `replaced-by`), `terminated` (`terminateReplaced`) or `gone`',
      resumed: 'a later delivery finished an earlier launch',
      droppedTags: "keys of the failed instance's tags left off the replacement: EC2 takes 50 tags per resource",
      launchedWithout:
        'captured references deleted since the bake and left off the launch, e.g. `key pair ops` (see [recovery](recovery.md#a-reference-that-no-longer-exists))',
      launchAttempts:
        'when the first launch met no capacity: each launch tried, in order, and how it ended (see [recovery](recovery.md#when-a-zone-has-no-capacity))',
      volumes: 'data volumes tagged `exclude=follow` moved to the replacement (see [recovery](recovery.md#a-data-volume-that-follows))',
      'volumes.volumeId': 'the volume',
      'volumes.device': 'its device on the replacement, the same as on the failed instance',
      volumesLeft: 'following volumes that stayed with the failed instance, and why',
      'volumesLeft.volumeId': 'the volume',
      'volumesLeft.reason': 'why it stayed',
      region:
        'a relaunch in another region (`relaunch <lineage> --region`): that region; `failedInstanceId` is then the instance the copied image was baked from, left as it was (see [disaster recovery](disaster-recovery.md#relaunch-in-another-region))',
      notFollowed:
        'a relaunch in another region: what could not follow the lineage there, one sentence each (the Elastic IP, data volumes, ...)',
    },
  },
  RelaunchPlanned: {
    when: 'Recovery dry run (`recoveryDryRun`, or `relaunch --dry-run`): what recovery would launch.',
    dedupe: '`failedInstanceId`',
    fields: {
      managedBy,
      lineage: 'the lineage',
      failedInstanceId: 'the instance that failed',
      imageId: 'the image it would launch from',
      trigger,
      reason: 'why it would relaunch',
      markBad: 'an image it would mark `bad` for a crash loop',
      launch: 'the launch, user data left out',
      'launch.instanceType': 'instance type',
      'launch.subnetId': 'subnet',
      'launch.securityGroupIds': 'security groups',
      'launch.keyName': 'key pair',
      'launch.iamInstanceProfileArn': 'instance profile',
      'launch.elasticIp': 'the Elastic IP it would move',
      'launch.hasUserData': 'the launch carries user data',
      'launch.tags': "the replacement's tags",
      'launch.droppedTags': 'keys that would be left off: EC2 takes 50 tags per resource',
      'launch.attempts':
        'the launches it would try in order when one meets no capacity (`t3.small in subnet-...`), when there are fallbacks',
      'launch.spot': 'the replacement would ask for spot, as the failed instance did',
      'launch.placement': 'the captured placement',
      'launch.placement.groupName': 'placement group',
      'launch.placement.partitionNumber': 'partition',
      'launch.placement.tenancy': 'tenancy',
      'launch.placement.hostId': 'dedicated host',
      'launch.placement.affinity': 'host affinity',
      'launch.placement.hostResourceGroupArn': 'host resource group',
      'launch.sourceDestCheck': '`false`: the check would be turned off on the replacement (a NAT)',
      'launch.networkInterfaces': 'how many network interfaces it would launch with, when more than one',
      'launch.privateIpAddress': 'the primary private IP it would ask for (`recoveryKeepPrivateIp`)',
      notLaunched: "why nothing would be launched (no usable subnet in a following volume's zone)",
      volumes: 'data volumes tagged `exclude=follow` that would move to the replacement',
      'volumes.volumeId': 'the volume',
      'volumes.device': 'its device, the same on the replacement',
      stopsFailedInstance: '`true`: the failed instance still runs and would be stopped (never forced) so that its volumes can move',
      region: 'a relaunch in another region (`relaunch <lineage> --region --dry-run`): that region',
      notFollowed: 'a relaunch in another region: what could not follow the lineage there',
    },
  },
  RecoverySkipped: {
    when: 'An opted-in instance stopped or failed and was deliberately not replaced.',
    dedupe: '`instanceId` + `reason`',
    fields: {
      managedBy,
      instanceId: 'the instance',
      lineage: 'its lineage',
      trigger,
      reason: 'why, e.g. `the lineage has no good image` or `already replaced by i-...`',
    },
  },
  RecoveryDeferred: {
    when:
      'Recovery waits before it decides: it rebooted the instance after its instance status check failed, or a bake with `reboot=true` is ' +
      'rebooting it. At `until` it looks again: `RecoverySkipped` if the checks pass, `InstanceRelaunched` if they still fail.',
    dedupe: '`instanceId` + `until`',
    fields: {
      managedBy,
      instanceId: 'the instance',
      lineage: 'its lineage',
      trigger,
      cause: '`reboot` (recovery rebooted it) or `bake-reboot` (a bake with `reboot=true` is rebooting it)',
      rebooted: "whether this delivery rebooted the instance: false for a bake's reboot, a duplicate delivery or a dry run",
      until: 'when recovery looks again (a one-time EventBridge Scheduler schedule)',
      reason: 'why, in words',
    },
  },
  RecoveryGaveUp: {
    when: 'Recovery of a lineage stopped: more relaunches within an hour than `recoveryMaxPerHour`. A person takes it from there.',
    dedupe: '`instanceId`',
    fields: { managedBy, instanceId: 'the instance', lineage: 'its lineage', trigger, reason: 'relaunches in the last hour and the limit' },
  },
  RecoveryFailed: {
    when: 'Recovery was wanted but AWS refused a step a retry will not fix (capacity, a permission, a KMS key).',
    dedupe: '`instanceId` + `errorCode`',
    fields: {
      managedBy,
      instanceId: 'the instance',
      lineage: 'its lineage',
      trigger,
      action: 'the refused call',
      errorCode: "AWS's code",
      message: 'what happened and what to do',
    },
  },
  ImageNotOwned: {
    when: "An image carries this stack's tags, but EC2 does not record it as made by the stack (a person's `CopyImage` with its tags): it is never rotated, deprecated, settled or launched from. Published when EC2 announces the image; `status` lists it too.",
    dedupe: '`imageId`',
    fields: {
      managedBy,
      imageId: 'the image',
      imageName: 'its name',
      lineage: 'the lineage its tags name',
      reason: 'what EC2 records instead, e.g. no instance it was made from',
    },
  },
  ImageMarkedGood: {
    when: 'An operator cleared a `bad` mark with `ami-lifecycle mark-good`: the image and its snapshots are `good` again.',
    dedupe: '`imageId`',
    fields: { managedBy, imageId: 'the image', lineage: 'its lineage', previousStatus: 'what it was: `bad`' },
  },
  ImagePublicAccessRevoked: {
    when: "The rotation schedule's sharing step found a managed image public (its launch permissions held the group `all`, given by anyone) and removes that permission; its other launch permissions stay. Published just before the removal, so that no crash loses it; a removal that fails is logged, counted (`SharingFailures`) and tried, and said, again on the next run (see [sharing](sharing.md)).",
    dedupe: '`imageId` + `revokedAt`',
    fields: {
      managedBy,
      imageId: 'the image',
      imageName: 'its name',
      lineage: 'its lineage',
      revokedAt: 'when the run found it public and removed the permission',
    },
  },
  VerificationRequested: {
    when: "An image of a lineage with `verify=boot` became available and is now `verifying`: the service's own request to its verify function (docs/verification.md). Nothing is good yet.",
    dedupe: '`imageId`',
    fields: { managedBy, imageId: 'the image to verify', lineage: 'its lineage' },
  },
  ImageVerified: {
    when: 'A test instance booted from the image passed both status checks (and the SSM command, when one is configured): the image is `good`, `ImageBaked` follows with `settledBy` `verification`, the test instance is terminated.',
    dedupe: '`imageId`',
    fields: {
      managedBy,
      imageId: 'the image',
      lineage: 'its lineage',
      testInstanceId: 'the test instance, terminated',
      instanceType: 'its instance type',
      checks:
        "what passed: `system` and `instance` (EC2's status checks, `ok`), `command` (the SSM command's status, `Success`) when one ran",
      'checks.system': 'the system status check',
      'checks.instance': 'the instance status check',
      'checks.command': "the SSM command's status, when one ran",
      instanceSeconds: "seconds from the test instance's launch to the verdict: about what it was billed for",
    },
  },
  ImageVerificationFailed: {
    when: 'An image failed its verification: it is `failed` (its `ami-lifecycle:failure` tag says why), never relaunched from, and its test instance is terminated.',
    dedupe: '`imageId`',
    fields: {
      managedBy,
      imageId: 'the image',
      lineage: 'its lineage',
      testInstanceId: 'the test instance, terminated (absent when none was launched)',
      check:
        'what failed: `launch` (RunInstances refused, or no instance type), `instance-state` (it stopped or ended), `system-status`, `instance-status`, `command` or `timeout`',
      reason: 'why, in words',
      instanceSeconds: "seconds from the test instance's launch to the verdict (0 when none was launched)",
      consoleOutput: "the last lines of the test instance's console output, when EC2 has them (GetConsoleOutput)",
    },
  },
  ImagePromoted: {
    when: "A good image went into a promotion target of its lineage (`ami-lifecycle:promote`): a new version of an SSM parameter, or a new default version of a launch template (for `asg:`, the group's). Also after `ami-lifecycle promote` and `rollback`.",
    dedupe: '`imageId` + `target`',
    fields: {
      managedBy,
      imageId: 'the image the target holds now',
      lineage: 'its lineage',
      target: 'the target as the promote tag spells it: `ssm:/path`, `lt:<template>` or `asg:<group>`',
      previousImageId: 'the image the target held before, if any',
      version: "the parameter's or launch template's version that holds the image",
      action: "`promote`, or `rollback` (an operator's `ami-lifecycle rollback`)",
      trigger: '`event` (the image became good), `reconcile` (the scheduled run caught up) or `manual` (the CLI)',
      resumed: 'the target held the image already: an earlier delivery changed it and stopped before it said so',
    },
  },
  PromotionFailed: {
    when: 'A promotion target was not promoted: malformed, not marked `ami-lifecycle:promotable=true`, missing, refused by AWS, or an Auto Scaling group whose launch template cannot be promoted.',
    dedupe: '`imageId` + `target` + `errorCode`',
    fields: {
      managedBy,
      imageId: 'the image that was to be promoted, when there was one',
      lineage: 'its lineage',
      target: 'the target as the promote tag spells it',
      errorCode:
        "AWS's error code, or the service's: `PolicyInvalid`, `NotPromotable`, `NotFound`, `MixedInstancesPolicy`, `LaunchConfiguration`, `InstanceRefreshInProgress`",
      message: 'what went wrong, in words',
    },
  },
  InstanceRefreshStarted: {
    when: "An Auto Scaling group's launch template was promoted and its instance refresh started, with the stage's preferences.",
    dedupe: '`instanceRefreshId`',
    fields: {
      managedBy,
      imageId: 'the image the refresh rolls out',
      lineage: 'its lineage',
      autoScalingGroupName: 'the group',
      instanceRefreshId: 'the refresh, as StartInstanceRefresh answered it',
      minHealthyPercentage: 'from `refreshMinHealthyPercentage`',
      skipMatching: 'from `refreshSkipMatching`',
      checkpointPercentages: 'from `refreshCheckpointPercentages` (empty: none)',
    },
  },
};
