/**
 * What shared/domain/schema.ts adds to valibot so that the schemas accept and refuse what they
 * did with zod: ISO times as zod read them, safe integers, numbers from variables, objects and
 * records that refuse arrays, and a strict object's unknown key said plainly.
 */
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { RotationRequest, RecoverInput } from '../../../shared/domain/incoming.js';
import { int, intFrom, isoDateTime, looseObject, numberFrom, object, pathOf, record, strictObject } from '../../../shared/domain/schema.js';

describe('isoDateTime', () => {
  it.each([
    ['2026-11-26T03:00:00Z', true, true],
    ['2026-11-26T03:00:00.123456Z', true, true],
    ['2028-02-29T03:00:00Z', true, true],
    ['2026-11-26T03:00:00+01:00', false, true],
    ['2026-11-26T03:00Z', false, false],
    ['2026-02-29T03:00:00Z', false, false],
    ['2026-11-26 03:00:00Z', false, false],
    ['2026-11-26T24:00:00Z', false, false],
    ['2026-11-26T03:00:00+24:00', false, false],
  ])('%s: in UTC %s, with an offset %s', (time, utc, offset) => {
    expect(v.is(isoDateTime(), time)).toBe(utc);
    expect(v.is(isoDateTime({ offset: true }), time)).toBe(offset);
  });
});

describe('numbers', () => {
  it('int takes safe integers only', () => {
    expect(v.is(int(), 2 ** 53 - 1)).toBe(true);
    expect(v.is(int(), 2 ** 53)).toBe(false);
    expect(v.is(int(), 1.5)).toBe(false);
    expect(v.is(int(), Number.NaN)).toBe(false);
  });

  it('intFrom and numberFrom read a variable as Number() does, within bounds', () => {
    expect(v.parse(intFrom(0, 10), '7')).toBe(7);
    expect(v.parse(intFrom(0, 10), ' 7 ')).toBe(7);
    expect(v.is(intFrom(0, 10), '11')).toBe(false);
    expect(v.is(intFrom(0, 10), '1.5')).toBe(false);
    expect(v.is(intFrom(0, 10), 'seven')).toBe(false);
    expect(v.is(intFrom(0, 10), 'Infinity')).toBe(false);
    expect(v.parse(numberFrom(0, 10), '1.5')).toBe(1.5);
    expect(v.is(numberFrom(0, 10), 'Infinity')).toBe(false);
  });
});

describe('objects and records refuse arrays, as zod did (valibot takes them)', () => {
  const cases: Array<[string, v.GenericSchema]> = [
    ['object', object({ a: v.optional(v.string()) })],
    ['looseObject', looseObject({ a: v.optional(v.string()) })],
    ['strictObject', strictObject({ a: v.optional(v.string()) })],
    ['record', record(v.string(), v.number())],
  ];
  it.each(cases)('%s', (_, schema) => {
    expect(v.is(schema, {})).toBe(true);
    const result = v.safeParse(schema, []);
    expect(result.success).toBe(false);
    expect(result.issues?.[0]?.message).toBe('Invalid type: Expected Object but received Array');
    // Through Standard Schema too, as the Powertools parser reads it.
    expect(schema['~standard'].validate([])).toMatchObject({ issues: [{ message: 'Invalid type: Expected Object but received Array' }] });
  });

  it('nested, with the path to it', () => {
    const result = v.safeParse(object({ inner: object({ a: v.optional(v.string()) }) }), { inner: [] });
    expect(result.success).toBe(false);
    expect(pathOf(result.issues![0]!)).toEqual(['inner']);
  });

  it('a rotation request [] is refused, not run as {}', () => {
    expect(v.is(RotationRequest, [])).toBe(false);
    expect(v.is(RotationRequest, {})).toBe(true);
  });

  it('a variant of objects refuses an array', () => {
    expect(v.is(RecoverInput, [])).toBe(false);
  });
});

describe('strictObject', () => {
  it('names an unknown key plainly, at its path', () => {
    const result = v.safeParse(RotationRequest, { dryrun: true });
    expect(result.success).toBe(false);
    expect(result.issues!.map((i) => [pathOf(i).join('.'), i.message])).toEqual([['dryrun', 'Unrecognized key: "dryrun"']]);
  });
});
