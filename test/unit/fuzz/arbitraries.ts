/**
 * What the fuzz tests share: the event samples (and which function takes each),
 * arbitrary JSON as the wire can carry it, "near-valid" events made from a sample
 * by breaking one field, arbitrary tag sets with every malformed value the tag
 * contract has to survive, and one reproducible fast-check configuration.
 *
 * Reproducing a failure: fast-check prints `seed` and `path`; run with
 * FUZZ_SEED=<seed> (the path is then replayed by the same seed and run count).
 * FUZZ_SEED=random explores afresh; FUZZ_RUNS=<factor> multiplies every run count.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { RECOVER_MODES, RETENTION_TIERS, TAG } from '../../../shared/domain/tags.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };
export type Segment = string | number;

// ---- reproducibility ------------------------------------------------------------------------

const DEFAULT_SEED = 20261126;
const seedEnv = process.env.FUZZ_SEED;
/** The seed of every property in this run: fixed unless FUZZ_SEED says otherwise. */
export const FUZZ_SEED = seedEnv === 'random' ? Math.floor(Math.random() * 2 ** 31) : seedEnv ? Number(seedEnv) : DEFAULT_SEED;
const RUN_FACTOR = Math.max(1, Number(process.env.FUZZ_RUNS ?? 1) || 1);

/** fc.assert parameters: the run's seed, `numRuns` scaled by FUZZ_RUNS. */
export function fuzz(numRuns: number): fc.Parameters<unknown> {
  return { seed: FUZZ_SEED, numRuns: Math.round(numRuns * RUN_FACTOR), endOnFailure: false };
}

// ---- samples ------------------------------------------------------------------------------------

export const EVENTS_DIR = fileURLToPath(new URL('../../../events/', import.meta.url));

export type FunctionName = 'schedule' | 'bake' | 'imageState' | 'promote' | 'rotate' | 'recover' | 'statusAlarms' | 'verify' | 'copy';

/** The functions each sample is meant for (statusAlarms takes the same `{"trigger": ...}` input as rotate). */
const SAMPLE_TARGETS: Record<string, FunctionName[]> = {
  'schedule-nightly.json': ['schedule'],
  'schedule-weekly.json': ['schedule'],
  'bake-requested.json': ['bake'],
  'ami-state-available.json': ['imageState'],
  'ami-state-failed.json': ['imageState'],
  // The two above as the SQS batch Lambda hands imageState: the fuzzing wraps each event in its
  // own batch (handlers.test.ts), and event-samples.test.ts runs this one whole.
  'ami-state-batch.json': [],
  'rotate-scheduled.json': ['rotate', 'statusAlarms'],
  'image-baked.json': ['promote', 'copy'],
  'copy-sweep.json': ['copy'],
  'promotion-catch-up.json': ['promote'],
  'rotate-dry-run.json': ['rotate'],
  'instance-stopped.json': ['recover'],
  'instance-terminated.json': ['recover'],
  'alarm-status-check-failed.json': ['recover'],
  'health-instance-retirement.json': ['recover'],
  'health-retirement-expedited.json': ['recover'],
  'health-instance-stop-scheduled.json': ['recover'],
  'health-instance-termination-scheduled.json': ['recover'],
  'recovery-recheck.json': ['recover'],
  'verification-requested.json': ['verify'],
  'verification-check.json': ['verify'],
  'verification-sweep.json': ['verify'],
};

export interface Sample {
  file: string;
  event: JsonObject;
}

export const SAMPLES: readonly Sample[] = readdirSync(EVENTS_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => ({ file, event: JSON.parse(readFileSync(`${EVENTS_DIR}${file}`, 'utf8')) as JsonObject }));

export function samplesFor(fn: FunctionName): Sample[] {
  return SAMPLES.filter((s) => (SAMPLE_TARGETS[s.file] ?? []).includes(fn));
}

/** Every sample file has a target function: a new sample must be added to SAMPLE_TARGETS (and so to the fuzzing). */
export const UNTARGETED_SAMPLES = SAMPLES.filter((s) => SAMPLE_TARGETS[s.file] === undefined).map((s) => s.file);

// ---- the wire -------------------------------------------------------------------------------------

/** What a value looks like after JSON, as Lambda hands it over (own `__proto__` keys included). */
export function wire<T>(value: T): Json {
  return JSON.parse(JSON.stringify(value) ?? 'null') as Json;
}

/** Keys that have tripped up JavaScript parsers: prototype names, getters' names, empties. */
const AWKWARD_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'then',
  '',
  ' ',
  'detail',
  'source',
  'id',
];

const unicodeText = fc.string({ unit: 'binary', maxLength: 40 });
/** A lone surrogate cannot be encoded in UTF-8: the EC2 query protocol refuses to send one. */
const loneSurrogate = fc.constantFrom('\uD800', 'web\uDBFF', '\uDC00x', 'a\uD83D');

/** Long strings without paying for fast-check to build them character by character. */
export const hugeString = fc
  .tuple(fc.constantFrom('x', 'é', '😀', 'i-0', '\u0000', ' '), fc.integer({ min: 1_000, max: 200_000 }))
  .map(([unit, n]) => unit.repeat(Math.ceil(n / unit.length)));

/** An object nested `depth` levels deep, as a parser would receive it. */
export const deeplyNested = fc
  .tuple(fc.integer({ min: 50, max: 2_000 }), fc.constantFrom('detail', 'a', '__proto__'), fc.boolean())
  .map(([depth, key, arrays]) => {
    const open = arrays ? '['.repeat(depth) : `{"${key}":`.repeat(depth);
    const close = arrays ? ']'.repeat(depth) : '}'.repeat(depth);
    return JSON.parse(`${open}1${close}`) as Json;
  });

/** An object with prototype-ish keys as its own properties, as JSON.parse makes them. */
export const awkwardObject: fc.Arbitrary<Json> = fc
  .dictionary(fc.constantFrom(...AWKWARD_KEYS), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 })
  .map((o) => wire(o));

/** Anything the wire can carry, from scalars to awkward and enormous values. */
export const anyJson: fc.Arbitrary<Json> = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 4 }) as fc.Arbitrary<Json>, weight: 4 },
  { arbitrary: awkwardObject, weight: 2 },
  { arbitrary: fc.constantFrom<Json>(null, true, false, 0, -0, 1e308, '', [], {}), weight: 1 },
  { arbitrary: hugeString as fc.Arbitrary<Json>, weight: 1 },
  { arbitrary: deeplyNested, weight: 1 },
);

// ---- near-valid events ----------------------------------------------------------------------------

/** Every path to a value inside `value` (the root excluded). */
export function pathsOf(value: Json, prefix: Segment[] = []): Segment[][] {
  if (value === null || typeof value !== 'object') return [];
  const entries: [Segment, Json][] = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  return entries.flatMap(([k, v]) => [[...prefix, k], ...pathsOf(v, [...prefix, k])]);
}

export function getAt(value: Json, path: readonly Segment[]): Json | undefined {
  let cur: Json | undefined = value;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, Json>)[seg as string];
  }
  return cur;
}

/** Defines (never assigns: `__proto__` stays a key) `key` on the object or array at `parent`. */
function defineAt(target: Json, key: Segment, value: Json): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

export type Mutation =
  | { kind: 'drop'; path: Segment[] }
  | { kind: 'replace'; path: Segment[]; value: Json; label: string }
  | { kind: 'add'; path: Segment[]; value: Json };

export interface NearValid {
  sample: string;
  mutation: Mutation;
  event: Json;
}

/** A string shaped like an id but not one: what a buggy producer or a hand-written test event carries. */
const wrongIds = fc.constantFrom(
  'i-',
  'i-XYZ',
  'I-0123456789ABCDEF0',
  'i-0123456789ABCDEF0',
  'i-0123456789abcdef0 ',
  ' i-0123456789abcdef0',
  'i-0123456789abcdef0\n',
  'ami-',
  'ami-0ABCDEF1234567890',
  'ami-0abcdef1234567890/',
  'arn:aws:ec2:us-east-1:123456789012:instance/i-zzz',
  'arn:aws:ec2:us-east-1::image/ami-0abcdef1234567890',
  `i-${'0'.repeat(500)}`,
  `ami-${'a'.repeat(10_000)}`,
  'snap-0123456789abcdef0',
);

/** Values of other samples: a well-formed event of the wrong kind. */
const otherSampleValues = fc.constantFrom<Json>(
  ...new Set(
    SAMPLES.flatMap((s) => [s.event.source, s.event['detail-type'], s.event.schedule, s.event.trigger].filter((v) => v !== undefined)),
  ),
);

/**
 * A replacement for one field, labelled for the failure report. `amplify` allows the
 * huge ones (200 KB strings, 5,000-element arrays): one at a time, since several
 * nested in one another outgrow what JSON.stringify can write.
 */
function replacementFor(original: Json, amplify: boolean): fc.Arbitrary<{ value: Json; label: string }> {
  const tag = (label: string) => (value: Json) => ({ value, label });
  const fixed = (value: Json, label: string) => fc.constant<{ value: Json; label: string }>({ value, label });
  const huge: fc.Arbitrary<{ value: Json; label: string }>[] = amplify
    ? [
        hugeString.map(tag('huge string')),
        fixed(Array.isArray(original) ? Array.from({ length: 5_000 }, () => original[0] ?? null) : original, 'array of 5,000'),
      ]
    : [];
  return fc.oneof<fc.Arbitrary<{ value: Json; label: string }>[]>(
    ...huge,
    fc.constantFrom<Json>(null, true, false, 0, -1, 1.5, 1e308, '', '   ', [], {}).map(tag('scalar')),
    fc.string({ maxLength: 30 }).map(tag('string')),
    unicodeText.map(tag('unicode')),
    loneSurrogate.map(tag('lone surrogate')),
    wrongIds.map(tag('wrong id')),
    otherSampleValues.map(tag('other sample value')),
    fc.jsonValue({ maxDepth: 2 }).map((v) => tag('json')(v as Json)),
    fixed([original], 'wrapped in an array'),
    fixed({ value: original }, 'wrapped in an object'),
    fixed(typeof original === 'string' ? original.toUpperCase() : String(original), 'recased or stringified'),
    fixed(typeof original === 'number' ? String(original) : Number(original), 'number/string swap'),
  );
}

/** One way to break `sample`: drop a field, replace it, or add a key. */
function mutationOf(sample: Sample, amplify = true): fc.Arbitrary<Mutation> {
  const paths = pathsOf(sample.event);
  const objectPaths: Segment[][] = [
    [],
    ...paths.filter((p) => {
      const v = getAt(sample.event, p);
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    }),
  ];
  // Mostly replacements: an added key is usually ignored, so it rarely reaches a rejection.
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(...paths).map((path): Mutation => ({ kind: 'drop', path })) },
    {
      weight: 5,
      arbitrary: fc
        .constantFrom(...paths)
        .chain((path) =>
          replacementFor(getAt(sample.event, path) ?? null, amplify).map(
            ({ value, label }): Mutation => ({ kind: 'replace', path, value, label }),
          ),
        ),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...objectPaths),
          fc.oneof(fc.constantFrom(...AWKWARD_KEYS), fc.string({ maxLength: 10 })),
          fc.jsonValue({ maxDepth: 2 }),
        )
        .map(([parent, key, value]): Mutation => ({ kind: 'add', path: [...parent, key], value: value as Json })),
    },
  );
  return mutation;
}

/** `sample` with one field dropped, replaced or one key added; sent through JSON as AWS would. */
export function nearValid(sample: Sample): fc.Arbitrary<NearValid> {
  return mutationOf(sample).map((m) => ({ sample: sample.file, mutation: m, event: wire(apply(sample.event, m)) }));
}

/** `sample` with two to four fields broken at once: combinations one mutation never reaches. */
export function farFromValid(sample: Sample): fc.Arbitrary<{ sample: string; mutations: Mutation[]; event: Json }> {
  return fc
    .array(mutationOf(sample, false), { minLength: 2, maxLength: 4 })
    .map((ms) => ({ sample: sample.file, mutations: ms, event: wire(ms.reduce<Json>((e, m) => apply(e, m), sample.event)) }));
}

/** Applies one mutation to a copy; a path a previous mutation removed is left alone. */
export function apply(event: Json, m: Mutation): Json {
  const copy = structuredClone(event);
  const parent = getAt(copy, m.path.slice(0, -1));
  if (parent === undefined || parent === null || typeof parent !== 'object') return copy;
  const key = m.path[m.path.length - 1]!;
  if (m.kind === 'drop') {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete (parent as JsonObject)[key as string];
  } else {
    defineAt(parent, key, m.value);
  }
  return copy;
}

/** The mutated field as a dotted path, as the rejection log spells it. */
export const dotted = (path: readonly Segment[]) => path.map(String).join('.');

// ---- tags ---------------------------------------------------------------------------------------------

/** EC2's limits: 50 tags a resource, keys of 1-128 and values of 0-256 characters. */
export const EC2_MAX_KEY = 128;
export const EC2_MAX_VALUE = 256;

const scheduleName = fc.stringMatching(/^[a-z][a-z0-9-]{0,23}$/);
const knownOrNot = (known: readonly string[]) => (known.length > 0 ? fc.oneof(fc.constantFrom(...known), scheduleName) : scheduleName);

const garbage = fc.oneof(
  fc.string({ maxLength: 20 }),
  unicodeText,
  fc.constantFrom('', ' ', ',', '=', '\t', '\n', 'null', 'undefined', 'NaN', '__proto__'),
);
const bigNumber = fc.oneof(
  fc.integer({ min: -5, max: 5_000 }).map(String),
  fc.constantFrom('1e3', '0x10', '007', '-0', '+7', '7.5', '9'.repeat(30), String(Number.MAX_SAFE_INTEGER + 2), 'Infinity', '٣', '７'),
);
const spaced = (s: string) => fc.constantFrom(s, ` ${s}`, `${s} `, `\t${s}\n`, s.toUpperCase());

/** Values of `ami-lifecycle:bake`: schedule lists, well formed or not. */
export const bakeValue = (known: readonly string[]) =>
  fc.oneof(
    fc.array(knownOrNot(known), { minLength: 1, maxLength: 4 }).map((a) => a.join(',')),
    fc
      .array(knownOrNot(known), { minLength: 1, maxLength: 4 })
      .chain((a) => fc.constantFrom(a.join(' , '), a.join(';'), `${a.join(',')},`, `,${a[0]}`, a.join(',,'))),
    fc.array(knownOrNot(known), { minLength: 1, maxLength: 3 }).map((a) => a.join(',').toUpperCase()),
    fc.constantFrom('', ' ', ',', ',,', 'nightly weekly', `a${'b'.repeat(30)}`, 'night_ly', '-nightly', '1nightly'),
    garbage,
  );

/** Values of `ami-lifecycle:retain`: counts, ages, tiers, and every way to get them wrong. */
export const retainValue = fc
  .oneof(
    bigNumber,
    bigNumber.map((n) => `${n}d`),
    fc.constantFrom('14 d', '14D', '14days', 'd', '-3d', '0d', '3651d', '3650d'),
    fc
      .array(
        fc.tuple(
          fc.oneof(
            fc.constantFrom(...RETENTION_TIERS),
            fc.constantFrom('fortnightly', 'Daily', 'day', '', 'constructor', '__proto__', 'toString'),
          ),
          bigNumber,
        ),
        {
          minLength: 1,
          maxLength: 6,
        },
      )
      .chain((parts) => fc.constantFrom(',', ', ', ' ,', ';').map((sep) => parts.map(([t, n]) => `${t}=${n}`).join(sep))),
    fc.constantFrom(
      'daily=7,weekly=4,monthly=12',
      'daily=7,daily=3',
      'daily=0,weekly=0',
      'daily=7,',
      '=7',
      'daily=',
      'daily==7',
      ' daily = 7 , weekly = 4 ',
      'daily=7,,weekly=4',
    ),
    garbage,
  )
  .chain(spaced);

export const rebootValue = fc.oneof(fc.constantFrom('true', 'false', 'yes', 'no', '1', '0', 'on', ''), garbage).chain(spaced);
export const recoverValue = fc
  .oneof(fc.constantFrom(...RECOVER_MODES, 'on_failure', 'onfailure', 'never', 'auto', ''), garbage)
  .chain(spaced);
export const lineageValue = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$/),
  fc.stringMatching(/^[A-Za-z0-9._ /-]{0,60}$/),
  fc.constantFrom('', '-web', '.web', 'web/1', 'web 1', 'a'.repeat(49), 'é'),
  garbage,
);

/** Keys an operator might mistype, or that the service sets itself. */
const OTHER_PREFIXED = ['retian', 'Bake', 'RETAIN', 'bake ', ' recover', 'reboot-now', 'schedule', 'unknown', '', ':bake'].map(
  (s) => `ami-lifecycle:${s}`,
);
const SERVICE_KEYS = [
  TAG.captured,
  TAG.replaces,
  TAG.replacedBy,
  TAG.generation,
  TAG.maintenance,
  TAG.managedBy,
  TAG.status,
  TAG.slot,
  TAG.schedule,
  TAG.sourceInstance,
];

/** Keys besides the five the parser reads: the service's own, mistyped ones, other tools', awkward ones. */
export const otherKey = fc.oneof(
  fc.constantFrom(
    ...SERVICE_KEYS,
    ...OTHER_PREFIXED,
    'AMI-LIFECYCLE:bake',
    'Name',
    'aws:cloudformation:stack-name',
    ...AWKWARD_KEYS.filter((k) => k !== ''),
  ),
  fc.string({ minLength: 1, maxLength: 20 }),
  fc.string({ minLength: 1, maxLength: 20 }).map((s) => `ami-lifecycle:${s}`),
);

export interface TagSetOptions {
  knownSchedules: readonly string[];
  /** Tag values within EC2's limits (what DescribeInstances can return). */
  ec2Limits?: boolean;
}

/** The five keys an operator sets (lineage too, by hand or as the service left it), each maybe absent. */
export const USER_KEYS = [TAG.bake, TAG.retain, TAG.reboot, TAG.recover, TAG.lineage] as const;

/** A tag set as EC2 returns it: a list of Key/Value pairs (a key may repeat; the last one wins in tagRecord). */
export function tagList(options: TagSetOptions): fc.Arbitrary<Array<{ Key: string; Value: string }>> {
  const value = (v: fc.Arbitrary<string>) => fc.option(v, { nil: undefined, freq: 3 });
  const clip = (s: string, max: number) => (options.ec2Limits ? s.slice(0, max) : s);
  return fc
    .tuple(
      fc.record({
        [TAG.bake]: value(bakeValue(options.knownSchedules)),
        [TAG.retain]: value(retainValue),
        [TAG.reboot]: value(rebootValue),
        [TAG.recover]: value(recoverValue),
        [TAG.lineage]: value(lineageValue),
      }),
      fc.array(fc.tuple(otherKey, fc.oneof(garbage, fc.constant(''), fc.constant('i-0123456789abcdef0'))), { maxLength: 6 }),
      fc.boolean(),
    )
    .map(([ours, others, oursFirst]) => {
      const mine = Object.entries(ours).flatMap(([Key, Value]) => (Value === undefined ? [] : [{ Key, Value }]));
      const theirs = others.map(([Key, Value]) => ({ Key: clip(Key, EC2_MAX_KEY), Value }));
      const all = oursFirst ? [...theirs, ...mine] : [...mine, ...theirs];
      // A later duplicate of one of our keys would override what `ours` says: keep ours last.
      const ourKeys = new Set(mine.map((t) => t.Key));
      return [...all.filter((t) => !ourKeys.has(t.Key)), ...mine].map((t) => ({ Key: t.Key, Value: clip(t.Value, EC2_MAX_VALUE) }));
    });
}
