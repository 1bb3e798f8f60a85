import { beforeEach, describe, expect, it } from 'vitest';
import type { ImageView } from '../../../shared/domain/image-status.js';
import type { PromoteDeps } from '../../../shared/use-cases/ports.js';
import { promoteImage, reconcilePromotions } from '../../../shared/use-cases/promote-image.js';
import { promotionHoldings, rollbackLineage } from '../../../shared/use-cases/promotion-operator.js';
import { InMemoryEventBus, NOW, RecordingLog, RecordingMetrics, STACK } from '../fakes.js';
import { FakePromotionWorld } from '../fakes/promotion.js';

const LINEAGE = 'i-0000000000000000a';
const PARAM = '/ami-lifecycle/web/golden';
const image = (n: number, more: Partial<ImageView> & { status?: string } = {}): ImageView => {
  const imageId = `ami-${n.toString(16).padStart(17, '0')}`;
  return {
    imageId,
    name: `${STACK}/${LINEAGE}/nightly/2026-11-${10 + n}`,
    state: 'available',
    creationDate: `2026-11-${10 + n}T03:00:00.000Z`,
    sourceInstanceId: LINEAGE,
    snapshotIds: [`snap-${n}`],
    ...more,
    tags: {
      'ami-lifecycle:managed-by': STACK,
      'ami-lifecycle:lineage': LINEAGE,
      'ami-lifecycle:source-instance': LINEAGE,
      'ami-lifecycle:schedule': 'nightly',
      'ami-lifecycle:slot': `2026-11-${10 + n}`,
      'ami-lifecycle:status': more.status ?? 'good',
      ...more.tags,
    },
  };
};

let world: FakePromotionWorld;
let bus: InMemoryEventBus;
let deps: PromoteDeps;

function arrange(promote: string, images: ImageView[]): void {
  for (const i of images) world.images.set(i.imageId, i);
  world.instances.push({
    instanceId: LINEAGE,
    state: 'running',
    tags: { 'ami-lifecycle:lineage': LINEAGE, 'ami-lifecycle:promote': promote },
  });
}

beforeEach(() => {
  world = new FakePromotionWorld();
  bus = new InMemoryEventBus();
  deps = {
    managedBy: STACK,
    events: bus,
    log: new RecordingLog(),
    metrics: new RecordingMetrics(),
    now: () => NOW,
    promotion: {
      parameterPrefix: '/ami-lifecycle/',
      rollbackDepth: 1,
      refresh: { minHealthyPercentage: 90, skipMatching: true, checkpointPercentages: [] },
    },
    ec2: world,
    parameters: world,
    groups: world,
  };
});

describe('promoteImage', () => {
  it('writes each target once, records it on the image, and says so once per target', async () => {
    // Prepare
    const img = image(1);
    arrange(`ssm:${PARAM},lt:web`, [img]);
    world.template('web', 'ami-0000000000000000f');

    // Act
    const first = await promoteImage(img.imageId, deps, 'event');
    const again = await promoteImage(img.imageId, deps, 'event');

    // Assess
    expect(first.targets.map((t) => [t.target, t.outcome, t.version])).toEqual([
      [`ssm:${PARAM}`, 'promoted', 1],
      ['lt:web', 'promoted', 2],
    ]);
    expect(again.targets.map((t) => t.outcome)).toEqual(['already-holds', 'already-holds']);
    expect(world.calls.filter((c) => !c.startsWith('CreateTags'))).toEqual([
      `PutParameter ${PARAM} ${img.imageId}`,
      'CreateLaunchTemplateVersion web 2',
      'ModifyLaunchTemplate web 2',
    ]);
    expect(world.images.get(img.imageId)!.tags['ami-lifecycle:promoted']).toBe(`ssm:${PARAM},lt:web`);
    expect(bus.ofType('ImagePromoted').map((e) => [e.target, e.resumed, e.previousImageId])).toEqual([
      [`ssm:${PARAM}`, false, undefined],
      ['lt:web', false, 'ami-0000000000000000f'],
    ]);
  });

  it('finishes a promotion a delivery changed but did not record: says it (resumed) and records it, writing nothing', async () => {
    // Prepare: the parameter holds the image, the image does not record it (a crash after PutParameter)
    const img = image(1);
    arrange(`ssm:${PARAM}`, [img]);
    await world.putImageParameter(PARAM, img.imageId);
    world.calls.length = 0;

    // Act
    const report = await promoteImage(img.imageId, deps, 'event');

    // Assess
    expect(report.targets).toMatchObject([{ outcome: 'resumed' }]);
    expect(world.calls).toEqual([`CreateTags ${img.imageId} {"ami-lifecycle:promoted":"ssm:${PARAM}"}`]);
    expect(bus.ofType('ImagePromoted')).toMatchObject([{ resumed: true }]);
  });

  it('makes the newest template version the default when it already holds the image (a crash before ModifyLaunchTemplate)', async () => {
    // Prepare
    const img = image(1);
    arrange('lt:web', [img]);
    const t = world.template('web', 'ami-0000000000000000f');
    t.versions.push({ version: 2, imageId: img.imageId });

    // Act
    await promoteImage(img.imageId, deps, 'event');

    // Assess
    expect(t.versions).toHaveLength(2);
    expect(t.defaultVersion).toBe(2);
  });

  it('never goes over a newer image, and never promotes an image that is not good', async () => {
    // Prepare
    const [older, newer, pending] = [image(1), image(2), image(3, { status: 'pending' })];
    arrange(`ssm:${PARAM}`, [older, newer, pending]);
    await world.putImageParameter(PARAM, newer.imageId);

    // Act
    const late = await promoteImage(older.imageId, deps, 'event');
    const early = await promoteImage(pending.imageId, deps, 'manual');

    // Assess
    expect(late.targets).toEqual([{ target: `ssm:${PARAM}`, outcome: 'holds-newer', detail: newer.imageId }]);
    expect(early).toMatchObject({ skipped: 'its status is pending, not good', targets: [] });
    expect((await world.getParameter(PARAM))!.version).toBe(1);
  });

  it.each(['pending', 'verifying'] as const)(
    'is retried (throws) when its ImageBaked comes before the %s image is tagged good, and promotes once it is',
    async (status) => {
      // Prepare: the settle published, and has not tagged yet
      const img = image(1, { status });
      arrange(`ssm:${PARAM}`, [img]);

      // Act
      const early = promoteImage(img.imageId, deps, 'event');
      await expect(early).rejects.toMatchObject({ name: 'NotSettledYet', imageId: img.imageId, status });
      world.images.set(img.imageId, { ...img, tags: { ...img.tags, 'ami-lifecycle:status': 'good' } });
      const retried = await promoteImage(img.imageId, deps, 'event');

      // Assess
      expect(retried.targets).toEqual([expect.objectContaining({ target: `ssm:${PARAM}`, outcome: 'promoted' })]);
      expect(world.calls.filter((c) => c.startsWith('PutParameter'))).toHaveLength(1);
    },
  );

  it("reads the lineage's instances once when the event names the image's lineage", async () => {
    // Prepare
    const img = image(1);
    arrange(`ssm:${PARAM}`, [img]);

    // Act
    const report = await promoteImage(img.imageId, deps, 'event', undefined, LINEAGE);

    // Assess
    expect(report.targets).toEqual([expect.objectContaining({ outcome: 'promoted' })]);
    expect(world.lineageReads).toEqual([LINEAGE]);
  });

  it('skips, never retries, an image that is failed, bad, or not of this stack', async () => {
    // Prepare
    const [failed, bad, foreign] = [
      image(1, { status: 'failed' }),
      image(2, { status: 'bad' }),
      image(3, { tags: { 'ami-lifecycle:managed-by': 'someone-else' } }),
    ];
    arrange(`ssm:${PARAM}`, [failed, bad, foreign]);

    // Act
    const reports = [];
    for (const i of [failed, bad, foreign]) reports.push(await promoteImage(i.imageId, deps, 'event'));

    // Assess
    expect(reports.map((r) => r.skipped)).toEqual([
      'its status is failed, not good',
      'its status is bad, not good',
      'not an image of this stack',
    ]);
    expect(await world.getParameter(PARAM)).toBeUndefined();
  });

  it('reports a malformed target in PolicyInvalid and a refused one in PromotionFailed; the others proceed', async () => {
    // Prepare
    const img = image(1);
    arrange(`ssm:/other/x,lt:closed,lt:web,bogus`, [img]);
    world.template('closed', undefined, {});
    world.template('web', undefined);

    // Act
    const report = await promoteImage(img.imageId, deps, 'event');

    // Assess
    expect(report.targets.map((t) => [t.target, t.outcome, t.detail])).toEqual([
      ['lt:closed', 'failed', 'NotPromotable'],
      ['lt:web', 'promoted', undefined],
    ]);
    expect(bus.ofType('PolicyInvalid')).toMatchObject([
      { instanceId: LINEAGE, bakeSkipped: false, problems: [{ value: 'ssm:/other/x' }, { value: 'bogus' }] },
    ]);
    expect(bus.ofType('PromotionFailed')).toMatchObject([{ target: 'lt:closed', errorCode: 'NotPromotable' }]);
  });

  it('retries (throws) after every target had its turn when AWS throttles one', async () => {
    // Prepare
    const img = image(1);
    arrange(`ssm:${PARAM},lt:web`, [img]);
    world.template('web', undefined);
    world.fail('PutParameter', 'ThrottlingException', true);

    // Act
    const run = promoteImage(img.imageId, deps, 'event');

    // Assess
    await expect(run).rejects.toMatchObject({ code: 'ThrottlingException' });
    expect(world.calls).toContain('ModifyLaunchTemplate web 2');
  });

  it("starts an Auto Scaling group's refresh once, after its template; one already running is reported", async () => {
    // Prepare
    const [one, two] = [image(1), image(2)];
    arrange('asg:web-asg', [one, two]);
    world.template('web', undefined);
    world.groups.set('web-asg', {
      name: 'web-asg',
      tags: { 'ami-lifecycle:promotable': 'true' },
      launchTemplate: { name: 'web', version: '$Default' },
      mixedInstances: false,
      refreshes: [],
      running: false,
    });

    // Act
    await promoteImage(one.imageId, deps, 'event');
    await promoteImage(one.imageId, deps, 'event');
    const second = await promoteImage(two.imageId, deps, 'event');

    // Assess
    expect(world.groups.get('web-asg')!.refreshes).toEqual(['refresh-1']);
    expect(second.targets[0]!.refresh).toMatch(/^not started: a refresh is already in progress/);
    expect(bus.ofType('InstanceRefreshStarted')).toMatchObject([{ instanceRefreshId: 'refresh-1', autoScalingGroupName: 'web-asg' }]);
  });
});

describe("the event's lineage", () => {
  it('spares a lineage without targets the image read, and a wrong one promotes nothing', async () => {
    // Prepare
    const img = image(1);
    arrange(`ssm:${PARAM}`, [img]);
    const other = 'i-0000000000000000b';
    world.instances.push({
      instanceId: other,
      state: 'running',
      tags: { 'ami-lifecycle:lineage': other, 'ami-lifecycle:promote': 'lt:x' },
    });
    let described = 0;
    const describeImage = world.describeImage.bind(world);
    world.describeImage = async (id) => {
      described++;
      return describeImage(id);
    };

    // Act
    const none = await promoteImage(img.imageId, deps, 'event', undefined, 'i-0000000000000000c');
    const forged = await promoteImage(img.imageId, deps, 'event', undefined, other);
    const right = await promoteImage(img.imageId, deps, 'event', undefined, LINEAGE);

    // Assess
    expect(none.skipped).toBe('the lineage names no promotion target');
    expect(forged).toMatchObject({ targets: [], skipped: `the event names the lineage ${other}, the image ${LINEAGE}` });
    expect(right.targets).toMatchObject([{ outcome: 'promoted' }]);
    expect(described).toBe(2); // the forged one's image (its lineage has targets) and the right one's; none for the first
    expect(world.calls.filter((c) => c.startsWith('PutParameter'))).toHaveLength(1);
  });
});

describe('reconcilePromotions', () => {
  it("promotes each lineage's newest good image, skipping a bad one", async () => {
    // Prepare
    arrange(`ssm:${PARAM}`, [image(1), image(2), image(3, { status: 'bad' })]);

    // Act
    const report = await reconcilePromotions(deps);

    // Assess
    expect(report).toEqual({ lineages: 1, promoted: 1, failed: 0 });
    expect((await world.getParameter(PARAM))!.value).toBe(image(2).imageId);
  });
});

describe('rollbackLineage and promotionHoldings', () => {
  it('takes each target back to its earlier image, marks the one left bad, and status shows what each holds', async () => {
    // Prepare: two nights promoted into both targets
    const [one, two] = [image(1), image(2)];
    arrange(`ssm:${PARAM},lt:web`, [one, two]);
    const t = world.template('web', undefined);
    await promoteImage(one.imageId, deps, 'event');
    await promoteImage(two.imageId, deps, 'event');

    // Act
    const outcomes = await rollbackLineage(LINEAGE, deps);
    const holdings = await promotionHoldings(deps);

    // Assess
    expect(outcomes.map((o) => [o.target, o.outcome, o.to, o.previousImageId])).toEqual([
      [`ssm:${PARAM}`, 'rolled-back', one.imageId, two.imageId],
      ['lt:web', 'rolled-back', one.imageId, two.imageId],
    ]);
    expect(t.defaultVersion).toBe(2);
    expect(world.images.get(two.imageId)!.tags['ami-lifecycle:status']).toBe('bad');
    expect(holdings.map((h) => [h.target, h.imageId, h.newestGood])).toEqual([
      [`ssm:${PARAM}`, one.imageId, one.imageId],
      ['lt:web', one.imageId, one.imageId],
    ]);
    expect(bus.ofType('ImagePromoted').filter((e) => e.action === 'rollback')).toHaveLength(2);
  });

  it('has nothing to roll back to after one promotion, and refuses a target the lineage does not name', async () => {
    // Prepare
    const one = image(1);
    arrange(`ssm:${PARAM}`, [one]);
    await promoteImage(one.imageId, deps, 'event');

    // Act + Assess
    expect(await rollbackLineage(LINEAGE, deps)).toMatchObject([{ outcome: 'nothing-to-roll-back-to' }]);
    await expect(rollbackLineage(LINEAGE, deps, 'lt:other')).rejects.toThrow(/names no target lt:other/);
  });
});
