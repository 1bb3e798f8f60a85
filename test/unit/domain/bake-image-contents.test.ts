/**
 * What goes into an image (issue 14): the devices left out (exclude tags, volumes=root, the root
 * never), the instance tags copied (copyTags, copy-tags), and EC2's 50 tags per resource.
 */
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import {
  copiedTags,
  decideBake,
  devicesLeftOut,
  excludedTagValue,
  planBake,
  withCopiedTags,
  type InstanceSummary,
  type RunContext,
} from '../../../shared/domain/bake.js';
import { BakeRequested } from '../../../shared/domain/events.js';
import { MAX_TAGS_PER_RESOURCE } from '../../../shared/domain/launch.js';
import { CopyTagsSpec, parseInstancePolicy, TAG, type Tags } from '../../../shared/domain/tags.js';
import { bakeRequest } from '../fakes.js';

const INSTANCE_ID = 'i-0123456789abcdef0';
const ROOT = { deviceName: '/dev/xvda', volumeId: 'vol-0000000000000000a' };
const SDF = { deviceName: '/dev/sdf', volumeId: 'vol-0000000000000000f' };
const SDG = { deviceName: '/dev/sdg', volumeId: 'vol-00000000000000001' };

const run = (overrides: Partial<RunContext> = {}): RunContext => ({
  managedBy: 'ami-lifecycle-test',
  schedule: 'nightly',
  slot: '2026-11-26',
  knownSchedules: ['nightly'],
  now: new Date('2026-11-26T01:00:05.000Z'),
  ...overrides,
});

const instance = (tags: Tags, volumes = [ROOT, SDF, SDG]): InstanceSummary => ({
  instanceId: INSTANCE_ID,
  state: 'running',
  tags: { [TAG.bake]: 'nightly', ...tags },
  rootDeviceName: '/dev/xvda',
  volumes,
});

describe('devicesLeftOut', () => {
  it('leaves out the volumes tagged exclude=true or follow, whatever the case and spaces', () => {
    const excludes = new Map([
      [SDF.volumeId, ' TRUE '],
      [SDG.volumeId, 'follow'],
    ]);
    expect(devicesLeftOut(instance({}), 'all', excludes)).toEqual({ devices: ['/dev/sdf', '/dev/sdg'], problems: [] });
  });

  it('keeps a volume tagged exclude=false, and every volume when nothing is known', () => {
    expect(devicesLeftOut(instance({}), 'all', new Map([[SDF.volumeId, 'false']]))).toEqual({ devices: [], problems: [] });
    expect(devicesLeftOut(instance({}), 'all', undefined)).toEqual({ devices: [], problems: [] });
  });

  it('leaves out every device but the root one with volumes=root', () => {
    expect(devicesLeftOut(instance({}), 'root', new Map()).devices).toEqual(['/dev/sdf', '/dev/sdg']);
  });

  it('never leaves out the root device: a root volume tagged exclude goes in, and is a problem', () => {
    const { devices, problems } = devicesLeftOut(instance({}), 'all', new Map([[ROOT.volumeId, 'true']]));
    expect(devices).toEqual([]);
    expect(problems).toEqual([
      { tag: TAG.exclude, value: 'true', reason: expect.stringMatching(/vol-0000000000000000a at \/dev\/xvda is the root volume/) },
    ]);
  });

  it('knows the root device written with or without /dev/', () => {
    const subject = { ...instance({}), rootDeviceName: 'xvda' };
    expect(devicesLeftOut(subject, 'root', undefined).devices).toEqual(['/dev/sdf', '/dev/sdg']);
  });

  it('keeps a volume whose exclude tag it cannot read, and reports it', () => {
    const { devices, problems } = devicesLeftOut(instance({}), 'all', new Map([[SDF.volumeId, 'yes']]));
    expect(devices).toEqual([]);
    expect(problems).toEqual([{ tag: TAG.exclude, value: 'yes', reason: expect.stringMatching(/expected one of true, follow, false/) }]);
  });
});

describe('decideBake: what goes into the image', () => {
  it('puts the devices to leave out on the request', () => {
    const decision = decideBake(instance({}), run({ volumeExcludes: new Map([[SDG.volumeId, 'true']]) }));
    expect(decision.request?.excludeDevices).toEqual(['/dev/sdg']);
    expect(decision.policyInvalid).toBeUndefined();
    expect(v.safeParse(BakeRequested, decision.request).success).toBe(true);
  });

  it('asks for every volume (no field: the request of old) when nothing is excluded', () => {
    const decision = decideBake(instance({}), run({ volumeExcludes: new Map() }));
    expect(decision.request).toBeDefined();
    expect(decision.request).not.toHaveProperty('excludeDevices');
    expect(decision.request).not.toHaveProperty('copyTags');
  });

  it('bakes an instance with a root volume tagged exclude, whole, and reports it with bakeSkipped false', () => {
    const decision = decideBake(instance({}), run({ volumeExcludes: new Map([[ROOT.volumeId, 'follow']]) }));
    expect(decision.request).toBeDefined();
    expect(decision.request).not.toHaveProperty('excludeDevices');
    expect(decision.policyInvalid?.detail).toMatchObject({ bakeSkipped: false, problems: [{ tag: TAG.exclude, value: 'follow' }] });
  });

  it.each(['data', 'none', ''])('bakes every volume with an unreadable volumes=%j, reported', (value) => {
    const decision = decideBake(instance({ [TAG.volumes]: value }), run());
    expect(decision.request).not.toHaveProperty('excludeDevices');
    expect(decision.policyInvalid?.detail).toMatchObject({ bakeSkipped: false, problems: [{ tag: TAG.volumes, value }] });
  });

  it("copies the stage's keys, or the instance's own copy-tags over them", () => {
    const tags = { CostCenter: 'cc', Team: 'web', 'aws:cloudformation:stack-name': 's' };
    const stage = run({ copyTags: { kind: 'keys', keys: ['CostCenter'] } });
    expect(decideBake(instance(tags), stage).request?.copyTags).toEqual({ CostCenter: 'cc' });
    expect(decideBake(instance({ ...tags, [TAG.copyTags]: 'Team' }), stage).request?.copyTags).toEqual({ Team: 'web' });
    expect(decideBake(instance({ ...tags, [TAG.copyTags]: 'none' }), stage).request).not.toHaveProperty('copyTags');
    expect(decideBake(instance({ ...tags, [TAG.copyTags]: '*' }), run()).request?.copyTags).toEqual({ CostCenter: 'cc', Team: 'web' });
  });

  it("follows the stage's copyTags when the instance's cannot be read, and reports it", () => {
    const stage = run({ copyTags: { kind: 'keys', keys: ['CostCenter'] } });
    const decision = decideBake(instance({ CostCenter: 'cc', [TAG.copyTags]: 'a,,b' }), stage);
    expect(decision.request?.copyTags).toEqual({ CostCenter: 'cc' });
    expect(decision.policyInvalid?.detail).toMatchObject({ bakeSkipped: false, problems: [{ tag: TAG.copyTags, value: 'a,,b' }] });
  });
});

describe('CopyTagsSpec and copiedTags', () => {
  it.each([
    ['', { kind: 'none' }],
    [' none ', { kind: 'none' }],
    ['NONE', { kind: 'none' }],
    ['*', { kind: 'all' }],
    ['CostCenter', { kind: 'keys', keys: ['CostCenter'] }],
    ['CostCenter, Team,CostCenter', { kind: 'keys', keys: ['CostCenter', 'Team'] }],
    [`${'k'.repeat(128)}`, { kind: 'keys', keys: ['k'.repeat(128)] }],
  ])('reads %j', (raw, expected) => {
    expect(v.parse(CopyTagsSpec, raw)).toEqual(expected);
  });

  it.each([
    ['a,,b', /empty key/],
    ['*,Team', /stand alone/],
    ['Team,none', /stand alone/],
    ['k'.repeat(129), /at most 128/],
    ['aws:cloudformation:stack-name', /never copied/],
    ['AWS:x', /never copied/],
    [`${TAG.retain}`, /never copied/],
  ])('refuses %j', (raw, message) => {
    const parsed = v.safeParse(CopyTagsSpec, raw);
    expect(parsed.success).toBe(false);
    expect(parsed.issues?.[0]?.message).toMatch(message);
  });

  it("copies with '*' every tag but aws: and the service's own; with keys, those present", () => {
    const tags = { CostCenter: 'cc', Name: 'web', 'aws:autoscaling:groupName': 'g', [TAG.bake]: 'nightly', [TAG.lineage]: 'web' };
    expect(copiedTags(tags, { kind: 'all' })).toEqual({ CostCenter: 'cc', Name: 'web' });
    expect(copiedTags(tags, { kind: 'keys', keys: ['CostCenter', 'Missing'] })).toEqual({ CostCenter: 'cc' });
    expect(copiedTags(tags, { kind: 'none' })).toEqual({});
  });

  it('reads volumes and copy-tags in parseInstancePolicy, never blocking a bake', () => {
    const policy = parseInstancePolicy({ [TAG.bake]: 'nightly', [TAG.volumes]: ' Root ', [TAG.copyTags]: '*' }, ['nightly']);
    expect(policy).toMatchObject({ volumes: 'root', copyTags: { kind: 'all' }, problems: [], bakeable: true });
    const bad = parseInstancePolicy({ [TAG.bake]: 'nightly', [TAG.volumes]: 'data', [TAG.copyTags]: 'aws:x' }, ['nightly']);
    expect(bad).toMatchObject({ volumes: 'all', copyTags: undefined, bakeable: true });
    expect(bad.problems.map((p) => p.tag)).toEqual([TAG.volumes, TAG.copyTags]);
  });
});

describe('planBake: devices and copied tags', () => {
  const own = (n: number): Tags =>
    Object.fromEntries(Array.from({ length: n }, (_, i) => [`${TAG.managedBy}-${String(i).padStart(2, '0')}`, 'x']));
  const copied = (n: number): Tags => Object.fromEntries(Array.from({ length: n }, (_, i) => [`Key${String(i).padStart(2, '0')}`, 'v']));

  it('maps each excluded device to NoDevice and tags the image with them', () => {
    const plan = planBake(bakeRequest({ instanceId: INSTANCE_ID, excludeDevices: ['/dev/sdg', '/dev/sdf'] }));
    expect(plan.image.noDevices).toEqual(['/dev/sdg', '/dev/sdf']);
    expect(plan.image.tags[TAG.excluded]).toBe('/dev/sdg,/dev/sdf');
  });

  it('plans every volume and no excluded tag for a request without the field (backward compatible)', () => {
    const plan = planBake(bakeRequest({ instanceId: INSTANCE_ID }));
    expect(plan.image.noDevices).toEqual([]);
    expect(plan.image.tags[TAG.excluded]).toBeUndefined();
    expect(plan.droppedTags).toEqual([]);
  });

  it('puts the service tags first and copied ones after; a copied key the service sets keeps its value', () => {
    const plan = planBake(bakeRequest({ instanceId: INSTANCE_ID, instanceName: 'web-1', copyTags: { Name: 'other', CostCenter: 'cc' } }));
    expect(plan.image.tags).toMatchObject({ Name: 'web-1', CostCenter: 'cc', [TAG.status]: 'pending' });
  });

  it(`keeps exactly ${MAX_TAGS_PER_RESOURCE} tags: all fit at 50, one copied key dropped at 51 (the last by key)`, () => {
    const at = withCopiedTags(own(10), copied(40));
    expect(Object.keys(at.tags)).toHaveLength(50);
    expect(at.dropped).toEqual([]);
    const past = withCopiedTags(own(10), copied(41));
    expect(Object.keys(past.tags)).toHaveLength(50);
    expect(past.dropped).toEqual(['Key40']);
    expect(Object.keys(past.tags).filter((k) => k.startsWith(TAG.managedBy))).toHaveLength(10);
  });

  it('never drops a service tag, and says what planBake dropped', () => {
    const plan = planBake(bakeRequest({ instanceId: INSTANCE_ID, instanceName: 'web', copyTags: copied(50) }));
    expect(Object.keys(plan.image.tags)).toHaveLength(50);
    expect(plan.image.tags.Name).toBe('web');
    expect(plan.image.tags[TAG.managedBy]).toBeDefined();
    // 7 of the service's (managed-by, lineage, source, schedule, slot, status, Name): 43 copied, 7 dropped
    expect(plan.droppedTags).toEqual(['Key43', 'Key44', 'Key45', 'Key46', 'Key47', 'Key48', 'Key49']);
  });

  it('keeps the excluded tag within 256 characters: whole at 256, cut and ending in ,... at 257', () => {
    const nine = Array.from({ length: 25 }, (_, i) => `/dev/sd${String(i).padStart(2, '0')}`); // 25 * 9 + 24 commas = 249
    const at = [...nine, '/dev/a']; // 249 + 1 + 6 = 256
    expect(excludedTagValue(at)).toBe(at.join(','));
    expect(excludedTagValue(at)).toHaveLength(256);
    const past = [...nine, '/dev/ab']; // 257
    const value = excludedTagValue(past);
    expect(value.length).toBeLessThanOrEqual(256);
    expect(value).toBe(`${nine.join(',')},...`); // 249 + 4
  });
});
