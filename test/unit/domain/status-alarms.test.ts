import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { InstanceSummary } from '../../../shared/domain/bake.js';
import {
  planStatusAlarms,
  STATUS_ALARM,
  STATUS_CHECKS,
  type StatusCheck,
  statusAlarmName,
  statusAlarmPrefix,
  type WantedAlarm,
} from '../../../shared/domain/status-alarms.js';
import { TAG, type Tags } from '../../../shared/domain/tags.js';

const STACK = 'ami-lifecycle-test';
const PREFIX = `${STACK}-status-`;
const CHECKS = Object.keys(STATUS_CHECKS) as StatusCheck[];

const instance = (instanceId: string, tags: Tags, state = 'running'): InstanceSummary => ({ instanceId, state, tags });
const recover = (value: string): Tags => ({ [TAG.recover]: value });
/** The alarm of one check of an instance of this stack. */
const system = (id: string) => statusAlarmName(STACK, id, 'system');
const inst = (id: string) => statusAlarmName(STACK, id, 'instance');
/** The single `StatusCheckFailed` alarm earlier versions kept per instance: `<managed-by>-status-<id>`. */
const combined = (id: string, stack = STACK) => `${statusAlarmPrefix(stack)}${id}`;
const wanted = (instanceId: string, check: StatusCheck): WantedAlarm => ({
  name: statusAlarmName(STACK, instanceId, check),
  instanceId,
  check,
});
/** What planStatusAlarms wants created for an instance that has neither of its two alarms, in the plan's order (by name). */
const both = (id: string): WantedAlarm[] => [wanted(id, 'instance'), wanted(id, 'system')];

describe('status alarm names', () => {
  it('names one alarm per check, each with the stack’s prefix, so one stack never touches another stack’s alarms', () => {
    // Prepare
    const instanceId = 'i-0123456789abcdef0';

    // Act
    const prefix = statusAlarmPrefix(STACK);
    const names = CHECKS.map((check) => statusAlarmName(STACK, instanceId, check));

    // Assess
    expect(prefix).toBe(PREFIX);
    expect(names).toEqual([`${PREFIX}system-${instanceId}`, `${PREFIX}instance-${instanceId}`]);
    for (const name of names) expect(name.startsWith(prefix)).toBe(true);
  });

  it('never gives two checks, two instances or the combined alarm of earlier versions the same name', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 2 ** 40 }), { maxLength: 20 }), (numbers) => {
        // Prepare
        const ids = numbers.map((n) => `i-${n.toString(16).padStart(17, '0')}`);

        // Act
        const names = ids.flatMap((id) => [...CHECKS.map((check) => statusAlarmName(STACK, id, check)), combined(id)]);

        // Assess
        expect(new Set(names).size).toBe(3 * ids.length);
      }),
    );
  });

  it.each(CHECKS)('fits the 255 characters CloudWatch allows in an alarm name, for a long stack name and the %s check', (check) => {
    // Prepare: CloudFormation stack names are at most 128 characters
    const stack = 's'.repeat(128);

    // Act
    const name = statusAlarmName(stack, 'i-0123456789abcdef0', check);

    // Assess
    expect(name.length).toBeLessThanOrEqual(255);
  });

  it('watches the two checks AWS splits its own alarm actions by: the system check and the instance check', () => {
    // Assess
    expect(STATUS_CHECKS).toEqual({ system: 'StatusCheckFailed_System', instance: 'StatusCheckFailed_Instance' });
  });

  it('describes each alarm as AWS does for its own recovery: two failed minutes, missing data is no failure, no metric of its own', () => {
    // Assess: the metric is the check's (STATUS_CHECKS), never the combined StatusCheckFailed
    expect(STATUS_ALARM).toEqual({
      namespace: 'AWS/EC2',
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
  it.each(['a-status-x', 'a-status-system', 'a-status-instance', 'a-status-i', 'a-status'])(
    "never removes the alarms of stack %s, whose name starts with stack a's prefix",
    (other) => {
      // Prepare: stacks `a` and `other` in one account, each with the alarms of both checks and the combined one
      const id = 'i-0123456789abcdef0';
      const theirs = [...CHECKS.map((check) => statusAlarmName(other, id, check)), combined(id, other)];
      const ours = [...CHECKS.map((check) => statusAlarmName('a', 'i-0fedcba9876543210', check)), combined('i-0fedcba9876543210', 'a')];

      // Act
      const plan = planStatusAlarms('a', [], [...theirs, ...ours]);

      // Assess
      for (const name of theirs) expect(name.startsWith(statusAlarmPrefix('a'))).toBe(true);
      expect(plan.remove).toEqual([...ours].sort());
    },
  );

  it('creates the missing alarms of each opted-in instance, keeps those it has, removes the stale ones', () => {
    // Prepare: i-2 has its system alarm only
    const instances = [
      instance('i-1', recover('on-failure')),
      instance('i-2', recover('always'), 'stopped'),
      instance('i-3', recover('always')),
      instance('i-4', recover('off')),
    ];
    const existing = [system('i-2'), system('i-3'), inst('i-3'), system('i-4'), inst('i-4'), system('i-gone')];

    // Act
    const plan = planStatusAlarms(STACK, instances, existing);

    // Assess
    expect(plan).toEqual({
      create: [wanted('i-1', 'instance'), wanted('i-2', 'instance'), wanted('i-1', 'system')],
      remove: [inst('i-4'), system('i-4'), system('i-gone')].sort(),
      keep: 3,
    });
  });

  it.each([
    ['on-failure', 'on-failure'],
    ['always', 'always'],
    ['upper case', 'ALWAYS'],
    ['spaces around it', ' on-failure '],
  ])('opts in an instance tagged recover=%s, with an alarm on each check', (_label, value) => {
    // Prepare
    const instances = [instance('i-1', recover(value))];

    // Act
    const plan = planStatusAlarms(STACK, instances, []);

    // Assess
    expect(plan.create).toEqual(both('i-1'));
  });

  it.each([
    ['off', recover('off')],
    ['an invalid value', recover('sometimes')],
    ['an empty value', recover('')],
    ['no recover tag', { Name: 'web-1', [TAG.bake]: 'nightly' }],
  ])('wants no alarm for an instance with %s, and removes those it has, the combined one included', (_label, tags) => {
    // Prepare
    const instances = [instance('i-1', tags)];

    // Act
    const plan = planStatusAlarms(STACK, instances, [system('i-1'), inst('i-1'), combined('i-1')]);

    // Assess
    expect(plan).toEqual({ create: [], remove: [system('i-1'), inst('i-1'), combined('i-1')].sort(), keep: 0 });
  });

  it.each(['shutting-down', 'terminated'])('wants no alarm for a %s instance, even opted in, and removes those it has', (state) => {
    // Prepare
    const instances = [instance('i-1', recover('always'), state), instance('i-2', recover('on-failure'), state)];

    // Act
    const plan = planStatusAlarms(STACK, instances, [system('i-1'), inst('i-1'), combined('i-2')]);

    // Assess
    expect(plan).toEqual({ create: [], remove: [system('i-1'), inst('i-1'), combined('i-2')].sort(), keep: 0 });
  });

  it.each(['pending', 'running', 'stopping', 'stopped'])('wants both alarms for an opted-in %s instance', (state) => {
    // Prepare
    const instances = [instance('i-1', recover('always'), state)];

    // Act
    const plan = planStatusAlarms(STACK, instances, []);

    // Assess
    expect(plan.create).toEqual(both('i-1'));
  });

  it('never removes an alarm that is not one of this stack’s: the operator’s own, or another stack’s', () => {
    // Prepare: names with the prefix that are no instance's alarm are the operator's too
    const existing = [
      'cpu-i-1',
      'other-stack-status-i-1',
      'other-stack-status-system-i-1',
      'ami-lifecycle-prod-status-instance-i-2',
      `${STACK}-i-1`,
      'status-i-1',
      `${PREFIX}i-1-cpu`,
      `${PREFIX}disk-i-1`,
      `${PREFIX}system-i-1-old`,
      `${PREFIX}SYSTEM-i-1`,
      `${PREFIX}network-i-1`,
      `${PREFIX}system-`,
    ];

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
    const existing = [system('i-z'), combined('i-x'), inst('i-y'), system('i-x')];

    // Act
    const forward = planStatusAlarms(STACK, instances, existing);
    const backward = planStatusAlarms(STACK, [...instances].reverse(), [...existing].reverse());

    // Assess
    expect(forward).toEqual({
      create: [
        wanted('i-a', 'instance'),
        wanted('i-b', 'instance'),
        wanted('i-c', 'instance'),
        wanted('i-a', 'system'),
        wanted('i-b', 'system'),
        wanted('i-c', 'system'),
      ],
      remove: [combined('i-x'), inst('i-y'), system('i-x'), system('i-z')],
      keep: 0,
    });
    expect(backward).toEqual(forward);
  });
});

describe('planStatusAlarms: migration from the combined alarm of earlier versions', () => {
  it('replaces the combined alarm of an opted-in instance by the two of the split', () => {
    // Prepare
    const instances = [instance('i-1', recover('on-failure'))];

    // Act
    const plan = planStatusAlarms(STACK, instances, [combined('i-1')]);

    // Assess
    expect(plan).toEqual({ create: both('i-1'), remove: [combined('i-1')], keep: 0 });
  });

  it('removes the combined alarm left behind when the two were created and the run stopped before deleting it', () => {
    // Prepare
    const instances = [instance('i-1', recover('always'))];

    // Act
    const plan = planStatusAlarms(STACK, instances, [combined('i-1'), system('i-1'), inst('i-1')]);

    // Assess
    expect(plan).toEqual({ create: [], remove: [combined('i-1')], keep: 2 });
  });

  it('leaves the combined alarms of another stack whose name starts with this prefix', () => {
    // Prepare
    const instances = [instance('i-1', recover('always'))];
    const theirs = ['system', 'instance', 'i'].map((suffix) => combined('i-1', `${STACK}-status-${suffix}`));

    // Act
    const plan = planStatusAlarms(STACK, instances, theirs);

    // Assess
    expect(plan).toEqual({ create: both('i-1'), remove: [], keep: 0 });
  });
});

describe('planStatusAlarms: properties', () => {
  const OPTED_IN = ['on-failure', 'always', 'ALWAYS', ' On-Failure '];
  const OPTED_OUT = ['off', 'OFF', 'sometimes', '', 'true'];
  const LIVE = ['pending', 'running', 'stopping', 'stopped'];
  const GONE = ['shutting-down', 'terminated'];
  /** Stacks whose names start with this stack's prefix, or which are a prefix of it: their alarms are theirs. */
  const OTHER_STACKS = [
    'other-stack',
    'ami-lifecycle',
    `${STACK}-status`,
    `${STACK}-status-system`,
    `${STACK}-status-instance`,
    `${STACK}-status-i`,
  ];

  const instanceIdArb = fc.integer({ min: 1, max: 400 }).map((n) => `i-${n.toString(16).padStart(17, '0')}`);
  const checkArb = fc.constantFrom(...CHECKS);
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
  /** Any stack named as CloudFormation allows, under this stack's prefix. */
  const nestedStackArb = fc.stringMatching(/^[a-zA-Z0-9][-a-zA-Z0-9]{0,15}$/).map((suffix) => `${PREFIX}${suffix}`);

  type Kind = 'split' | 'combined' | 'foreign' | 'random';
  /**
   * Alarm names, each with where it comes from: this stack's two checks and its combined alarm of earlier
   * versions (for known or unknown instances), other stacks' alarms of all three forms, the operator's
   * names (some under this stack's prefix), and anything else.
   */
  const existingArb = (instances: InstanceSummary[]) => {
    const idArb = instances.length > 0 ? fc.oneof(fc.constantFrom(...instances.map((i) => i.instanceId)), instanceIdArb) : instanceIdArb;
    return fc.array(
      fc.oneof(
        fc.tuple(idArb, checkArb).map(([id, check]) => ({ name: statusAlarmName(STACK, id, check), kind: 'split' as Kind })),
        idArb.map((id) => ({ name: combined(id), kind: 'combined' as Kind })),
        fc
          .tuple(fc.oneof(fc.constantFrom(...OTHER_STACKS), nestedStackArb), instanceIdArb, fc.option(checkArb, { nil: undefined }))
          .map(([stack, id, check]) => ({
            name: check === undefined ? combined(id, stack) : statusAlarmName(stack, id, check),
            kind: 'foreign' as Kind,
          })),
        fc
          .tuple(
            idArb,
            fc.constantFrom('cpu-%', `${PREFIX}%-cpu`, `${PREFIX}disk-%`, `${PREFIX}system-%-old`, `${PREFIX}SYSTEM-%`, `${STACK}-%`),
          )
          .map(([id, pattern]) => ({ name: pattern.replace('%', id), kind: 'foreign' as Kind })),
        fc.string({ maxLength: 40 }).map((name) => ({ name, kind: 'random' as Kind })),
      ),
      { maxLength: 40 },
    );
  };
  const worldArb = instancesArb.chain((instances) =>
    existingArb(instances).map((alarms) => ({ instances, alarms, existing: alarms.map((a) => a.name) })),
  );

  const optedInLive = (instances: readonly InstanceSummary[]) =>
    instances.filter((i) => LIVE.includes(i.state) && OPTED_IN.includes(i.tags[TAG.recover] ?? 'none'));
  /** The names that exist once the plan is carried out (duplicates of the listing kept). */
  const carriedOut = (existing: readonly string[], plan: ReturnType<typeof planStatusAlarms>) => {
    const removed = new Set(plan.remove);
    return existing.filter((n) => !removed.has(n)).concat(plan.create.map((a) => a.name));
  };

  it('never creates an alarm that exists already, and names each one it creates after its instance and check', () => {
    fc.assert(
      fc.property(worldArb, ({ instances, existing }) => {
        // Act
        const plan = planStatusAlarms(STACK, instances, existing);

        // Assess
        const created = plan.create.map((a) => a.name);
        expect(created.filter((name) => existing.includes(name))).toEqual([]);
        expect(new Set(created).size).toBe(created.length);
        for (const a of plan.create) expect(a.name).toBe(statusAlarmName(STACK, a.instanceId, a.check));
      }),
    );
  });

  it('removes only existing alarms of this stack: of one check, or the combined one of earlier versions', () => {
    fc.assert(
      fc.property(worldArb, ({ instances, alarms, existing }) => {
        // Act
        const plan = planStatusAlarms(STACK, instances, existing);

        // Assess
        const ours = new Set(alarms.filter((a) => a.kind === 'split' || a.kind === 'combined').map((a) => a.name));
        for (const name of plan.remove) {
          expect(name.startsWith(PREFIX)).toBe(true);
          expect(ours).toContain(name);
        }
        expect(new Set(plan.remove).size).toBe(plan.remove.length);
      }),
    );
  });

  it('leaves every opted-in live instance with exactly one alarm per check, and every other instance with none', () => {
    fc.assert(
      fc.property(worldArb, ({ instances, existing }) => {
        // Act
        const plan = planStatusAlarms(STACK, instances, existing);

        // Assess: what exists once the plan is carried out, counted with multiplicity
        const after = [...new Set(existing)].filter((n) => !plan.remove.includes(n)).concat(plan.create.map((a) => a.name));
        const optedIn = new Set(optedInLive(instances).map((i) => i.instanceId));
        for (const i of instances) {
          for (const check of CHECKS) {
            const count = after.filter((n) => n === statusAlarmName(STACK, i.instanceId, check)).length;
            expect(count).toBe(optedIn.has(i.instanceId) ? 1 : 0);
          }
          expect(after).not.toContain(combined(i.instanceId));
        }
        expect(plan.keep + plan.create.length).toBe(CHECKS.length * optedIn.size);
      }),
    );
  });

  it('removes every combined alarm of this stack, and creates both alarms in its place for an opted-in live instance', () => {
    fc.assert(
      fc.property(worldArb, ({ instances, alarms, existing }) => {
        // Act
        const plan = planStatusAlarms(STACK, instances, existing);

        // Assess
        const after = carriedOut(existing, plan);
        const optedIn = new Set(optedInLive(instances).map((i) => i.instanceId));
        for (const { name } of alarms.filter((a) => a.kind === 'combined')) {
          expect(plan.remove).toContain(name);
          const id = name.slice(PREFIX.length);
          for (const check of CHECKS) expect(after.includes(statusAlarmName(STACK, id, check))).toBe(optedIn.has(id));
        }
      }),
    );
  });

  it('is idempotent: carrying out the plan and planning again creates and removes nothing', () => {
    fc.assert(
      fc.property(worldArb, ({ instances, existing }) => {
        // Prepare
        const first = planStatusAlarms(STACK, instances, existing);

        // Act
        const second = planStatusAlarms(STACK, instances, carriedOut(existing, first));

        // Assess
        expect(second.create).toEqual([]);
        expect(second.remove).toEqual([]);
        expect(second.keep).toBe(CHECKS.length * optedInLive(instances).length);
      }),
    );
  });

  it('leaves the names of other stacks and of the operator untouched, under this stack’s prefix or not', () => {
    fc.assert(
      fc.property(worldArb, ({ instances, alarms, existing }) => {
        // Act
        const plan = planStatusAlarms(STACK, instances, existing);

        // Assess
        const foreign = alarms.filter((a) => a.kind === 'foreign' || !a.name.startsWith(PREFIX)).map((a) => a.name);
        expect(plan.remove.filter((n) => foreign.includes(n))).toEqual([]);
      }),
    );
  });

  it('answers the same plan whatever the order of its inputs', () => {
    fc.assert(
      fc.property(
        worldArb.chain((w) =>
          fc
            .tuple(
              fc.shuffledSubarray(w.instances, { minLength: w.instances.length }),
              fc.shuffledSubarray(w.existing, { minLength: w.existing.length }),
            )
            .map(([instances, existing]) => ({ w, instances, existing })),
        ),
        ({ w, instances, existing }) => {
          // Act
          const plan = planStatusAlarms(STACK, instances, existing);

          // Assess
          expect(plan).toEqual(planStatusAlarms(STACK, w.instances, w.existing));
        },
      ),
    );
  });
});
