import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Lineage,
  parseInstancePolicy,
  RECOVER_MODES,
  RetentionSpec,
  RETENTION_TIERS,
  ScheduleName,
  TAG,
  tagRecord,
  type InstancePolicy,
  type Tags,
} from '../../../shared/domain/tags.js';

const KNOWN = ['nightly', 'weekly', 'monthly'] as const;
const USER_TAGS = [TAG.bake, TAG.retain, TAG.reboot, TAG.recover, TAG.lineage] as const;
const BLOCKING_TAGS: readonly string[] = [TAG.bake, TAG.reboot, TAG.lineage];

const parse = (tags: Tags, known: readonly string[] = KNOWN) => parseInstancePolicy(tags, known);

/** The one problem a policy reports for `tag`; fails the test when there is not exactly one. */
function onlyProblemFor(policy: InstancePolicy, tag: string) {
  const problems = policy.problems.filter((p) => p.tag === tag);
  expect(problems).toHaveLength(1);
  return problems[0]!;
}

describe('parseInstancePolicy: defaults', () => {
  it('reads an instance with only the bake tag as nightly, no reboot, no retain, recover off, no lineage', () => {
    // Prepare
    const tags = { [TAG.bake]: 'nightly' };

    // Act
    const policy = parse(tags);

    // Assess
    expect(policy).toEqual({
      schedules: ['nightly'],
      reboot: false,
      retain: undefined,
      recover: 'off',
      lineage: undefined,
      volumes: 'all',
      copyTags: undefined,
      problems: [],
      bakeable: true,
    });
  });

  it('reads an instance without any of our tags as bakeable with no schedule and no problem', () => {
    // Prepare
    const tags = { Name: 'web-1', team: 'blue' };

    // Act
    const policy = parse(tags);

    // Assess
    expect(policy.schedules).toEqual([]);
    expect(policy.problems).toEqual([]);
    expect(policy.bakeable).toBe(true);
  });
});

describe('parseInstancePolicy: bake tag', () => {
  it.each([
    ['nightly', ['nightly']],
    ['nightly,weekly', ['nightly', 'weekly']],
    [' nightly , weekly ', ['nightly', 'weekly']],
    ['weekly,nightly,monthly', ['weekly', 'nightly', 'monthly']],
    ['nightly,nightly', ['nightly']],
  ])('reads %j as schedules %j', (value, expected) => {
    // Prepare
    const tags = { [TAG.bake]: value };

    // Act
    const policy = parse(tags);

    // Assess
    expect(policy.schedules).toEqual(expected);
    expect(policy.problems).toEqual([]);
    expect(policy.bakeable).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['only spaces', '   '],
    ['only commas', ',,'],
    ['commas and spaces', ' , , '],
  ])('refuses a bake tag that is %s (%j): no schedule, not bakeable', (_label, value) => {
    // Prepare
    const tags = { [TAG.bake]: value };

    // Act
    const policy = parse(tags);

    // Assess
    const problem = onlyProblemFor(policy, TAG.bake);
    expect(problem.value).toBe(value);
    expect(problem.reason).toMatch(/comma list of schedule names/);
    expect(policy.schedules).toEqual([]);
    expect(policy.bakeable).toBe(false);
  });

  it.each([
    ['upper case', 'Nightly', 'Nightly'],
    ['inner space', 'night ly', 'night ly'],
    ['semicolon list', 'nightly;weekly', 'nightly;weekly'],
    ['too long (25 chars)', 'a'.repeat(25), 'a'.repeat(25)],
    ['starts with a digit', '1nightly', '1nightly'],
    ['underscore', 'night_ly', 'night_ly'],
    ['empty member between commas', 'nightly,,weekly', ''],
    ['trailing comma', 'nightly,', ''],
  ])('refuses a malformed schedule name (%s): %j', (_label, value, culprit) => {
    // Prepare
    const tags = { [TAG.bake]: value };

    // Act
    const policy = parse(tags);

    // Assess
    const problem = onlyProblemFor(policy, TAG.bake);
    expect(problem).toMatchObject({ tag: TAG.bake, value });
    expect(problem.reason).toContain(`not a schedule name: '${culprit}'`);
    expect(policy.schedules).toEqual([]);
    expect(policy.bakeable).toBe(false);
  });

  it('accepts a 24-character schedule name, the longest allowed', () => {
    // Prepare
    const name = `a${'b'.repeat(23)}`;
    const tags = { [TAG.bake]: name };

    // Act
    const policy = parse(tags, [name]);

    // Assess
    expect(policy.schedules).toEqual([name]);
    expect(policy.problems).toEqual([]);
  });

  it('reports an unknown schedule but still bakes on the known ones', () => {
    // Prepare
    const tags = { [TAG.bake]: 'nightly,nighlty,weekly' };

    // Act
    const policy = parse(tags);

    // Assess
    const problem = onlyProblemFor(policy, TAG.bake);
    expect(problem.value).toBe('nightly,nighlty,weekly');
    expect(problem.reason).toContain("unknown schedule 'nighlty'");
    expect(problem.reason).toContain('known: nightly, weekly, monthly');
    expect(policy.schedules).toEqual(['nightly', 'weekly']);
    expect(policy.bakeable).toBe(true);
  });

  it('reports an instance whose only schedule is unknown: no schedule, yet bakeable stays true', () => {
    // Prepare
    const tags = { [TAG.bake]: 'nighlty' };

    // Act
    const policy = parse(tags);

    // Assess
    expect(onlyProblemFor(policy, TAG.bake).reason).toContain("unknown schedule 'nighlty'");
    expect(policy.schedules).toEqual([]);
    expect(policy.bakeable).toBe(true);
  });
});

describe('parseInstancePolicy: reboot tag', () => {
  it.each([
    ['true', true],
    ['false', false],
    ['TRUE', true],
    ['False', false],
    [' true ', true],
    ['fAlSe', false],
  ])('reads %j as reboot %s', (value, expected) => {
    // Prepare
    const tags = { [TAG.bake]: 'nightly', [TAG.reboot]: value };

    // Act
    const policy = parse(tags);

    // Assess
    expect(policy.reboot).toBe(expected);
    expect(policy.problems).toEqual([]);
    expect(policy.bakeable).toBe(true);
  });

  it.each(['yes', '', '1', 'no', 'on', 'truee'])('refuses reboot %j: reported, not bakeable, reboot stays false', (value) => {
    // Prepare
    const tags = { [TAG.bake]: 'nightly', [TAG.reboot]: value };

    // Act
    const policy = parse(tags);

    // Assess
    const problem = onlyProblemFor(policy, TAG.reboot);
    expect(problem).toMatchObject({ tag: TAG.reboot, value });
    expect(problem.reason).toMatch(/expected 'true' or 'false'/);
    expect(policy.reboot).toBe(false);
    expect(policy.bakeable).toBe(false);
  });
});

describe('parseInstancePolicy: retain tag', () => {
  it.each([
    ['7', { kind: 'count', count: 7 }],
    ['1', { kind: 'count', count: 1 }],
    ['1000', { kind: 'count', count: 1000 }],
    [' 7 ', { kind: 'count', count: 7 }],
    ['14d', { kind: 'age', days: 14 }],
    ['1d', { kind: 'age', days: 1 }],
    ['3650d', { kind: 'age', days: 3650 }],
    ['daily=7,weekly=4,monthly=12', { kind: 'tiers', tiers: { daily: 7, weekly: 4, monthly: 12 } }],
    [
      'hourly=24,daily=7,weekly=4,monthly=12,yearly=3',
      { kind: 'tiers', tiers: { hourly: 24, daily: 7, weekly: 4, monthly: 12, yearly: 3 } },
    ],
    [' daily = 7 , weekly=4 ,monthly= 12 ', { kind: 'tiers', tiers: { daily: 7, weekly: 4, monthly: 12 } }],
    ['daily=0,weekly=4', { kind: 'tiers', tiers: { daily: 0, weekly: 4 } }],
    ['yearly=1000', { kind: 'tiers', tiers: { yearly: 1000 } }],
  ])('reads retain %j', (value, expected) => {
    // Prepare
    const tags = { [TAG.bake]: 'nightly', [TAG.retain]: value };

    // Act
    const policy = parse(tags);

    // Assess
    expect(policy.retain).toEqual(expected);
    expect(policy.problems).toEqual([]);
  });

  it.each(RETENTION_TIERS)('knows the tier %s', (tier) => {
    // Prepare
    const value = `${tier}=3`;

    // Act
    const result = v.safeParse(RetentionSpec, value);

    // Assess
    expect(result.success).toBe(true);
    expect(result.output).toEqual({ kind: 'tiers', tiers: { [tier]: 3 } });
  });

  it.each([
    ['zero count', '0', /count must be 1-1000/],
    ['negative', '-1', /expected a count/],
    ['unit typo', '7x', /expected a count/],
    ['zero days', '0d', /age must be 1-3650 days/],
    ['too many days', '3651d', /age must be 1-3650 days/],
    ['tier without count', 'daily=', /'daily=' is not tier=count/],
    ['tier given twice', 'daily=7,daily=3', /tier 'daily' given twice/],
    ['unknown tier', 'fortnightly=2', /unknown tier 'fortnightly'/],
    ['all tiers zero', 'daily=0,weekly=0', /at least one tier must keep one image/],
    ['count over the cap', '1001', /count must be 1-1000/],
    ['tier over the cap', 'daily=1001', /a tier keeps at most 1000/],
    ['empty', '', /expected a count/],
    ['upper-case tier', 'DAILY=7', /is not tier=count/],
    ['upper-case day unit', '14D', /expected a count/],
  ])('reports a bad retain (%s) %j with a reason, and still bakes', (_label, value, why) => {
    // Prepare
    const tags = { [TAG.bake]: 'nightly', [TAG.retain]: value };

    // Act
    const policy = parse(tags);

    // Assess
    const problem = onlyProblemFor(policy, TAG.retain);
    expect(problem.value).toBe(value);
    expect(problem.reason).toMatch(why);
    expect(policy.retain).toBeUndefined();
    expect(policy.schedules).toEqual(['nightly']);
    expect(policy.bakeable).toBe(true);
  });
});

describe('RetentionSpec', () => {
  it('parses a count, an age and tiers to their kinds', () => {
    // Prepare
    const values = ['5', '30d', 'weekly=4'];

    // Act
    const parsed = values.map((value) => v.parse(RetentionSpec, value));

    // Assess
    expect(parsed).toEqual([
      { kind: 'count', count: 5 },
      { kind: 'age', days: 30 },
      { kind: 'tiers', tiers: { weekly: 4 } },
    ]);
  });

  it('reports exactly one issue for a bad value, never throws through safeParse', () => {
    // Prepare
    const value = 'daily=7,bogus';

    // Act
    const result = v.safeParse(RetentionSpec, value);

    // Assess
    expect(result.success).toBe(false);
    expect(result.issues).toHaveLength(1);
    expect(result.issues?.[0]?.message).toBe("'bogus' is not tier=count");
  });

  it('never throws from safeParse and, when it succeeds, keeps every number in range (property)', () => {
    fc.assert(
      fc.property(fc.string(), (value) => {
        // Act
        const result = v.safeParse(RetentionSpec, value);

        // Assess
        if (!result.success) return result.issues.length >= 1;
        const r = result.output;
        if (r.kind === 'count') return r.count >= 1 && r.count <= 1000;
        if (r.kind === 'age') return r.days >= 1 && r.days <= 3650;
        const counts = Object.values(r.tiers);
        return counts.length > 0 && counts.every((n) => n >= 0 && n <= 1000) && counts.some((n) => n > 0);
      }),
    );
  });
});

describe('parseInstancePolicy: recover tag', () => {
  it.each([...RECOVER_MODES.map((m) => [m, m] as const), ['ON-FAILURE', 'on-failure'] as const, [' Always ', 'always'] as const])(
    'reads recover %j as %s',
    (value, expected) => {
      // Prepare
      const tags = { [TAG.bake]: 'nightly', [TAG.recover]: value };

      // Act
      const policy = parse(tags);

      // Assess
      expect(policy.recover).toBe(expected);
      expect(policy.problems).toEqual([]);
    },
  );

  it.each(['sometimes', '', 'on_failure', 'true'])('reports recover %j and still bakes, recover off', (value) => {
    // Prepare
    const tags = { [TAG.bake]: 'nightly', [TAG.recover]: value };

    // Act
    const policy = parse(tags);

    // Assess
    const problem = onlyProblemFor(policy, TAG.recover);
    expect(problem.value).toBe(value);
    expect(problem.reason).toMatch(/expected one of off, on-failure, always/);
    expect(policy.recover).toBe('off');
    expect(policy.bakeable).toBe(true);
  });
});

describe('parseInstancePolicy: lineage tag', () => {
  it.each(['i-0123456789abcdef0', 'web', 'a', 'web.prod_1-2', 'A'.repeat(48)])('keeps lineage %j', (value) => {
    // Prepare
    const tags = { [TAG.bake]: 'nightly', [TAG.lineage]: value };

    // Act
    const policy = parse(tags);

    // Assess
    expect(policy.lineage).toBe(value);
    expect(policy.problems).toEqual([]);
    expect(policy.bakeable).toBe(true);
  });

  it.each([
    ['a space', 'has space'],
    ['49 characters', 'a'.repeat(49)],
    ['a leading dash', '-web'],
    ['a slash (would split the AMI name)', 'web/prod'],
    ['nothing', ''],
    ['a leading space', ' web'],
  ])('refuses a lineage with %s: reported, not bakeable', (_label, value) => {
    // Prepare
    const tags = { [TAG.bake]: 'nightly', [TAG.lineage]: value };

    // Act
    const policy = parse(tags);

    // Assess
    const problem = onlyProblemFor(policy, TAG.lineage);
    expect(problem.value).toBe(value);
    expect(problem.reason).toMatch(/a lineage is 1-48 letters/);
    expect(policy.lineage).toBeUndefined();
    expect(policy.bakeable).toBe(false);
  });
});

describe('parseInstancePolicy: several problems at once', () => {
  it('reports every bad tag, each naming its key and value', () => {
    // Prepare
    const tags = {
      [TAG.bake]: 'nightly,nighlty',
      [TAG.retain]: '0d',
      [TAG.reboot]: 'yes',
      [TAG.recover]: 'maybe',
      [TAG.lineage]: 'has space',
    };

    // Act
    const policy = parse(tags);

    // Assess
    expect(policy.problems.map((p) => [p.tag, p.value])).toEqual([
      [TAG.bake, 'nightly,nighlty'],
      [TAG.reboot, 'yes'],
      [TAG.retain, '0d'],
      [TAG.recover, 'maybe'],
      [TAG.lineage, 'has space'],
    ]);
    expect(policy.problems.every((p) => p.reason.length > 0)).toBe(true);
    expect(policy.bakeable).toBe(false);
    expect(policy.schedules).toEqual(['nightly']);
  });
});

/**
 * An oracle written from the contract, independent of the parser: a bake tag blocks
 * baking when any comma-separated member is not a schedule name; an unknown (but
 * well-formed) name is reported without blocking.
 */
function bakeTagBlocks(value: string): boolean {
  return value.split(',').some((n) => !/^[a-z][a-z0-9-]{0,23}$/.test(n.trim()));
}

describe('parseInstancePolicy (property)', () => {
  const schedule = fc.stringMatching(/^[a-z][a-z0-9-]{0,23}$/);
  /** Values that are often valid, often nearly valid, and sometimes anything at all. */
  const value = (valid: fc.Arbitrary<string>) => fc.option(fc.oneof(valid, fc.string(), fc.string({ unit: 'binary' })), { nil: undefined });
  const tagsArb = fc.record({
    [TAG.bake]: value(fc.array(fc.oneof(schedule, fc.constantFrom(...KNOWN)), { minLength: 1, maxLength: 4 }).map((a) => a.join(','))),
    [TAG.retain]: value(
      fc.oneof(
        fc.nat(1200).map(String),
        fc.nat(4000).map((n) => `${n}d`),
        fc.constantFrom('daily=7,weekly=4', 'daily=0,weekly=0'),
      ),
    ),
    [TAG.reboot]: value(fc.constantFrom('true', 'false', 'TRUE', ' False ', 'yes')),
    [TAG.recover]: value(fc.constantFrom(...RECOVER_MODES, 'ON-FAILURE', 'never')),
    [TAG.lineage]: value(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,50}$/)),
  });

  it('never throws; every problem names one of the five keys and the exact input value; bakeable iff no blocking problem', () => {
    fc.assert(
      fc.property(tagsArb, fc.array(schedule, { maxLength: 4 }), (raw, known) => {
        // Prepare
        const tags: Record<string, string> = {};
        for (const [k, v] of Object.entries(raw)) if (v !== undefined) tags[k] = v;

        // Act
        const policy = parseInstancePolicy(tags, known);

        // Assess
        for (const p of policy.problems) {
          expect(USER_TAGS).toContain(p.tag);
          expect(p.value).toBe(tags[p.tag]);
          expect(p.reason.length).toBeGreaterThan(0);
        }
        // at most one problem per tag
        expect(new Set(policy.problems.map((p) => p.tag)).size).toBe(policy.problems.length);
        const [bake, reboot, lin] = [tags[TAG.bake], tags[TAG.reboot], tags[TAG.lineage]];
        const blocked =
          (bake !== undefined && bakeTagBlocks(bake)) ||
          (reboot !== undefined && !['true', 'false'].includes(reboot.trim().toLowerCase())) ||
          (lin !== undefined && !v.safeParse(Lineage, lin).success);
        expect(policy.bakeable).toBe(!blocked);
        // a non-bakeable policy always carries a problem on a blocking tag
        expect(policy.bakeable).toBe(
          !policy.problems.some((p) => BLOCKING_TAGS.includes(p.tag) && !p.reason.startsWith('unknown schedule')),
        );
        // schedules are always known, well-formed and without duplicates
        for (const s of policy.schedules) {
          expect(known).toContain(s);
          expect(v.safeParse(ScheduleName, s).success).toBe(true);
        }
        expect(new Set(policy.schedules).size).toBe(policy.schedules.length);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws for arbitrary strings under every key, and problems carry the values verbatim', () => {
    fc.assert(
      fc.property(
        fc.tuple(fc.string(), fc.string(), fc.string(), fc.string(), fc.string()),
        fc.array(fc.string(), { maxLength: 3 }),
        (values, known) => {
          // Prepare
          const tags = Object.fromEntries(USER_TAGS.map((k, i) => [k, values[i]!]));

          // Act
          const policy = parseInstancePolicy(tags, known);

          // Assess
          for (const p of policy.problems) {
            expect(USER_TAGS).toContain(p.tag);
            expect(p.value).toBe(tags[p.tag]);
          }
          expect(policy.bakeable).toBe(
            !policy.problems.some((p) => BLOCKING_TAGS.includes(p.tag) && !p.reason.startsWith('unknown schedule')),
          );
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('tagRecord', () => {
  it('turns an EC2 tag list into a record', () => {
    // Prepare
    const list = [
      { Key: TAG.bake, Value: 'nightly' },
      { Key: 'Name', Value: 'web-1' },
    ];

    // Act
    const record = tagRecord(list);

    // Assess
    expect(record).toEqual({ [TAG.bake]: 'nightly', Name: 'web-1' });
  });

  it('keeps a tag whose key is __proto__ as a tag, not as the prototype', () => {
    // Act
    const record = tagRecord([
      { Key: '__proto__', Value: 'x' },
      { Key: 'a', Value: 'b' },
    ]);

    // Assess
    expect(Object.keys(record).sort()).toEqual(['__proto__', 'a']);
    expect(Object.getOwnPropertyDescriptor(record, '__proto__')?.value).toBe('x');
    expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
  });

  it('drops entries without a key and reads a missing value as the empty string', () => {
    // Prepare
    const list = [{ Value: 'orphan' }, { Key: 'empty' }, { Key: 'k', Value: undefined }];

    // Act
    const record = tagRecord(list);

    // Assess
    expect(record).toEqual({ empty: '', k: '' });
  });

  it('reads undefined and an empty list as no tags', () => {
    // Prepare
    const inputs = [undefined, []];

    // Act
    const records = inputs.map((i) => tagRecord(i));

    // Assess
    expect(records).toEqual([{}, {}]);
  });

  it('keeps the last value when a key repeats', () => {
    // Prepare
    const list = [
      { Key: 'a', Value: '1' },
      { Key: 'a', Value: '2' },
    ];

    // Act
    const record = tagRecord(list);

    // Assess
    expect(record).toEqual({ a: '2' });
  });
});
