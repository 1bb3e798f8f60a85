/**
 * The stale and adopt use cases (shared/use-cases/stale-images.ts) over an in-memory account:
 * what each read contributes, what a read that cannot answer does, the calls 10,000 images cost,
 * and adoption's one refused call.
 */
import { describe, expect, it } from 'vitest';
import type { InstanceSummary } from '../../../shared/domain/bake.js';
import type { UnverifiedReason } from '../../../shared/domain/retention.js';
import { TAG } from '../../../shared/domain/tags.js';
import type { LaunchTemplateImage, OwnedImageView, SnapshotView, StaleEc2 } from '../../../shared/use-cases/ec2-ports.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import type { ImageIdParameter, LaunchConfigurationImage } from '../../../shared/use-cases/ports.js';
import { adoptImages, adoptionPlan, adoptOnSchedule, findStaleImages, type StaleDeps } from '../../../shared/use-cases/stale-images.js';
import { readAdoptionFilters } from '../../../shared/runtime/config.js';
import { InMemoryEventBus } from '../fakes/event-bus.js';
import { RecordingLog } from '../fakes/recording.js';

const STACK = 'ami-lifecycle-test';
const NOW = new Date('2026-11-26T01:00:00.000Z');
const OLD = new Date(NOW.getTime() - 200 * 86_400_000).toISOString();
const PAGE = 1000;

interface Account {
  images: OwnedImageView[];
  instances: InstanceSummary[];
  templates: LaunchTemplateImage[];
  configurations: LaunchConfigurationImage[];
  groups: Array<{ name: string; launchConfigurationName?: string }>;
  parameters: ImageIdParameter[];
  references: Map<string, string[]>;
  permissions: Map<string, string[]>;
  referencesRefused?: AwsCallError;
  imagesRefused?: AwsCallError;
  permissionsRefused?: Set<string>;
  tagRefused?: Set<string>;
  tagged: Map<string, Record<string, string>>;
  calls: Record<string, number>;
}

const image = (n: number, over: Partial<OwnedImageView> = {}): OwnedImageView => ({
  imageId: `ami-${n.toString(16).padStart(17, '0')}`,
  name: `packer-web-${n}`,
  state: 'available',
  creationDate: OLD,
  tags: {},
  snapshotIds: [`snap-${n.toString(16).padStart(17, '0')}`],
  public: false,
  ...over,
});

function emptyAccount(images: OwnedImageView[]): Account {
  return {
    images,
    instances: [],
    templates: [],
    configurations: [],
    groups: [],
    parameters: [],
    references: new Map(),
    permissions: new Map(),
    tagged: new Map(),
    calls: {},
  };
}

function depsOf(a: Account): StaleDeps {
  const count = (action: string, n = 1) => (a.calls[action] = (a.calls[action] ?? 0) + n);
  async function* paged<T>(action: string, items: T[], size = PAGE): AsyncIterable<T[]> {
    for (let i = 0; i === 0 || i < items.length; i += size) {
      count(action);
      yield items.slice(i, i + size);
    }
  }
  const ec2: StaleEc2 = {
    // An image reads back with the tags written on it (a later filter sees what an earlier one adopted).
    listOwnedImages: () => {
      if (a.imagesRefused) throw a.imagesRefused;
      return paged(
        'DescribeImages',
        a.images.map((i) => ({ ...i, tags: { ...i.tags, ...a.tagged.get(i.imageId) } })),
      );
    },
    listOwnedSnapshots: () =>
      paged(
        'DescribeSnapshots',
        a.images.flatMap((i) =>
          i.snapshotIds.map((snapshotId): SnapshotView => ({ snapshotId, sizeBytes: 2 ** 33, startTime: NOW, tags: {} })),
        ),
      ),
    listListedInstances: () => paged('DescribeInstances', a.instances),
    listLaunchTemplateImages: () => paged('DescribeLaunchTemplateVersions', a.templates, 200),
    async findImageReferences(ids) {
      const references = new Map<string, string[]>();
      const unverified = new Map<string, UnverifiedReason>();
      for (let i = 0; i < ids.length; i += 10) {
        count('DescribeImageReferences');
        for (const id of ids.slice(i, i + 10)) {
          if (a.referencesRefused) unverified.set(id, { errorCode: a.referencesRefused.code, message: a.referencesRefused.message });
          else if (a.references.has(id)) references.set(id, a.references.get(id)!);
        }
      }
      return { references, unverified };
    },
    async readLaunchPermissions(id) {
      count('DescribeImageAttribute');
      if (a.permissionsRefused?.has(id)) throw new AwsCallError('UnauthorizedOperation', 'DescribeImageAttribute', 'refused', false);
      return a.permissions.get(id) ?? [];
    },
    async tagResources(ids, tags) {
      count('CreateTags');
      if (ids.some((id) => a.tagRefused?.has(id))) throw new AwsCallError('UnauthorizedOperation', 'CreateTags', 'refused', false);
      for (const id of ids) a.tagged.set(id, { ...(a.tagged.get(id) ?? {}), ...tags });
    },
  };
  return {
    managedBy: STACK,
    log: new RecordingLog(),
    now: () => NOW,
    ec2,
    groups: {
      listLaunchConfigurationImages: () => paged('DescribeLaunchConfigurations', a.configurations, 100),
      listGroupLaunchConfigurations: () => paged('DescribeAutoScalingGroups', a.groups, 100),
    },
    parameters: {
      async listImageIdParameters() {
        count('DescribeParameters');
        return a.parameters;
      },
    },
  };
}

const options = { filters: { olderThanDays: 90, tags: {}, includeShared: false }, pricePerGbMonth: 0.05 };

describe('findStaleImages', () => {
  it('gathers every reason, each resource once, and asks for launch permissions only of would-be candidates', async () => {
    const images = Array.from({ length: 8 }, (_, n) => image(n));
    const a = emptyAccount(images);
    const id = (n: number) => images[n]!.imageId;
    a.instances = [
      { instanceId: 'i-1', state: 'stopped', tags: {}, imageId: id(1) },
      { instanceId: 'i-2', state: 'terminated', tags: {}, imageId: id(2) },
    ];
    a.templates = [{ launchTemplateId: 'lt-1', version: 4, isDefault: false, imageId: id(3) }];
    a.configurations = [{ name: 'lc', imageId: id(4) }];
    a.groups = [{ name: 'asg', launchConfigurationName: 'lc' }, { name: 'lt-group' }];
    a.parameters = [{ name: '/app/ami', dataType: 'text', imageIds: [id(5)] }];
    // The reference check finds the instance again (one use), and an older template version.
    a.references.set(id(1), [`ec2:Instance arn:aws:ec2:us-east-1:123456789012:instance/i-1`]);
    a.references.set(id(6), [`ec2:LaunchTemplate arn:aws:ec2:us-east-1:123456789012:launch-template/lt-2`]);
    a.permissions.set(id(7), ['111122223333']);

    const { report, calls } = await findStaleImages(options, depsOf(a));

    const uses = (n: number) => report.entries.find((e) => e.imageId === id(n))!.uses.map((u) => `${u.kind} ${u.resource}`);
    expect(report.entries.filter((e) => e.candidate).map((e) => e.imageId)).toEqual([id(0)]);
    expect(uses(1)).toEqual(['instance i-1']);
    expect(uses(2)).toEqual(['instance i-2']);
    expect(uses(3)).toEqual(['launch-template lt-1']);
    expect(uses(4)).toEqual(['launch-configuration lc', 'auto-scaling-group asg']);
    expect(uses(5)).toEqual(['ssm-parameter app/ami']);
    expect(uses(6)).toEqual(['launch-template lt-2']);
    expect(uses(7)).toEqual(['shared 111122223333']);
    expect(calls).toEqual({ describeImageReferences: 1, describeImageAttribute: 2 });
    expect(a.calls.DescribeImageAttribute).toBe(2);
  });

  it('keeps an image a read could not answer for: the reference check refused, launch permissions unreadable', async () => {
    const a = emptyAccount([image(0), image(1)]);
    a.referencesRefused = new AwsCallError('UnauthorizedOperation', 'DescribeImageReferences', 'no ssm:GetParameters', false);
    expect((await findStaleImages(options, depsOf(a))).report.candidates).toBe(0);

    const b = emptyAccount([image(0), image(1)]);
    b.permissionsRefused = new Set([image(1).imageId]);
    const { report } = await findStaleImages(options, depsOf(b));
    expect(report.entries.map((e) => e.candidate)).toEqual([true, false]);
    expect(report.entries[1]!.notCandidate).toEqual(['in use: its launch permissions could not be read (UnauthorizedOperation)']);
  });

  it('on 10,000 images, describes a page per 1,000, and asks per image only what EC2 answers per image', async () => {
    const images = Array.from({ length: 10_000 }, (_, n) =>
      image(n, n % 4 === 0 ? { tags: { [TAG.managedBy]: STACK } } : n % 4 === 1 ? { creationDate: NOW.toISOString() } : {}),
    );
    const a = emptyAccount(images);
    a.instances = images
      .filter((_, n) => n % 4 === 2)
      .map((i, n) => ({ instanceId: `i-${n}`, state: 'running', tags: {}, imageId: i.imageId }));

    const { report, calls } = await findStaleImages(options, depsOf(a));

    // Candidates: the quarter unmanaged, old and unused.
    expect(report.candidates).toBe(2500);
    expect(a.calls.DescribeImages).toBe(10);
    expect(a.calls.DescribeSnapshots).toBe(10);
    expect(a.calls.DescribeInstances).toBe(3);
    // DescribeImageReferences: the 7,500 old images the filters match, 10 a call.
    expect(calls.describeImageReferences).toBe(750);
    expect(a.calls.DescribeImageReferences).toBe(750);
    // Launch permissions: one call per would-be candidate (no batch read exists).
    expect(calls.describeImageAttribute).toBe(2500);
  });
});

describe('adoptImages', () => {
  it('tags each candidate and its snapshots; a refused one is reported and the others go on; a dry run tags nothing', async () => {
    const a = emptyAccount([image(0), image(1), image(2, { tags: { [TAG.managedBy]: STACK } })]);
    const deps = depsOf(a);
    const run = await findStaleImages(options, deps);
    const steps = adoptionPlan(run, { retain: '2' }, deps);
    expect(steps.map((s) => s.imageId)).toEqual([image(0).imageId, image(1).imageId]);

    expect((await adoptImages(steps, true, deps)).adopted).toEqual([]);
    expect(a.tagged.size).toBe(0);

    a.tagRefused = new Set([image(0).imageId]);
    const result = await adoptImages(steps, false, deps);
    expect(result.adopted).toEqual([image(1).imageId]);
    expect(result.failures).toEqual([
      { imageId: image(0).imageId, errorCode: 'UnauthorizedOperation', message: 'CreateTags: UnauthorizedOperation: refused' },
    ]);
    expect(a.tagged.get(image(1).snapshotIds[0]!)).toMatchObject({
      [TAG.managedBy]: STACK,
      [TAG.lineage]: 'adopted/packer-web',
      [TAG.retain]: '2',
      [TAG.status]: 'good',
      [TAG.adopted]: `${image(1).imageId}@${NOW.toISOString()}`,
    });
    expect(a.tagged.has(image(2).imageId)).toBe(false);
  });
});

describe('adoptOnSchedule (the stage adoptFilters, issue 19)', () => {
  /** packer-web 0-2 unused, packer-web 3 used by a stopped instance, other-4 unused, packer-web 5 the stack's own. */
  function account(): Account {
    const a = emptyAccount([
      image(0),
      image(1),
      image(2),
      image(3),
      image(4, { name: 'other-4' }),
      image(5, { tags: { [TAG.managedBy]: STACK, [TAG.lineage]: 'web' } }),
    ]);
    a.instances = [{ instanceId: 'i-1', state: 'stopped', tags: {}, imageId: image(3).imageId }];
    return a;
  }
  const settings = readAdoptionFilters([
    { name: 'packer-*', retain: '2' },
    { name: 'packer-*', olderThan: 'soon' },
    { name: '*', tags: { none: 'such' } },
    { name: 'packer-web-*', lineage: 'web-legacy' },
  ]);
  const ids = (...n: number[]) => n.map((k) => image(k).imageId);

  it('adopts what each valid entry matches, unused, once; names the bad entry; publishes one ImagesAdopted', async () => {
    // Prepare
    const a = account();
    const events = new InMemoryEventBus();

    // Act
    const report = await adoptOnSchedule(settings, false, { ...depsOf(a), events });

    // Assess: the first entry took the unused packer images; the last found them the stack's already.
    expect(report.filters).toEqual([
      { filter: 0, candidates: 3, adopted: ids(0, 1, 2).map((imageId) => ({ imageId, lineage: 'adopted/packer-web' })) },
      { filter: 2, candidates: 0, adopted: [] },
      { filter: 3, candidates: 0, adopted: [] },
    ]);
    expect([...a.tagged.keys()].filter((k) => k.startsWith('ami-')).sort()).toEqual(ids(0, 1, 2));
    expect(a.tagged.get(image(0).imageId)).toMatchObject({ [TAG.retain]: '2', [TAG.status]: 'good', [TAG.managedBy]: STACK });
    expect(report.invalidFilters).toEqual([{ index: 1, problems: [expect.stringMatching(/^olderThan: 'soon' is not an age/)] }]);
    expect(events.ofType('ImagesAdopted')).toEqual([
      {
        managedBy: STACK,
        dryRun: false,
        count: 3,
        lineages: [{ lineage: 'adopted/packer-web', imageIds: ids(0, 1, 2) }],
        failures: [],
        invalidFilters: [{ filter: 1, problems: report.invalidFilters[0]!.problems }],
        truncated: false,
      },
    ]);
  });

  it('in a dry run tags nothing and reports what it would adopt', async () => {
    const a = account();
    const events = new InMemoryEventBus();
    const report = await adoptOnSchedule(readAdoptionFilters([{ name: 'packer-*' }]), true, { ...depsOf(a), events });
    expect(a.tagged.size).toBe(0);
    expect(report.filters[0]!.adopted.map((x) => x.imageId)).toEqual(ids(0, 1, 2));
    expect(events.ofType('ImagesAdopted')).toMatchObject([{ dryRun: true, count: 3 }]);
  });

  it('a refused tag and an entry whose reads fail are reported; the others go on', async () => {
    // Prepare: image 1 refused; then the account unreadable for the first entry only
    const a = account();
    a.tagRefused = new Set([image(1).imageId]);
    const events = new InMemoryEventBus();
    const report = await adoptOnSchedule(readAdoptionFilters([{ name: 'packer-*' }, { name: 'other-*' }]), false, {
      ...depsOf(a),
      events,
    });
    expect(report.filters.flatMap((f) => f.adopted.map((x) => x.imageId))).toEqual(ids(0, 2, 4));
    expect(report.failures).toEqual([
      { filter: 0, imageId: image(1).imageId, errorCode: 'UnauthorizedOperation', message: 'CreateTags: UnauthorizedOperation: refused' },
    ]);

    const b = account();
    b.imagesRefused = new AwsCallError('UnauthorizedOperation', 'DescribeImages', 'refused', false);
    const failed = await adoptOnSchedule(readAdoptionFilters([{ name: 'packer-*' }]), false, { ...depsOf(b), events });
    expect(failed.failures).toEqual([
      { filter: 0, errorCode: 'UnauthorizedOperation', message: 'DescribeImages: UnauthorizedOperation: refused' },
    ]);
    expect(events.ofType('ImagesAdopted').at(-1)).toMatchObject({
      count: 0,
      failures: [{ filter: 0, errorCode: 'UnauthorizedOperation' }],
    });
  });

  it('publishes nothing when nothing matched and nothing failed', async () => {
    const events = new InMemoryEventBus();
    await adoptOnSchedule(readAdoptionFilters([{ name: 'nothing-*' }]), false, { ...depsOf(account()), events });
    expect(events.published).toEqual([]);
  });
});
