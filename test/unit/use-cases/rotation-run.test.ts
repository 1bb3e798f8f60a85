/**
 * The daily rotation run (shared/use-cases/rotation-run.ts): rotation and sharing first, adoption
 * last, so that an image adopted today is first rotated tomorrow; a failed rotation does not stop the
 * adoption, and fails the run after it; the run's dry run is adoption's too.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { readAdoptionFilters } from '../../../shared/runtime/config.js';
import type { OwnedImageView, StaleEc2 } from '../../../shared/use-cases/ec2-ports.js';
import type { RotationDeps, ShareDeps } from '../../../shared/use-cases/ports.js';
import { rotateShareAndAdopt } from '../../../shared/use-cases/rotation-run.js';
import type { ScheduledAdoptionDeps } from '../../../shared/use-cases/stale-images.js';
import { InMemoryEventBus } from '../fakes/event-bus.js';
import { RecordingLog } from '../fakes/recording.js';

const order: string[] = [];
const rotation = vi.hoisted(() => ({ fail: false }));
vi.mock('../../../shared/use-cases/share-images.js', () => ({
  rotateAndShare: async (options: { dryRun?: boolean }) => {
    order.push(`rotate dryRun=${String(options.dryRun)}`);
    if (rotation.fail) throw new Error('rotation failed');
    return { dryRun: options.dryRun ?? false };
  },
}));

const NOW = new Date('2026-11-26T06:00:00.000Z');
const IMAGE: OwnedImageView = {
  imageId: 'ami-00000000000000001',
  name: 'packer-web-1',
  state: 'available',
  creationDate: '2026-01-01T00:00:00.000Z',
  tags: {},
  snapshotIds: ['snap-00000000000000001'],
  public: false,
};

function adoptionDeps(): ScheduledAdoptionDeps & { tagged: string[] } {
  const tagged: string[] = [];
  const empty = async function* <T>(): AsyncIterable<T[]> {};
  const ec2: StaleEc2 = {
    async *listOwnedImages() {
      order.push('adoption reads');
      yield [IMAGE];
    },
    listOwnedSnapshots: () => empty(),
    listListedInstances: () => empty(),
    listLaunchTemplateImages: () => empty(),
    findImageReferences: async () => ({ references: new Map(), unverified: new Map() }),
    readLaunchPermissions: async () => [],
    async tagResources(ids) {
      tagged.push(...ids);
    },
  };
  return {
    tagged,
    managedBy: 'ami-lifecycle-test',
    log: new RecordingLog(),
    now: () => NOW,
    events: new InMemoryEventBus(),
    ec2,
    groups: { listLaunchConfigurationImages: () => empty(), listGroupLaunchConfigurations: () => empty() },
    parameters: { listImageIdParameters: async () => [] },
  };
}

const runDeps = (dryRun: boolean) => ({ rotation: { dryRun } }) as unknown as RotationDeps & ShareDeps;
const settings = readAdoptionFilters([{ name: 'packer-*' }]);

beforeEach(() => {
  order.length = 0;
  rotation.fail = false;
});

describe('rotateShareAndAdopt', () => {
  it('rotates first and adopts last: what it adopts today is first rotated tomorrow', async () => {
    const deps = adoptionDeps();
    const report = await rotateShareAndAdopt({}, runDeps(false), { settings, deps });
    expect(order).toEqual(['rotate dryRun=undefined', 'adoption reads']);
    expect(deps.tagged).toEqual([IMAGE.imageId, ...IMAGE.snapshotIds]);
    expect(report.adoption?.filters[0]?.adopted).toEqual([{ imageId: IMAGE.imageId, lineage: 'adopted/packer-web' }]);
  });

  it("adopts nothing in the stage's dry run, or the request's", async () => {
    for (const [options, stage] of [
      [{}, true],
      [{ dryRun: true }, false],
    ] as const) {
      const deps = adoptionDeps();
      const report = await rotateShareAndAdopt(options, runDeps(stage), { settings, deps });
      expect(deps.tagged).toEqual([]);
      expect(report.adoption).toMatchObject({ dryRun: true, filters: [{ adopted: [{ imageId: IMAGE.imageId }] }] });
    }
  });

  it('a failed rotation does not stop the adoption; the run fails after it', async () => {
    rotation.fail = true;
    const deps = adoptionDeps();
    await expect(rotateShareAndAdopt({}, runDeps(false), { settings, deps })).rejects.toThrow('rotation failed');
    expect(deps.tagged).toEqual([IMAGE.imageId, ...IMAGE.snapshotIds]);
  });

  it('without adoptFilters, only rotates', async () => {
    const report = await rotateShareAndAdopt({}, runDeps(false));
    expect(order).toEqual(['rotate dryRun=undefined']);
    expect(report).not.toHaveProperty('adoption');
  });
});
