import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { InstanceSummary } from '../../../shared/domain/bake.js';
import { planStatusAlarms, STATUS_ALARM, statusAlarmName, statusAlarmPrefix } from '../../../shared/domain/status-alarms.js';
import { TAG, type Tags } from '../../../shared/domain/tags.js';

const STACK = 'ami-lifecycle-test';
const PREFIX = `${STACK}-status-`;

const instance = (instanceId: string, tags: Tags, state = 'running'): InstanceSummary => ({ instanceId, state, tags });
const recover = (value: string): Tags => ({ [TAG.recover]: value });

describe('status alarm names', () => {
  it('prefixes every alarm with the stack name, so one stack never touches another stack’s alarms', () => {
    // Prepare
    const instanceId = 'i-0123456789abcdef0';

    // Act
    const prefix = statusAlarmPrefix(STACK);
    const name = statusAlarmName(STACK, instanceId);

    // Assess
    expect(prefix).toBe(PREFIX);
    expect(name).toBe(`${PREFIX}${instanceId}`);
    expect(name.startsWith(prefix)).toBe(true);
  });

  it('fits the 255 characters CloudWatch allows in an alarm name, for a long stack name and a long instance id', () => {
    // Prepare: CloudFormation stack names are at most 128 characters
    const stack = 's'.repeat(128);

    // Act
    const name = statusAlarmName(stack, 'i-0123456789abcdef0');

    // Assess
    expect(name.length).toBeLessThanOrEqual(255);
  });

  it('describes the alarm AWS uses for its own recovery: StatusCheckFailed, two failed minutes, missing data is no failure', () => {
    // Assess
    expect(STATUS_ALARM).toEqual({
      namespace: 'AWS/EC2',
      metricName: 'StatusCheckFailed',
      statistic: 'Maximum',
      periodSeconds: 60,
      evaluationPeriods: 2,
      threshold: 1,
      comparisonOperator: 'GreaterThanOrEqualToThreshold',
      treatMissingData: 'missing',
    });
  });
});

describe('planStatusAlarms', () => {
  it("never removes the alarms of a stack whose name starts with this stack's prefix", () => {
    // Prepare: stacks `a` and `a-status-x` in one account
    const theirs = statusAlarmName('a-status-x', 'i-0123456789abcdef0');

    // Act
    const plan = planStatusAlarms('a', [], [theirs, statusAlarmName('a', 'i-0fedcba9876543210')]);

    // Assess
    expect(theirs.startsWith(statusAlarmPrefix('a'))).toBe(true);
    expect(plan.remove).toEqual([statusAlarmName('a', 'i-0fedcba9876543210')]);
  });

  it('creates an alarm for each opted-in instance that has none, keeps those that have one, removes the stale ones', () => {
    // Prepare
    const instances = [
      instance('i-1', recover('on-failure')),
      instance('i-2', recover('always'), 'stopped'),
      instance('i-3', recover('always')),
      instance('i-4', recover('off')),
    ];
    const existing = [`${PREFIX}i-3`, `${PREFIX}i-4`, `${PREFIX}i-gone`];

    // Act
    const plan = planStatusAlarms(STACK, instances, existing);

    // Assess
    expect(plan).toEqual({ create: ['i-1', 'i-2'], remove: [`${PREFIX}i-4`, `${PREFIX}i-gone`], keep: 1 });
  });

  it.each([
    ['on-failure', 'on-failure'],
    ['always', 'always'],
    ['upper case', 'ALWAYS'],
    ['spaces around it', ' on-failure '],
  ])('opts in an instance tagged recover=%s', (_label, value) => {
    // Prepare
    const instances = [instance('i-1', recover(value))];

    // Act
    const plan = planStatusAlarms(STACK, instances, []);

    // Assess
    expect(plan.create).toEqual(['i-1']);
  });

  it.each([
    ['off', recover('off')],
    ['an invalid value', recover('sometimes')],
    ['an empty value', recover('')],
    ['no recover tag', { Name: 'web-1', [TAG.bake]: 'nightly' }],
  ])('wants no alarm for an instance with %s, and removes the one it has', (_label, tags) => {
    // Prepare
    const instances = [instance('i-1', tags)];

    // Act
    const plan = planStatusAlarms(STACK, instances, [`${PREFIX}i-1`]);

    // Assess
    expect(plan).toEqual({ create: [], remove: [`${PREFIX}i-1`], keep: 0 });
  });

  it.each(['shutting-down', 'terminated'])('wants no alarm for a %s instance, even opted in, and removes the one it has', (state) => {
    // Prepare
    const instances = [instance('i-1', recover('always'), state), instance('i-2', recover('on-failure'), state)];

    // Act
    const plan = planStatusAlarms(STACK, instances, [`${PREFIX}i-1`]);

    // Assess
    expect(plan).toEqual({ create: [], remove: [`${PREFIX}i-1`], keep: 0 });
  });

  it.each(['pending', 'running', 'stopping', 'stopped'])('wants an alarm for an opted-in %s instance', (state) => {
    // Prepare
    const instances = [instance('i-1', recover('always'), state)];

    // Act
    const plan = planStatusAlarms(STACK, instances, []);

    // Assess
    expect(plan.create).toEqual(['i-1']);
  });

  it('never removes an alarm without this stack’s prefix: the operator’s own, or another stack’s', () => {
    // Prepare
    const existing = ['cpu-i-1', `other-stack-status-i-1`, `ami-lifecycle-prod-status-i-2`, `${STACK}-i-1`, 'status-i-1'];

    // Act
    const plan = planStatusAlarms(STACK, [], existing);

    // Assess
    expect(plan).toEqual({ create: [], remove: [], keep: 0 });
  });

  it('plans nothing for an empty account', () => {
    // Act
    const plan = planStatusAlarms(STACK, [], []);

    // Assess
    expect(plan).toEqual({ create: [], remove: [], keep: 0 });
  });

  it('answers in a stable order whatever the order of its inputs', () => {
    // Prepare
    const instances = ['i-c', 'i-a', 'i-b'].map((id) => instance(id, recover('always')));
    const existing = [`${PREFIX}i-z`, `${PREFIX}i-x`, `${PREFIX}i-y`];

    // Act
    const forward = planStatusAlarms(STACK, instances, existing);
    const backward = planStatusAlarms(STACK, [...instances].reverse(), [...existing].reverse());

    // Assess
    expect(forward).toEqual({ create: ['i-a', 'i-b', 'i-c'], remove: [`${PREFIX}i-x`, `${PREFIX}i-y`, `${PREFIX}i-z`], keep: 0 });
    expect(backward).toEqual(forward);
  });
});

describe('planStatusAlarms: properties', () => {
  const OPTED_IN = ['on-failure', 'always', 'ALWAYS', ' On-Failure '];
  const OPTED_OUT = ['off', 'OFF', 'sometimes', '', 'true'];
  const LIVE = ['pending', 'running', 'stopping', 'stopped'];
  const GONE = ['shutting-down', 'terminated'];

  const instanceIdArb = fc.integer({ min: 1, max: 400 }).map((n) => `i-${n.toString(16).padStart(17, '0')}`);
  const recoverArb = fc.option(fc.constantFrom(...OPTED_IN, ...OPTED_OUT), { nil: undefined });
  const stateArb = fc.constantFrom(...LIVE, ...GONE);
  const instancesArb = fc.uniqueArray(
    fc.record({ instanceId: instanceIdArb, recover: recoverArb, state: stateArb }).map(
      (i): InstanceSummary => ({
        instanceId: i.instanceId,
        state: i.state,
        tags: i.recover === undefined ? { Name: 'plain' } : { [TAG.recover]: i.recover },
      }),
    ),
    { selector: (i) => i.instanceId, maxLength: 30 },
  );
  /** Alarm names of this stack (for known or unknown instances), of other stacks, of the operator, and anything else. */
  const existingArb = (instances: InstanceSummary[]) =>
    fc.array(
      fc.oneof(
        instances.length > 0
          ? fc.constantFrom(...instances.map((i) => statusAlarmName(STACK, i.instanceId)))
          : fc.constant(`${PREFIX}i-none`),
        instanceIdArb.map((id) => statusAlarmName(STACK, id)),
        instanceIdArb.map((id) => statusAlarmName('other-stack', id)),
        instanceIdArb.map((id) => `cpu-${id}`),
        fc.string({ maxLength: 40 }),
      ),
      { maxLength: 40 },
    );
  const worldArb = instancesArb.chain((instances) => existingArb(instances).map((existing) => ({ instances, existing })));

  const optedInLive = (instances: readonly InstanceSummary[]) =>
    instances.filter((i) => LIVE.includes(i.state) && OPTED_IN.includes(i.tags[TAG.recover] ?? 'none'));

  it('never creates an alarm that exists already', () => {
    fc.assert(
      fc.property(worldArb, ({ instances, existing }) => {
        // Act
        const plan = planStatusAlarms(STACK, instances, existing);

        // Assess
        const created = plan.create.map((id) => statusAlarmName(STACK, id));
        expect(created.filter((name) => existing.includes(name))).toEqual([]);
        expect(new Set(plan.create).size).toBe(plan.create.length);
      }),
    );
  });

  it('removes only existing names with this stack’s prefix', () => {
    fc.assert(
      fc.property(worldArb, ({ instances, existing }) => {
        // Act
        const plan = planStatusAlarms(STACK, instances, existing);

        // Assess
        for (const name of plan.remove) {
          expect(name.startsWith(PREFIX)).toBe(true);
          expect(existing).toContain(name);
        }
        expect(new Set(plan.remove).size).toBe(plan.remove.length);
      }),
    );
  });

  it('leaves every opted-in live instance with exactly one alarm, and every other instance with none', () => {
    fc.assert(
      fc.property(worldArb, ({ instances, existing }) => {
        // Act
        const plan = planStatusAlarms(STACK, instances, existing);

        // Assess: what exists once the plan is carried out, counted with multiplicity
        const removed = new Set(plan.remove);
        const after = [...new Set(existing)].filter((n) => !removed.has(n)).concat(plan.create.map((id) => statusAlarmName(STACK, id)));
        const wanted = new Set(optedInLive(instances).map((i) => i.instanceId));
        for (const i of instances) {
          const count = after.filter((n) => n === statusAlarmName(STACK, i.instanceId)).length;
          expect(count).toBe(wanted.has(i.instanceId) ? 1 : 0);
        }
        expect(plan.keep + plan.create.length).toBe(wanted.size);
      }),
    );
  });

  it('is idempotent: carrying out the plan and planning again creates and removes nothing', () => {
    fc.assert(
      fc.property(worldArb, ({ instances, existing }) => {
        // Prepare
        const first = planStatusAlarms(STACK, instances, existing);
        const removed = new Set(first.remove);
        const after = existing.filter((n) => !removed.has(n)).concat(first.create.map((id) => statusAlarmName(STACK, id)));

        // Act
        const second = planStatusAlarms(STACK, instances, after);

        // Assess
        expect(second.create).toEqual([]);
        expect(second.remove).toEqual([]);
        expect(second.keep).toBe(optedInLive(instances).length);
      }),
    );
  });

  it('leaves the names of other stacks and of the operator untouched', () => {
    fc.assert(
      fc.property(worldArb, ({ instances, existing }) => {
        // Act
        const plan = planStatusAlarms(STACK, instances, existing);

        // Assess
        const foreign = existing.filter((n) => !n.startsWith(PREFIX));
        expect(plan.remove.filter((n) => foreign.includes(n))).toEqual([]);
      }),
    );
  });
});
