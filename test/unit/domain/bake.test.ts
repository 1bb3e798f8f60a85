import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { captureOf, decideBake, planBake, type InstanceSummary, type RunContext } from '../../../shared/domain/bake.js';
import { configDigest, type LaunchConfig } from '../../../shared/domain/launch.js';
import { BakeRequested, PolicyInvalid } from '../../../shared/domain/events.js';
import { imageName } from '../../../shared/domain/naming.js';
import { TAG, type Tags } from '../../../shared/domain/tags.js';
import { bakeRequest, isWellFormed } from '../fakes.js';

const INSTANCE_ID = 'i-0123456789abcdef0';

const run = (overrides: Partial<RunContext> = {}): RunContext => ({
  managedBy: 'ami-lifecycle-test',
  schedule: 'nightly',
  slot: '2026-11-26',
  knownSchedules: ['nightly', 'weekly'],
  now: new Date('2026-11-26T01:00:05.000Z'),
  ...overrides,
});

const instance = (tags: Tags, state = 'running', instanceId = INSTANCE_ID): InstanceSummary => ({ instanceId, state, tags });

const request = (overrides: Partial<BakeRequested> = {}): BakeRequested => bakeRequest({ instanceId: INSTANCE_ID, ...overrides });

describe('decideBake: instances that are gone', () => {
  it.each(['terminated', 'shutting-down'])('skips a %s instance as gone, whatever its tags', (state) => {
    // Prepare
    const subject = instance({ [TAG.bake]: 'nightly', [TAG.reboot]: 'yes' }, state);

    // Act
    const decision = decideBake(subject, run());

    // Assess
    expect(decision).toEqual({ skip: 'gone' });
  });

  it.each(['pending', 'running', 'stopping', 'stopped'])('bakes a %s instance', (state) => {
    // Prepare
    const subject = instance({ [TAG.bake]: 'nightly' }, state);

    // Act
    const decision = decideBake(subject, run());

    // Assess
    expect(decision.request?.instanceId).toBe(INSTANCE_ID);
    expect(decision.skip).toBeUndefined();
  });
});

describe('decideBake: schedules', () => {
  it('skips an instance that is not on this schedule, without a PolicyInvalid', () => {
    // Prepare
    const subject = instance({ [TAG.bake]: 'weekly' });

    // Act
    const decision = decideBake(subject, run());

    // Assess
    expect(decision).toEqual({ skip: 'not-on-schedule' });
  });

  it('bakes an instance on several schedules in each of its runs', () => {
    // Prepare
    const subject = instance({ [TAG.bake]: 'nightly,weekly' });

    // Act
    const decisions = [decideBake(subject, run()), decideBake(subject, run({ schedule: 'weekly', slot: '2026-W48' }))];

    // Assess
    expect(decisions.map((d) => [d.request?.schedule, d.request?.slot])).toEqual([
      ['nightly', '2026-11-26'],
      ['weekly', '2026-W48'],
    ]);
    expect(decisions.every((d) => d.policyInvalid === undefined)).toBe(true);
  });

  it('reports an unknown-only schedule (nighlty) in the run, as skipped', () => {
    // Prepare
    const subject = instance({ [TAG.bake]: 'nighlty' });

    // Act
    const decision = decideBake(subject, run());

    // Assess
    expect(decision.request).toBeUndefined();
    expect(decision.skip).toBe('not-on-schedule');
    expect(decision.policyInvalid?.detailType).toBe('PolicyInvalid');
    expect(decision.policyInvalid?.detail).toMatchObject({
      instanceId: INSTANCE_ID,
      schedule: 'nightly',
      slot: '2026-11-26',
      bakeSkipped: true,
      problems: [expect.objectContaining({ tag: TAG.bake, value: 'nighlty' })],
    });
  });

  it('bakes the known schedule of "nightly,nighlty" and reports the typo with bakeSkipped false', () => {
    // Prepare
    const subject = instance({ [TAG.bake]: 'nightly,nighlty' });

    // Act
    const decision = decideBake(subject, run());

    // Assess
    expect(decision.request?.schedule).toBe('nightly');
    expect(decision.policyInvalid?.detail).toMatchObject({ bakeSkipped: false });
  });

  it('does not report the typo of "nightly,nighlty" in the weekly run, which does not concern it', () => {
    // Prepare
    const subject = instance({ [TAG.bake]: 'nightly,nighlty' });

    // Act
    const decision = decideBake(subject, run({ schedule: 'weekly', slot: '2026-W48' }));

    // Assess
    expect(decision).toEqual({ skip: 'not-on-schedule' });
  });
});

describe('decideBake: invalid policies', () => {
  it('skips an instance with an invalid reboot tag and reports it with bakeSkipped true', () => {
    // Prepare
    const subject = instance({ [TAG.bake]: 'nightly', [TAG.reboot]: 'yes' });

    // Act
    const decision = decideBake(subject, run());

    // Assess
    expect(decision.skip).toBe('invalid-policy');
    expect(decision.request).toBeUndefined();
    const detail = v.parse(PolicyInvalid, decision.policyInvalid?.detail);
    expect(detail).toEqual({
      managedBy: 'ami-lifecycle-test',
      instanceId: INSTANCE_ID,
      schedule: 'nightly',
      slot: '2026-11-26',
      problems: [{ tag: TAG.reboot, value: 'yes', reason: expect.stringMatching(/'true' or 'false'/) }],
      bakeSkipped: true,
    });
  });

  it('skips an instance with a bad lineage tag and reports it', () => {
    // Prepare
    const subject = instance({ [TAG.bake]: 'nightly', [TAG.lineage]: 'has space' });

    // Act
    const decision = decideBake(subject, run());

    // Assess
    expect(decision.skip).toBe('invalid-policy');
    expect(decision.policyInvalid?.detail).toMatchObject({ bakeSkipped: true, problems: [expect.objectContaining({ tag: TAG.lineage })] });
  });

  it('reports an unbakeable instance even in the runs of other schedules', () => {
    // Prepare
    const subject = instance({ [TAG.bake]: 'weekly', [TAG.reboot]: 'yes' });

    // Act
    const decision = decideBake(subject, run());

    // Assess
    expect(decision.skip).toBe('invalid-policy');
    expect(decision.policyInvalid?.detail).toMatchObject({ bakeSkipped: true });
  });

  it('bakes a nightly instance with a bad retain in the nightly run, and reports it with bakeSkipped false', () => {
    // Prepare
    const subject = instance({ [TAG.bake]: 'nightly', [TAG.retain]: '0d' });

    // Act
    const decision = decideBake(subject, run());

    // Assess
    expect(decision.request).toBeDefined();
    expect(decision.skip).toBeUndefined();
    expect(decision.policyInvalid?.detail).toMatchObject({
      bakeSkipped: false,
      problems: [expect.objectContaining({ tag: TAG.retain, value: '0d' })],
    });
  });

  it('does not report the bad retain of a weekly-only instance in the nightly run', () => {
    // Prepare
    const subject = instance({ [TAG.bake]: 'weekly', [TAG.retain]: '0d' });

    // Act
    const decision = decideBake(subject, run());

    // Assess
    expect(decision).toEqual({ skip: 'not-on-schedule' });
  });

  it('bakes despite a bad recover tag and reports it', () => {
    // Prepare
    const subject = instance({ [TAG.bake]: 'nightly', [TAG.recover]: 'maybe' });

    // Act
    const decision = decideBake(subject, run());

    // Assess
    expect(decision.request).toBeDefined();
    expect(decision.policyInvalid?.detail).toMatchObject({ bakeSkipped: false, problems: [expect.objectContaining({ tag: TAG.recover })] });
  });
});

describe('decideBake: the bake request', () => {
  it('uses the instance id as lineage and asks to assign it when the instance has none', () => {
    // Prepare
    const subject = instance({ [TAG.bake]: 'nightly' });

    // Act
    const decision = decideBake(subject, run());

    // Assess
    expect(decision.request).toMatchObject({ lineage: INSTANCE_ID, assignLineage: true });
  });

  it('keeps an existing lineage and does not reassign it', () => {
    // Prepare
    const subject = instance({ [TAG.bake]: 'nightly', [TAG.lineage]: 'web-frontend' });

    // Act
    const decision = decideBake(subject, run());

    // Assess
    expect(decision.request).toMatchObject({ lineage: 'web-frontend', assignLineage: false });
  });

  it('builds the whole request: stack, instance, Name, schedule, slot, reboot, requestedAt = run.now', () => {
    // Prepare
    const subject = instance({ [TAG.bake]: 'nightly', [TAG.reboot]: 'TRUE', [TAG.lineage]: 'web', Name: 'web-1' });

    // Act
    const decision = decideBake(subject, run());

    // Assess
    expect(decision).toEqual({
      request: {
        managedBy: 'ami-lifecycle-test',
        instanceId: INSTANCE_ID,
        lineage: 'web',
        assignLineage: false,
        instanceName: 'web-1',
        schedule: 'nightly',
        slot: '2026-11-26',
        reboot: true,
        requestedAt: '2026-11-26T01:00:05.000Z',
      },
    });
    expect(v.safeParse(BakeRequested, decision.request).success).toBe(true);
  });

  it.each([
    ['absent', {}],
    ['empty', { Name: '' }],
  ])('has no instanceName when the Name tag is %s', (_label, nameTag) => {
    // Prepare
    const subject = instance({ [TAG.bake]: 'nightly', ...nameTag });

    // Act
    const decision = decideBake(subject, run());

    // Assess
    expect(decision.request).toBeDefined();
    expect(decision.request).not.toHaveProperty('instanceName');
  });

  it('cuts a Name longer than 256 characters to 256', () => {
    // Prepare
    const subject = instance({ [TAG.bake]: 'nightly', Name: 'n'.repeat(300) });

    // Act
    const decision = decideBake(subject, run());

    // Assess
    expect(decision.request?.instanceName).toBe('n'.repeat(256));
    expect(v.safeParse(BakeRequested, decision.request).success).toBe(true);
  });

  // Regression: EC2 allows 256 characters in a Name, which can be more than 256 UTF-16 units;
  // cutting by units could leave a lone surrogate, which the SDK refuses to send (URIError).
  it('never leaves a lone surrogate when it cuts a long Name', () => {
    // Prepare: 1 + 200 emoji = 201 characters (valid for EC2), 401 UTF-16 units
    const subject = instance({ [TAG.bake]: 'nightly', Name: `x${'😀'.repeat(200)}` });

    // Act
    const decision = decideBake(subject, run());

    // Assess
    expect(isWellFormed(decision.request?.instanceName ?? '')).toBe(true);
  });
});

describe('planBake', () => {
  it('names the image after stack, lineage, schedule and slot', () => {
    // Prepare
    const req = request();

    // Act
    const plan = planBake(req);

    // Assess
    expect(plan.image.name).toBe('ami-lifecycle-test/web/nightly/2026-11-26');
    expect(plan.image.instanceId).toBe(INSTANCE_ID);
    expect(plan.image.description).toBe(`nightly 2026-11-26 image of ${INSTANCE_ID}, lineage web, by ami-lifecycle-test`);
  });

  it.each([
    [false, true],
    [true, false],
  ])('sets NoReboot to the inverse of reboot (reboot %s -> noReboot %s)', (reboot, noReboot) => {
    // Prepare
    const req = request({ reboot });

    // Act
    const plan = planBake(req);

    // Assess
    expect(plan.image.noReboot).toBe(noReboot);
  });

  it('by default (no reboot tag) keeps the instance running: noReboot true', () => {
    // Prepare
    const decision = decideBake(instance({ [TAG.bake]: 'nightly' }), run());

    // Act
    const plan = planBake(decision.request!);

    // Assess
    expect(plan.image.noReboot).toBe(true);
  });

  it('tags the image with stack, lineage, source instance, schedule, slot, status pending and Name', () => {
    // Prepare
    const req = request({ instanceName: 'web-1' });

    // Act
    const plan = planBake(req);

    // Assess
    expect(plan.image.tags).toEqual({
      [TAG.managedBy]: 'ami-lifecycle-test',
      [TAG.lineage]: 'web',
      [TAG.sourceInstance]: INSTANCE_ID,
      [TAG.schedule]: 'nightly',
      [TAG.slot]: '2026-11-26',
      [TAG.status]: 'pending',
      Name: 'web-1',
    });
    expect(plan.image.description).toContain('(web-1)');
  });

  it('puts no Name tag on the image when the instance has no name', () => {
    // Prepare
    const req = request();

    // Act
    const plan = planBake(req);

    // Assess
    expect(plan.image.tags).not.toHaveProperty('Name');
    expect(Object.keys(plan.image.tags)).toHaveLength(6);
  });

  it("stamps the instance's promote tag on the image (its ImageBaked then reaches the promote function), and none for an instance without one", () => {
    // Prepare
    const target = 'ssm:/ami-lifecycle/web/golden,lt:web-template';
    const promoting = decideBake(instance({ [TAG.bake]: 'nightly', [TAG.promote]: ` ${target} ` }), run()).request!;
    const blank = decideBake(instance({ [TAG.bake]: 'nightly', [TAG.promote]: '  ' }), run()).request!;
    const without = decideBake(instance({ [TAG.bake]: 'nightly' }), run()).request!;

    // Act
    const plans = [promoting, blank, without].map(planBake);

    // Assess
    expect(promoting.promote).toBe(target);
    expect(v.safeParse(BakeRequested, promoting).success).toBe(true);
    expect(plans.map((p) => p.image.tags[TAG.promote])).toEqual([target, undefined, undefined]);
    expect([blank, without].map((r) => 'promote' in r)).toEqual([false, false]);
  });

  it('tags the instance with its lineage only when the request says to assign it', () => {
    // Prepare
    const assign = request({ lineage: INSTANCE_ID, assignLineage: true });
    const keep = request({ assignLineage: false });

    // Act
    const plans = [planBake(assign), planBake(keep)];

    // Assess
    expect(plans[0]!.instanceTags).toEqual({ [TAG.lineage]: INSTANCE_ID });
    expect(plans[1]).not.toHaveProperty('instanceTags');
  });
});

// ---- properties --------------------------------------------------------------------------

const instanceId = fc.stringMatching(/^[0-9a-f]{17}$/).map((h) => `i-${h}`);
const lineage = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$/);
const runArb = fc.record({
  managedBy: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/),
  schedule: fc.constantFrom('nightly', 'weekly'),
  slot: fc.constantFrom('2026-11-26', '2026-W48', '2026-11', '2026-11-26T03'),
});
const now = fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true });

describe('decideBake and planBake (properties)', () => {
  it('the image name depends only on stack, lineage, schedule and slot: a retried request lands on the same name', () => {
    fc.assert(
      fc.property(
        instanceId,
        fc.option(lineage, { nil: undefined }),
        runArb,
        fc.tuple(now, now),
        fc.tuple(fc.constantFrom('running', 'stopped'), fc.constantFrom('running', 'stopped', 'pending')),
        fc.tuple(fc.constantFrom('true', 'false'), fc.constantFrom('true', 'false')),
        fc.tuple(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 })),
        (id, lin, r, [now1, now2], [state1, state2], [reboot1, reboot2], [name1, name2]) => {
          // Prepare: the same instance seen twice, with whatever changed in between that is not the key
          const base = { [TAG.bake]: 'nightly,weekly', ...(lin ? { [TAG.lineage]: lin } : {}) };
          const first = instance({ ...base, [TAG.reboot]: reboot1, Name: name1 }, state1, id);
          const second = instance({ ...base, [TAG.reboot]: reboot2, Name: name2 }, state2, id);
          const ctx = { ...r, knownSchedules: ['nightly', 'weekly'] };

          // Act
          const d1 = decideBake(first, { ...ctx, now: now1 });
          const d2 = decideBake(second, { ...ctx, now: now2 });
          const [p1, p2] = [planBake(d1.request!), planBake(d2.request!)];

          // Assess
          expect(p1.image.name).toBe(p2.image.name);
          expect(p1.image.name).toBe(imageName({ managedBy: r.managedBy, lineage: lin ?? id, schedule: r.schedule, slot: r.slot }));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('every request decideBake makes is a valid BakeRequested, and every PolicyInvalid a valid detail', () => {
    fc.assert(
      fc.property(
        instanceId,
        fc.record(
          {
            [TAG.bake]: fc.constantFrom('nightly', 'weekly', 'nightly,weekly', 'nighlty', 'nightly,nighlty', 'Nightly', ''),
            [TAG.retain]: fc.constantFrom('7', '0', '14d', 'daily=7', 'bogus'),
            [TAG.reboot]: fc.constantFrom('true', 'false', 'yes'),
            [TAG.recover]: fc.constantFrom('off', 'always', 'sometimes'),
            [TAG.lineage]: fc.oneof(lineage, fc.constant('has space')),
            Name: fc.string({ maxLength: 300 }),
          },
          { requiredKeys: [TAG.bake] },
        ),
        fc.constantFrom('pending', 'running', 'stopping', 'stopped', 'shutting-down', 'terminated'),
        runArb,
        now,
        (id, tags, state, r, when) => {
          // Act
          const decision = decideBake(instance(tags as Tags, state, id), { ...r, knownSchedules: ['nightly', 'weekly'], now: when });

          // Assess: exactly one of request / skip
          expect(decision.request === undefined).toBe(decision.skip !== undefined);
          if (decision.request) {
            expect(v.safeParse(BakeRequested, decision.request).success).toBe(true);
            expect(decision.request.requestedAt).toBe(when.toISOString());
          }
          if (decision.policyInvalid) {
            expect(v.safeParse(PolicyInvalid, decision.policyInvalid.detail).success).toBe(true);
            const detail = decision.policyInvalid.detail as PolicyInvalid;
            expect(detail.bakeSkipped).toBe(decision.request === undefined);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('captureOf: the launch configuration a bake captures for recovery', () => {
  const LAUNCHED = new Date('2026-11-20T08:30:00.000Z');
  const launch: LaunchConfig = {
    instanceType: 't3.micro',
    subnetId: 'subnet-0123456789abcdef0',
    securityGroupIds: ['sg-0aaaaaaaaaaaaaaaa'],
    ebsOptimized: false,
    monitoring: true,
    tags: {
      Name: 'web-1',
      team: 'payments',
      [TAG.bake]: 'nightly',
      [TAG.recover]: 'on-failure',
      'aws:cloudformation:stack-name': 'web-stack',
    },
  };
  const withLaunch = (overrides: Partial<InstanceSummary> = {}): InstanceSummary => ({
    ...instance({ ...launch.tags }),
    launch,
    launchTime: LAUNCHED,
    ...overrides,
  });
  /** What the capture should hold: the carried tags, with the lineage the bake gives the instance. */
  const expectedConfig = (lineage: string, from: LaunchConfig = launch): LaunchConfig => ({
    ...from,
    tags: { Name: 'web-1', team: 'payments', [TAG.bake]: 'nightly', [TAG.recover]: 'on-failure', [TAG.lineage]: lineage },
  });

  it('captures nothing when the listing shows no launch configuration', () => {
    // Prepare
    const subject = instance({ [TAG.bake]: 'nightly' });

    // Act
    const capture = captureOf(subject, 'web');

    // Assess
    expect(capture).toBeUndefined();
  });

  it('captures the configuration with the carried tags and the lineage, digested with the launch time', () => {
    // Act
    const capture = captureOf(withLaunch(), 'web');

    // Assess
    expect(capture).toEqual({ digest: configDigest(expectedConfig('web'), LAUNCHED), config: expectedConfig('web') });
    expect(capture?.digest).toMatch(/^[0-9a-f]{16}$/);
    expect(capture?.digest).not.toBe(configDigest(expectedConfig('web')));
  });

  it('captures nothing when the digest on the instance is the current one', () => {
    // Prepare
    const digest = captureOf(withLaunch(), 'web')!.digest;
    const subject = withLaunch({ tags: { ...launch.tags, [TAG.captured]: digest } });

    // Act
    const capture = captureOf(subject, 'web');

    // Assess
    expect(capture).toBeUndefined();
  });

  it('captures again when the instance type, the tags or the launch time changed', () => {
    // Prepare
    const digest = captureOf(withLaunch(), 'web')!.digest;
    const captured = { ...launch.tags, [TAG.captured]: digest };
    const changes: InstanceSummary[] = [
      withLaunch({ tags: captured, launch: { ...launch, instanceType: 't3.small' } }),
      withLaunch({ tags: captured, launch: { ...launch, tags: { ...launch.tags, team: 'search' } } }),
      withLaunch({ tags: captured, launch: { ...launch, tags: { ...launch.tags, owner: 'ops' } } }),
      withLaunch({ tags: captured, launchTime: new Date(LAUNCHED.getTime() + 60_000) }),
      withLaunch({ tags: captured, launchTime: undefined }),
    ];

    // Act
    const captures = changes.map((c) => captureOf(c, 'web'));

    // Assess: each is a fresh capture, all different from the old digest and from each other
    const digests = captures.map((c) => c?.digest);
    expect(digests.every((d) => d !== undefined && d !== digest)).toBe(true);
    expect(new Set(digests).size).toBe(changes.length);
    expect(captures[0]?.config.instanceType).toBe('t3.small');
    expect(captures[1]?.config.tags.team).toBe('search');
  });

  it('is not changed by the captured tag itself, by aws:* tags or by the bookkeeping of recovery: no capture loop', () => {
    // Prepare
    const digest = captureOf(withLaunch(), 'web')!.digest;
    const noise = {
      [TAG.captured]: digest,
      'aws:autoscaling:groupName': 'asg',
      'aws:ec2launchtemplate:id': 'lt-0123456789abcdef0',
      [TAG.generation]: '4',
      [TAG.replaces]: 'i-0aaaabbbbccccdddd',
      [TAG.maintenance]: 'tonight',
    };
    // the listing shows the captured tag among the instance's tags, as it does after the first capture
    const subject = withLaunch({ tags: { ...launch.tags, ...noise }, launch: { ...launch, tags: { ...launch.tags, ...noise } } });

    // Act
    const capture = captureOf(subject, 'web');

    // Assess
    expect(capture).toBeUndefined();
  });

  it('is not changed by the lineage tag its first bake gives the instance', () => {
    // Prepare: first bake, no lineage yet: the bake assigns the instance id
    const first = captureOf(withLaunch(), INSTANCE_ID)!;
    const tagged = { ...launch.tags, [TAG.lineage]: INSTANCE_ID, [TAG.captured]: first.digest };

    // Act: the next run sees the lineage and captured tags
    const next = captureOf(withLaunch({ tags: tagged, launch: { ...launch, tags: tagged } }), INSTANCE_ID);

    // Assess
    expect(next).toBeUndefined();
    expect(first.config.tags[TAG.lineage]).toBe(INSTANCE_ID);
  });

  it('never leaves a capture unsettled: what it digests, a second look finds current (property)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), fc.string({ maxLength: 20 }), { maxKeys: 6 }),
        fc.constantFrom('t3.micro', 't3.small', 'm7g.large'),
        fc.option(fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2030-01-01T00:00:00Z'), noInvalidDate: true }), {
          nil: undefined,
        }),
        lineage,
        (tags, instanceType, launchTime, lin) => {
          // Prepare
          const config = { ...launch, instanceType, tags };
          const first = captureOf(withLaunch({ tags, launch: config, launchTime }), lin);

          // Act: the service tags the instance with the lineage and the digest
          const after = { ...tags, [TAG.lineage]: lin, [TAG.captured]: first!.digest };
          const second = captureOf(withLaunch({ tags: after, launch: { ...config, tags: after }, launchTime }), lin);

          // Assess
          expect(second).toBeUndefined();
          expect(Object.keys(first!.config.tags).some((k) => k.startsWith('aws:') || k === TAG.captured)).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('decideBake: capture and replaced instances', () => {
  const launch: LaunchConfig = {
    instanceType: 't3.micro',
    securityGroupIds: ['sg-0aaaaaaaaaaaaaaaa'],
    ebsOptimized: false,
    monitoring: false,
    tags: { [TAG.bake]: 'nightly', [TAG.lineage]: 'web', Name: 'web-1' },
  };
  const LAUNCHED = new Date('2026-11-20T08:30:00.000Z');

  it('puts the capture on the bake request when the configuration changed', () => {
    // Prepare
    const subject: InstanceSummary = { ...instance(launch.tags), launch, launchTime: LAUNCHED };

    // Act
    const decision = decideBake(subject, run());

    // Assess
    expect(decision.request?.capture).toEqual({ digest: configDigest(launch, LAUNCHED), config: launch });
    expect(v.safeParse(BakeRequested, decision.request).success).toBe(true);
  });

  it('puts no capture on the request when the captured one is current', () => {
    // Prepare
    const tags = { ...launch.tags, [TAG.captured]: configDigest(launch, LAUNCHED) };
    const subject: InstanceSummary = { ...instance(tags), launch: { ...launch, tags }, launchTime: LAUNCHED };

    // Act
    const decision = decideBake(subject, run());

    // Assess
    expect(decision.request).toBeDefined();
    expect(decision.request).not.toHaveProperty('capture');
  });

  it('captures with the instance id as lineage on a first bake', () => {
    // Prepare
    const tags = { [TAG.bake]: 'nightly' };
    const subject: InstanceSummary = { ...instance(tags), launch: { ...launch, tags }, launchTime: LAUNCHED };

    // Act
    const decision = decideBake(subject, run());

    // Assess
    expect(decision.request).toMatchObject({ lineage: INSTANCE_ID, assignLineage: true });
    expect(decision.request?.capture?.config.tags).toEqual({ [TAG.bake]: 'nightly', [TAG.lineage]: INSTANCE_ID });
  });

  it.each(['running', 'stopped'])('skips a %s instance that was replaced, whatever its tags say', (state) => {
    // Prepare: even a policy problem is not reported: the instance no longer belongs to the lineage
    const subject: InstanceSummary = {
      ...instance({ [TAG.bake]: 'nightly', [TAG.reboot]: 'yes', [TAG.replacedBy]: 'i-0fedcba9876543210' }, state),
      launch,
    };

    // Act
    const decision = decideBake(subject, run());

    // Assess
    expect(decision).toEqual({ skip: 'replaced' });
  });

  it('skips a replaced instance that is gone as gone', () => {
    expect(decideBake(instance({ [TAG.bake]: 'nightly', [TAG.replacedBy]: 'i-0fedcba9876543210' }, 'terminated'), run())).toEqual({
      skip: 'gone',
    });
  });
});
