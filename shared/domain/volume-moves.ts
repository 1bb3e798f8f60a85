/**
 * Data volumes that follow their instance (tagged `ami-lifecycle:exclude=follow`): on recovery
 * they move from the failed instance to its replacement, at the same device, in the same zone.
 * Pure: given the volumes as EC2 describes them now, what to do with each. Every answer is safe
 * to repeat, and none leaves a volume detached with nowhere to go.
 */
import { TAG, type Tags } from './tags.js';

export const FOLLOW = 'follow';

/** A following volume as DescribeVolumes shows it. */
export interface FollowingVolume {
  volumeId: string;
  availabilityZone: string;
  /** creating | available | in-use | deleting | deleted | error */
  state: string;
  attachment?: { instanceId: string; device: string; state: string } | undefined;
  tags: Tags;
}

/** The replacement as recovery sees it once it runs: its zone, and the devices its image already maps. */
export interface ReplacementPlacement {
  availabilityZone: string;
  devices: readonly string[];
}

export type VolumeStep =
  /** Already on the replacement (attaching or attached): nothing to do. */
  | { volumeId: string; device: string; action: 'done' }
  /** Tag it with its destination, detach it from the failed instance, wait until available, attach it. */
  | { volumeId: string; device: string; action: 'move' }
  /** The failed instance still runs (impaired, retiring): stop it (never forced), tag the volume, then move it once stopped. */
  | { volumeId: string; device: string; action: 'stop-then-move' }
  /** Detached already on its way (a retry): wait until available, attach it. */
  | { volumeId: string; device: string; action: 'attach' }
  /** Stays where it is (attached to, or available for, the failed instance), and why. */
  | { volumeId: string; action: 'stay'; reason: string };

/** The destination a volume was tagged with before its detach: `<replacement id> <device>`. */
export function followsTag(replacementId: string, device: string): Tags {
  return { [TAG.follows]: `${replacementId} ${device}` };
}

function destinationOf(tags: Tags): { instanceId: string; device: string } | undefined {
  const [instanceId, device] = (tags[TAG.follows] ?? '').split(' ');
  return instanceId && device ? { instanceId, device } : undefined;
}

/** States of a failed instance that still holds its volumes and can be stopped to free them. */
const STOPPABLE: ReadonlySet<string> = new Set(['running', 'stopping']);

/**
 * What to do with each following volume. A volume is detached only from a stopped failed
 * instance: DetachVolume from a running one, without unmounting inside it, can leave the volume
 * `busy` indefinitely, and Force "can lead to data loss or a corrupted file system" (EC2 API
 * reference, DetachVolume, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DetachVolume.html);
 * recovery never forces. A failed instance that still runs (an impaired or retiring one: it has
 * been replaced) is stopped first, which unmounts cleanly as a shutdown does. Only once: the
 * volume is tagged with its destination right after the stop, so a failed instance found running
 * again with its volume so tagged was started by someone since, and keeps it. It is detached only when it can be attached next: the replacement in its
 * zone (a volume attaches only to an instance in its own Availability Zone: EC2 API reference,
 * AttachVolume, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AttachVolume.html) and
 * its device free there.
 */
export function planVolumeMoves(input: {
  volumes: readonly FollowingVolume[];
  failedInstanceId: string;
  /** The failed instance's state now; undefined when it is gone. */
  failedState: string | undefined;
  replacementId: string;
  replacement: ReplacementPlacement;
}): VolumeStep[] {
  const { failedInstanceId, replacementId, replacement } = input;
  const steps: VolumeStep[] = [];
  for (const v of [...input.volumes].sort((a, b) => (a.volumeId < b.volumeId ? -1 : 1))) {
    const at = v.attachment;
    const bound = destinationOf(v.tags);
    if (at?.instanceId === replacementId && at.state !== 'detaching' && at.state !== 'detached') {
      steps.push({ volumeId: v.volumeId, device: at.device, action: 'done' });
      continue;
    }
    // Tagged for this replacement, and off the failed instance (or leaving it): finish the move.
    if (bound?.instanceId === replacementId && (v.state === 'available' || at?.state === 'detaching')) {
      steps.push({ volumeId: v.volumeId, device: bound.device, action: 'attach' });
      continue;
    }
    if (at?.instanceId !== failedInstanceId) continue; // someone else's now: not ours to move
    const stay = (reason: string) => steps.push({ volumeId: v.volumeId, action: 'stay', reason });
    if (v.availabilityZone !== replacement.availabilityZone) {
      stay(`the replacement is in ${replacement.availabilityZone}, the volume in ${v.availabilityZone}: it stays on ${failedInstanceId}`);
    } else if (replacement.devices.includes(at.device)) {
      stay(`${at.device} is taken on the replacement (its image maps it): the volume stays on ${failedInstanceId}`);
    } else if (input.failedState === 'stopped') {
      steps.push({ volumeId: v.volumeId, device: at.device, action: 'move' });
    } else if (input.failedState && STOPPABLE.has(input.failedState)) {
      if (bound?.instanceId === replacementId && input.failedState === 'running') {
        stay(
          `${failedInstanceId} is ${input.failedState} again after recovery stopped it to move the volume: someone started it, ` +
            'so it keeps the volume; stop the instance and relaunch to move it',
        );
      } else steps.push({ volumeId: v.volumeId, device: at.device, action: 'stop-then-move' });
    } else {
      stay(
        `${failedInstanceId} is ${input.failedState ?? 'gone'}: a volume is detached only from a stopped instance ` +
          '(never forced), so it stays attached',
      );
    }
  }
  return steps;
}
