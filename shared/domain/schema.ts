/**
 * The schemas use valibot (issue 18: zod/mini cost 29-43 KiB of every function's bundle,
 * valibot about a third of that, since esbuild leaves out every part of it a function does not
 * use). Valibot schemas implement Standard Schema, which the Powertools parser middleware takes.
 * This module holds what the schemas share that valibot does not spell as zod did, so that they
 * accept and refuse what they did before. Each builder is marked free of side effects, as
 * valibot's own are, so that esbuild drops the schemas a function never reads.
 */
import * as v from 'valibot';

/**
 * Builds a schema, at once. Declared `defineSchema(() => v...)` behind a pure mark, a schema no
 * code of a function reads is left out of its bundle by esbuild, and so not built at its load:
 * each function declares hundreds of schema objects fewer (issue 18, cold start).
 */
export const defineSchema = <T>(build: () => T): T => build();

/** Calendar dates from 0000 to 9999, 29 February only in leap years. */
const DATE = String.raw`(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-(?:0[1-9]|1\d|2[0-8])))`;
const TIME = String.raw`(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?`;
const DATE_TIME_UTC = /* @__PURE__ */ new RegExp(`^${DATE}T${TIME}Z$`);
const DATE_TIME_OFFSET = /* @__PURE__ */ new RegExp(`^${DATE}T${TIME}(?:Z|[+-](?:[01]\\d|2[0-3]):[0-5]\\d)$`);
/** The patterns isoDateTime checks with: the docs call a field checked with one an ISO time. */
export const ISO_DATE_TIME_PATTERNS: readonly RegExp[] = [DATE_TIME_UTC, DATE_TIME_OFFSET];

/**
 * An ISO 8601 date and time with seconds (any fraction of them) in UTC (`Z`), or with
 * `offset`, also at an offset (`+01:00`): zod's `iso.datetime()`, which the schemas used.
 * Valibot's isoTimestamp takes other forms too, so the pattern is zod's.
 */
/* @__NO_SIDE_EFFECTS__ */
export function isoDateTime(options: { offset?: boolean } = {}) {
  return v.pipe(v.string(), v.regex(options.offset ? DATE_TIME_OFFSET : DATE_TIME_UTC, 'Invalid ISO datetime'));
}

/** A whole number a double holds exactly, as zod's `int()` (beyond 2^53 integers are no longer distinct). */
/* @__NO_SIDE_EFFECTS__ */
export function int() {
  return v.pipe(v.number(), v.safeInteger());
}

/** A number from a variable: `Number(input)` (zod's `coerce.number()`), then a number in [min, max]. */
/* @__NO_SIDE_EFFECTS__ */
export function numberFrom(min: number, max: number) {
  return v.pipe(v.unknown(), v.transform(Number), v.number(), v.minValue(min), v.maxValue(max));
}

/** A whole number from a variable: `Number(input)`, then a whole number in [min, max]. */
/* @__NO_SIDE_EFFECTS__ */
export function intFrom(min: number, max: number) {
  return v.pipe(v.unknown(), v.transform(Number), int(), v.minValue(min), v.maxValue(max));
}

/**
 * Valibot's objects and records take an array (its maintainers call it intended, open-circle/valibot
 * issue 1630): `[]` would read as `{}`, and a rotation request `[]` run as `{}`. Zod's refused it,
 * and so do ours: the schema, unchanged (its entries, its type), first refuses an array.
 */
/* @__NO_SIDE_EFFECTS__ */
function refusingArrays<S extends v.GenericSchema>(schema: S): S {
  const run = schema['~run'];
  const notArray = v.custom((input) => !Array.isArray(input), `Invalid type: Expected ${schema.expects} but received Array`);
  const refusing: S = {
    ...schema,
    '~run': (dataset, config) => (Array.isArray(dataset.value) ? notArray['~run'](dataset, config) : run.call(schema, dataset, config)),
  };
  Object.assign(refusing, {
    '~standard': { ...schema['~standard'], validate: (value: unknown) => refusing['~run']({ value }, v.getGlobalConfig()) },
  });
  return refusing;
}

/** `v.object`, refusing an array. */
/* @__NO_SIDE_EFFECTS__ */
export function object<const E extends v.ObjectEntries>(entries: E) {
  return refusingArrays(v.object(entries));
}

/** `v.looseObject`, refusing an array. */
/* @__NO_SIDE_EFFECTS__ */
export function looseObject<const E extends v.ObjectEntries>(entries: E) {
  return refusingArrays(v.looseObject(entries));
}

/**
 * `v.strictObject`, refusing an array; a key it does not take is an "Unrecognized key" (as zod
 * said it: valibot's own words, "Expected never", say it less plainly to an operator).
 */
/* @__NO_SIDE_EFFECTS__ */
export function strictObject<const E extends v.ObjectEntries>(entries: E) {
  return refusingArrays(
    v.strictObject(entries, (issue) => (issue.expected === 'never' ? `Unrecognized key: ${issue.received}` : issue.message)),
  );
}

/** `v.record`, refusing an array. */
/* @__NO_SIDE_EFFECTS__ */
export function record<
  const K extends v.BaseSchema<string, string | number | symbol, v.BaseIssue<unknown>>,
  const V extends v.BaseSchema<unknown, unknown, v.BaseIssue<unknown>>,
>(key: K, value: V) {
  return refusingArrays(v.record(key, value));
}

/** An issue's path as the keys it names (`['detail', 'imageId']`). */
export const pathOf = (issue: v.BaseIssue<unknown>): PropertyKey[] => (issue.path ?? []).map((p) => p.key as PropertyKey);
