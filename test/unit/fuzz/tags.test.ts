/**
 * Fuzzing the tag contract: whatever an operator (or another tool) writes on an
 * instance, reading its tags never throws, every unreadable `ami-lifecycle:*` value
 * becomes one problem naming the tag, the value and what is allowed, valid values
 * read back as written, and a key under the prefix that the service does not know
 * (a typo such as `ami-lifecycle:retian`) is reported rather than silently ignored.
 */
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  parseInstancePolicy,
  PREFIX,
  RECOVER_MODES,
  RetentionSpec,
  RETENTION_TIERS,
  TAG,
  tagRecord,
  type Retention,
  type RetentionTier,
  type Tags,
} from '../../../shared/domain/tags.js';
import { fuzz, lineageValue, rebootValue, recoverValue, retainValue, tagList, USER_KEYS } from './arbitraries.js';

const KNOWN = ['nightly', 'weekly', 'hourly-db'];
const knownSchedules = fc.oneof(
  fc.constant(KNOWN),
  fc.constant([] as string[]),
  fc.array(fc.stringMatching(/^[a-z][a-z0-9-]{0,23}$/), { maxLength: 3 }),
);

const SERVICE_TAG_KEYS: ReadonlySet<string> = new Set(Object.values(TAG).filter((k) => k.startsWith(PREFIX)));
const isOurs = (key: string) => key.trim().toLowerCase().startsWith(PREFIX);

// ---- independent oracles, written from the tag table of docs/tags.md ------------------------------------------

const SCHEDULE = /^[a-z][a-z0-9-]{0,23}$/;

function bakeOracle(raw: string, known: readonly string[]) {
  const names = raw.split(',').map((s) => s.trim());
  if (names.every((n) => n === '')) return { valid: false, blocks: true, schedules: [] as string[] };
  if (names.some((n) => !SCHEDULE.test(n))) return { valid: false, blocks: true, schedules: [] as string[] };
  const schedules = [...new Set(names.filter((n) => known.includes(n)))];
  return { valid: names.every((n) => known.includes(n)), blocks: false, schedules };
}

function retainOracle(raw: string): Retention | undefined {
  const v = raw.trim();
  if (/^\d+$/.test(v)) return Number(v) >= 1 && Number(v) <= 1000 ? { kind: 'count', count: Number(v) } : undefined;
  const age = /^(\d+)d$/.exec(v);
  if (age) return Number(age[1]) >= 1 && Number(age[1]) <= 3650 ? { kind: 'age', days: Number(age[1]) } : undefined;
  if (!v.includes('=')) return undefined;
  const tiers: Partial<Record<RetentionTier, number>> = {};
  for (const part of v.split(',')) {
    const m = /^\s*([a-z]+)\s*=\s*(\d+)\s*$/.exec(part);
    if (!m || !(RETENTION_TIERS as readonly string[]).includes(m[1]!) || Object.hasOwn(tiers, m[1]!) || Number(m[2]) > 1000)
      return undefined;
    tiers[m[1] as RetentionTier] = Number(m[2]);
  }
  return Object.values(tiers).some((n) => n > 0) ? { kind: 'tiers', tiers } : undefined;
}

/** A retention written back as a tag value. */
function formatRetention(r: Retention): string {
  if (r.kind === 'count') return String(r.count);
  if (r.kind === 'age') return `${r.days}d`;
  return Object.entries(r.tiers)
    .map(([t, n]) => `${t}=${n}`)
    .join(',');
}

/** What each key's reason must say: what is allowed. */
const ALLOWED: Record<string, RegExp> = {
  [TAG.bake]: /schedule name|known: |no schedules are configured/,
  [TAG.retain]: /\d+-\d+|at most|at least|known: |e\.g\.|expected|tier=count/,
  [TAG.reboot]: /'true' or 'false'/,
  [TAG.recover]: new RegExp(RECOVER_MODES.join(', ')),
  [TAG.lineage]: /1-48 letters, digits, dots, dashes or underscores/,
};

const parse = (tags: Tags, known: readonly string[]) => parseInstancePolicy(tags, known);

describe('parseInstancePolicy under fuzzing', () => {
  it('never throws on any tag list, and every problem names a tag the instance carries, its exact value and what is allowed', () => {
    fc.assert(
      fc.property(
        knownSchedules.chain((known) => fc.tuple(fc.constant(known), tagList({ knownSchedules: known }))),
        ([known, list]) => {
          // Act
          const tags = tagRecord(list);
          const policy = parse(tags, known);

          // Assess
          for (const p of policy.problems) {
            expect(Object.hasOwn(tags, p.tag)).toBe(true);
            expect(p.value).toBe(tags[p.tag]);
            expect(p.reason.trim()).not.toBe('');
            expect(p.reason).toMatch(ALLOWED[p.tag] ?? /unknown tag key/);
          }
          // One problem per tag at most: a PolicyInvalid lists each bad tag once.
          expect(new Set(policy.problems.map((p) => p.tag)).size).toBe(policy.problems.length);
          // Only the service's own namespace is read: other tools' tags are never a problem.
          expect(policy.problems.every((p) => isOurs(p.tag))).toBe(true);
        },
      ),
      fuzz(400),
    );
  });

  it('reads each of the five keys exactly as the tag table says, whatever else the instance carries', () => {
    fc.assert(
      fc.property(
        knownSchedules.chain((known) => fc.tuple(fc.constant(known), tagList({ knownSchedules: known }))),
        ([known, list]) => {
          // Prepare
          const tags = tagRecord(list);

          // Act
          const policy = parse(tags, known);

          // Assess
          const problemOf = (key: string) => policy.problems.find((p) => p.tag === key);
          let blocked = false;

          const bake = tags[TAG.bake];
          if (bake === undefined) {
            expect(policy.schedules).toEqual([]);
          } else {
            const o = bakeOracle(bake, known);
            expect(policy.schedules).toEqual(o.schedules);
            expect(problemOf(TAG.bake) !== undefined).toBe(!o.valid);
            blocked ||= o.blocks;
          }

          const reboot = tags[TAG.reboot];
          const rebootWord = reboot?.trim().toLowerCase();
          const rebootValid = reboot === undefined || rebootWord === 'true' || rebootWord === 'false';
          expect(problemOf(TAG.reboot) === undefined).toBe(rebootValid);
          expect(policy.reboot).toBe(rebootValid && rebootWord === 'true');
          blocked ||= !rebootValid;

          const recover = tags[TAG.recover]?.trim().toLowerCase();
          const recoverValid = recover === undefined || (RECOVER_MODES as readonly string[]).includes(recover);
          expect(problemOf(TAG.recover) === undefined).toBe(recoverValid);
          expect(policy.recover).toBe(recover !== undefined && recoverValid ? recover : 'off');

          const retain = tags[TAG.retain];
          const expected = retain === undefined ? undefined : retainOracle(retain);
          expect(policy.retain).toEqual(expected);
          expect(problemOf(TAG.retain) !== undefined).toBe(retain !== undefined && expected === undefined);

          const lineage = tags[TAG.lineage];
          const lineageValid = lineage === undefined || /^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$/.test(lineage);
          expect(policy.lineage).toBe(lineageValid ? lineage : undefined);
          expect(problemOf(TAG.lineage) === undefined).toBe(lineageValid);
          blocked ||= !lineageValid;

          // Unreadable retain or recover never stop a backup; unreadable bake, reboot or lineage do.
          expect(policy.bakeable).toBe(!blocked);
        },
      ),
      fuzz(400),
    );
  });

  it('reports every key under the prefix that the service does not know, once, without stopping the bake; keys it knows are never reported as unknown', () => {
    fc.assert(
      fc.property(tagList({ knownSchedules: KNOWN }), (list) => {
        // Prepare
        const tags = tagRecord(list);

        // Act
        const policy = parse(tags, KNOWN);

        // Assess
        const unknownKeys = Object.keys(tags).filter((k) => isOurs(k) && !SERVICE_TAG_KEYS.has(k));
        const reported = policy.problems.filter((p) => /unknown tag key/.test(p.reason)).map((p) => p.tag);
        expect(reported.sort()).toEqual(unknownKeys.sort());
        for (const p of policy.problems.filter((q) => reported.includes(q.tag))) {
          // Actionable: it names the keys an operator can set.
          for (const key of [TAG.bake, TAG.retain, TAG.reboot, TAG.recover, TAG.maintenance]) expect(p.reason).toContain(key);
        }
        const withoutUnknown = Object.fromEntries(Object.entries(tags).filter(([k]) => !unknownKeys.includes(k)));
        expect(policy.bakeable).toBe(parse(withoutUnknown, KNOWN).bakeable);
      }),
      fuzz(300),
    );
  });

  it('suggests the key meant when an unknown key differs from a known one only by case, spaces or a small typo', () => {
    // Prepare
    const cases: Array<[string, string]> = [
      ['ami-lifecycle:retian', TAG.retain],
      ['ami-lifecycle:Retain', TAG.retain],
      ['ami-lifecycle:bake ', TAG.bake],
      ['AMI-Lifecycle:recover', TAG.recover],
      ['ami-lifecycle:rebot', TAG.reboot],
      ['ami-lifecycle:maintenence', TAG.maintenance],
    ];

    for (const [key, meant] of cases) {
      // Act
      const policy = parse({ [TAG.bake]: 'nightly', [key]: '30' }, KNOWN);

      // Assess
      const problem = policy.problems.find((p) => p.tag === key);
      expect(problem?.reason, key).toContain(`did you mean ${meant}?`);
    }
  });
});

describe('tag values round-trip', () => {
  it('a retain value that reads, written back, reads the same', () => {
    fc.assert(
      fc.property(retainValue, (value) => {
        // Act
        const parsed = v.safeParse(RetentionSpec, value);

        // Assess
        expect(parsed.success).toBe(retainOracle(value) !== undefined);
        if (parsed.success) expect(v.parse(RetentionSpec, formatRetention(parsed.output))).toEqual(parsed.output);
      }),
      fuzz(1000),
    );
  });

  it('reboot, recover and lineage values that read are read as written (case and surrounding blanks aside)', () => {
    fc.assert(
      fc.property(rebootValue, recoverValue, lineageValue, (reboot, recover, lineage) => {
        // Act
        const policy = parse({ [TAG.reboot]: reboot, [TAG.recover]: recover, [TAG.lineage]: lineage }, KNOWN);

        // Assess
        if (!policy.problems.some((p) => p.tag === TAG.reboot)) expect(String(policy.reboot)).toBe(reboot.trim().toLowerCase());
        if (!policy.problems.some((p) => p.tag === TAG.recover)) expect(policy.recover).toBe(recover.trim().toLowerCase());
        if (!policy.problems.some((p) => p.tag === TAG.lineage)) expect(policy.lineage).toBe(lineage);
        expect(policy.problems.every((p) => (USER_KEYS as readonly string[]).includes(p.tag))).toBe(true);
      }),
      fuzz(500),
    );
  });
});
