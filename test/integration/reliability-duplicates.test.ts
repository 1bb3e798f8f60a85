/**
 * Reliability: EventBridge delivers at least once and in no particular order, and
 * Scheduler may fire a schedule twice. The same few days of a small fleet are run
 * twice from a clean account: once with every event delivered once, in order; once
 * with every event delivered three times, shuffled (seeded) across functions within
 * each round of delivery, and every schedule fired three times. Nights of baking,
 * settling (by event and by the next run's reconcile), a failure and its recovery,
 * a stop by a person, rotation, and the replacement's own bake. The account must end
 * the same: every image, snapshot, tag, instance and launch template version.
 *
 * Rounds are cut where the order would change the answer in AWS too (a failure
 * recovered before or after the night's image turned good rightly picks a
 * different image): within a round, every event commutes.
 */
import { describe, expect, it } from 'vitest';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import type { DeliverOptions } from '../harness/local-cloud.js';
import { Labels, type CanonicalEvent, type CloudState } from '../harness/state.js';

const NIGHTS = [new Date('2026-11-24T03:00:00Z'), new Date('2026-11-25T03:00:00Z'), new Date('2026-11-26T03:00:00Z')] as const;
/**
 * Real-time stamps (bake requests carry the time the run started), capture digests (they
 * cover launch times) and the public addresses moto draws at launch.
 */
const MASK = [
  [/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z/g, '<time>'],
  [/\b[0-9a-f]{16}\b/g, '<digest>'],
  [/\b\d{1,3}(?:\.\d{1,3}){3}\b/g, '<ip>'],
] as const;

const cloud = cloudPerFile({
  concurrency: 6,
  imagePending: { forMs: 10 * 60_000, clock: 'manual' },
  env: { POWERTOOLS_LOG_LEVEL: 'SILENT', ORPHAN_GRACE_HOURS: '0' },
});

interface Delivery {
  /** Times each event is delivered (and each schedule fired). */
  copies: number;
  /** Seed of the shuffles; undefined: in order. */
  seed: number | undefined;
}

interface Outcome {
  state: CloudState;
  events: CanonicalEvent[];
  errors: string[];
}

/** A few days of the fleet's life, every event delivered as `how` says. */
async function lifecycle(how: Delivery): Promise<Outcome> {
  await cloud.reset();
  let round = 0;
  const errors: string[] = [];
  const deliver = async () => {
    const options: DeliverOptions = how.seed === undefined ? {} : { copies: how.copies, shuffleSeed: how.seed * 100 + round++ };
    const deliveries = await cloud.deliver(options);
    errors.push(...deliveries.filter((d) => d.error !== undefined).map((d) => `${d.function}: ${d.error}`));
  };
  const fire = async (schedule: string, at: Date) => {
    for (let i = 0; i < how.copies; i++) await cloud.fireSchedule(schedule, at);
  };
  const rotate = async () => {
    for (let i = 0; i < how.copies; i++) await cloud.invoke('rotate', { trigger: 'schedule' });
  };

  const [web1] = await cloud.launch(1, {
    Name: 'web-1',
    'ami-lifecycle:bake': 'nightly',
    'ami-lifecycle:recover': 'on-failure',
    'ami-lifecycle:retain': '2',
  });
  const [web2] = await cloud.launch(1, {
    Name: 'web-2',
    'ami-lifecycle:bake': 'nightly',
    'ami-lifecycle:recover': 'on-failure',
    'ami-lifecycle:retain': '1',
  });
  const [db] = await cloud.launch(1, { Name: 'db', 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:reboot': 'true' });
  const names = { [web1!]: 'web-1', [web2!]: 'web-2', [db!]: 'db' };

  // Night 1: bake requests
  await fire('nightly', NIGHTS[0]);
  await deliver();
  // The images finish; their AMI events wait while night 2 fires (its reconcile settles them),
  // then the AMI events and night 2's bake requests go out together
  await cloud.finishImageBuilds();
  await cloud.announceImageStates();
  await fire('nightly', NIGHTS[1]);
  await deliver();
  // Night 2's images finish and are announced
  await cloud.finishImageBuilds();
  await cloud.announceImageStates();
  await deliver();
  // AWS loses web-1; a person stops web-2 (its on-failure recovery must not act); both said together
  await cloud.breakInstance(web1!, 'terminated');
  await cloud.breakInstance(web2!, 'stopped', 'Client.UserInitiatedShutdown');
  await cloud.announceInstanceState(web1!, 'terminated');
  await cloud.announceInstanceState(web2!, 'stopped');
  await deliver();
  // Rotation (web-2 keeps one image)
  cloud.setClock(undefined);
  await rotate();
  // Night 3: the replacement bakes into web-1's lineage
  await fire('nightly', NIGHTS[2]);
  await deliver();
  await cloud.finishImageBuilds();
  await cloud.announceImageStates();
  await deliver();
  cloud.setClock(undefined);

  const labels = new Labels(names, { mask: MASK });
  const state = await labels.state(cloud.ec2);
  return { state, events: labels.events(cloud.published()), errors };
}

/** Events compared as what they say about what, not how often: at least once is the contract. */
function said(events: CanonicalEvent[]): string[] {
  const out = new Set<string>();
  for (const e of events) {
    if (e.detailType === 'ImagesRotated') continue; // a report of each run (a repeated run deletes nothing)
    // A repeated recovery says it resumed the first one's work, and why.
    const { resumed: _resumed, reason: _reason, ...detail } = e.detail;
    out.add(JSON.stringify({ detailType: e.detailType, detail: e.detailType === 'InstanceRelaunched' ? detail : e.detail }));
  }
  return [...out].sort();
}

/** Every image a rotation deleted, over all its runs. */
function rotatedAway(events: CanonicalEvent[]): string[] {
  return [
    ...new Set(
      events
        .filter((e) => e.detailType === 'ImagesRotated')
        .flatMap((e) => (e.detail.deletions as Array<{ name: string }>).map((d) => d.name)),
    ),
  ].sort();
}

describe('every event delivered three times, out of order', () => {
  it('ends in the same account as delivering each event once, in order', { timeout: 180_000 }, async () => {
    // Act
    const once = await lifecycle({ copies: 1, seed: undefined });
    const thrice = await lifecycle({ copies: 3, seed: 7 });

    // Assess: the clean run did what the story says
    expect(once.errors).toEqual([]);
    expect(once.state.instances.map((i) => [i.instance, i.state])).toEqual([
      ['db', 'running'],
      ['replacement-of(web-1)', 'running'],
      ['web-1', 'terminated'],
      ['web-2', 'stopped'],
    ]);
    expect(once.state.images.length).toBeGreaterThan(5);
    expect(rotatedAway(once.events).length).toBeGreaterThan(0);

    // Assess: the same account, piece by piece
    expect(thrice.errors).toEqual([]);
    expect(thrice.state.instances).toEqual(once.state.instances);
    expect(thrice.state.images).toEqual(once.state.images);
    expect(thrice.state.snapshots).toEqual(once.state.snapshots);
    expect(thrice.state.launchTemplates).toEqual(once.state.launchTemplates);

    // Assess: the same things said (each at least once), the same images rotated away
    expect(said(thrice.events)).toEqual(said(once.events));
    expect(rotatedAway(thrice.events)).toEqual(rotatedAway(once.events));
  });
});
