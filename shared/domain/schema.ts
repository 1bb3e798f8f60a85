/**
 * The schemas use valibot (issue 18: a schema library whose every part esbuild can leave out
 * when unused; zod/mini cost 29-43 KiB in every function's bundle, valibot about a third of
 * that). Valibot schemas implement Standard Schema, which the Powertools parser middleware takes.
 * This module holds what the schemas share that valibot does not spell the same way as before.
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
const DATE_TIME_UTC = new RegExp(`^${DATE}T${TIME}Z$`);
const DATE_TIME_OFFSET = new RegExp(`^${DATE}T${TIME}(?:Z|[+-](?:[01]\\d|2[0-3]):[0-5]\\d)$`);
/** The patterns isoDateTime checks with: the docs name a field checked with one an ISO time. */
export const ISO_DATE_TIME_PATTERNS: readonly RegExp[] = [DATE_TIME_UTC, DATE_TIME_OFFSET];

/**
 * An ISO 8601 date and time with seconds (any fraction of them) in UTC (`Z`), or with
 * `offset`, also at an offset (`+01:00`): what EventBridge and Scheduler send, and the
 * service writes. Valibot's isoTimestamp takes more forms than these, so the pattern is ours.
 */
export const isoDateTime = (options: { offset?: boolean } = {}) =>
  v.pipe(v.string(), v.regex(options.offset ? DATE_TIME_OFFSET : DATE_TIME_UTC, 'Invalid ISO datetime'));

/** A whole number a double holds exactly (beyond 2^53 integers are no longer distinct). */
export const int = () => v.pipe(v.number(), v.safeInteger());

/** A number from a string (an environment variable): `Number(input)`, then a whole number in [min, max]. */
export const intFrom = (min: number, max: number) => v.pipe(v.unknown(), v.transform(Number), int(), v.minValue(min), v.maxValue(max));

/** An issue's path as dotted keys (`detail.imageId`), as a message names the field. */
export const pathOf = (issue: v.BaseIssue<unknown>): PropertyKey[] => (issue.path ?? []).map((p) => p.key as PropertyKey);

/** A number from a string (an environment variable): `Number(input)`, then a number in [min, max]. */
export const numberFrom = (min: number, max: number) =>
  v.pipe(v.unknown(), v.transform(Number), v.number(), v.minValue(min), v.maxValue(max));

/**
 * The message of a strict object's issues: a key it does not take is an "Unrecognized key"
 * (valibot's own words, "Expected never", say it less plainly to an operator reading a rejection).
 */
export const strictKeys = (issue: v.StrictObjectIssue): string =>
  issue.expected === 'never' ? `Unrecognized key: ${issue.received}` : issue.message;
