/**
 * When an EventBridge Scheduler cron expression fires: the clock the sandbox (scripts/sandbox.ts)
 * fires serverless.yml's schedules on. moto's Scheduler stores schedules and never fires them.
 *
 * As AWS documents it:
 * - "Cron expressions reference" (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html):
 *   six fields, minutes (0-59, `, - * /`), hours (0-23, `, - * /`), day-of-month (1-31,
 *   `, - * ? / L W`), month (1-12 or JAN-DEC, `, - * /`), day-of-week (1-7 or SUN-SAT, SUN=1,
 *   `, - * ? L #`), year (1970-2199, `, - * /`). One of day-of-month and day-of-week must be `?`.
 *   `L` is the last day of the month or of the week (Saturday), `3W` the weekday closest to the
 *   3rd, `3#2` the second Tuesday; with `#` the day-of-week field holds one expression only.
 * - "Schedule types on EventBridge Scheduler" (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html):
 *   the expression is evaluated in the schedule's time zone; on daylight saving time, a local time
 *   that does not exist (clocks forward) is skipped, and one that happens twice (clocks back) fires
 *   once. Which of the two instants is not said: here the first, when the clock first reads it.
 *
 * What AWS accepts but does not describe is refused as "cannot simulate" rather than guessed:
 * `L-n`, `LW`, `nL`, ranges that wrap (FRI-MON), and `L`, `W` or `#` inside a list.
 * Names are read case-insensitively.
 *
 * Not aws-cron-parser: it evaluates in UTC only, accepts `*` in both day fields, fires cron(0 3 30 2 ? *) on 2 March.
 * TEST-ONLY.
 */
import { utcOffset } from '../../shared/domain/schedule.js';

export interface CronFiring {
  /** The instant it fires. */
  at: Date;
  /** Wall-clock time in the schedule's time zone, HH:MM. */
  local: string;
}

/** A day's test on (year, month 1-12, day 1-31). */
type DayTest = (y: number, m: number, d: number) => boolean;

export interface Cron {
  minutes: number[];
  hours: number[];
  months: Set<number>;
  years: Set<number>;
  /** Whether the expression fires on a calendar day (its day-of-month or day-of-week, the other being `?`). */
  onDay: DayTest;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface Field {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** Whether `/` is one of the field's wildcards. */
  steps: boolean;
}

const FIELDS = {
  minutes: { name: 'minutes', min: 0, max: 59, steps: true },
  hours: { name: 'hours', min: 0, max: 23, steps: true },
  dayOfMonth: { name: 'day-of-month', min: 1, max: 31, steps: true },
  month: { name: 'month', min: 1, max: 12, names: MONTHS, steps: true },
  dayOfWeek: { name: 'day-of-week', min: 1, max: 7, names: WEEKDAYS, steps: false },
  year: { name: 'year', min: 1970, max: 2199, steps: true },
} satisfies Record<string, Field>;

/** An expression AWS refuses. */
export class InvalidCronExpression extends Error {
  constructor(expression: string, why: string) {
    super(`${expression} is not a valid EventBridge Scheduler cron expression: ${why}`);
    this.name = 'InvalidCronExpression';
  }
}

/** An expression AWS may accept but this evaluator does not (see the header). */
export class UnsimulatedCronExpression extends Error {
  constructor(expression: string, why: string) {
    super(`the harness cannot simulate the schedule expression ${expression}: ${why}`);
    this.name = 'UnsimulatedCronExpression';
  }
}

/** Reads a `cron(...)` schedule expression, or throws why not. */
export function parseCron(expression: string): Cron {
  const inner = /^cron\((.*)\)$/.exec(expression.trim())?.[1];
  if (inner === undefined) throw new UnsimulatedCronExpression(expression, 'only cron(...) expressions are evaluated');
  const fields = inner.trim().split(/\s+/);
  if (fields.length !== 6) throw new InvalidCronExpression(expression, `${fields.length} fields, where cron expressions have six`);
  const [minutes, hours, dayOfMonth, month, dayOfWeek, year] = fields as [string, string, string, string, string, string];
  const invalid = (why: string) => new InvalidCronExpression(expression, why);
  const unsimulated = (why: string) => new UnsimulatedCronExpression(expression, why);
  if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
    throw invalid('one of day-of-month and day-of-week must be ?, and only one');
  }
  const values = (field: Field, text: string) => fieldValues(field, text, invalid, unsimulated);
  return {
    minutes: values(FIELDS.minutes, minutes),
    hours: values(FIELDS.hours, hours),
    months: new Set(values(FIELDS.month, month)),
    years: new Set(values(FIELDS.year, year)),
    onDay: dayOfMonth === '?' ? dayOfWeekTest(dayOfWeek, invalid, unsimulated) : dayOfMonthTest(dayOfMonth, invalid, unsimulated),
  };
}

/**
 * Every firing of the expression on one calendar day of its time zone, in time order.
 * `day` is YYYY-MM-DD; `timeZone` an IANA name, as EventBridge Scheduler takes it.
 */
export function cronFirings(expression: string, timeZone: string, day: string): CronFiring[] {
  const cron = parseCron(expression);
  const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!date) throw new Error(`not a day, YYYY-MM-DD: ${day}`);
  const [y, m, d] = [Number(date[1]), Number(date[2]), Number(date[3])];
  const offsets = new ZoneOffsets(timeZone);
  if (!cron.years.has(y) || !cron.months.has(m) || !cron.onDay(y, m, d)) return [];
  return cron.hours.flatMap((h) =>
    cron.minutes.flatMap((min) => {
      const at = offsets.instantOf(y, m, d, h, min);
      return at === undefined ? [] : [{ at, local: `${pad(h)}:${pad(min)}` }];
    }),
  );
}

type Refusal = (why: string) => Error;

/** The values a plain field allows: `*`, numbers or names, ranges, steps, lists of them. */
function fieldValues(field: Field, text: string, invalid: Refusal, unsimulated: Refusal): number[] {
  if (text === '?') throw invalid(`? in ${field.name}, where only day-of-month and day-of-week take it`);
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const [base = '', step, extra] = part.split('/');
    if (extra !== undefined || base === '') throw invalid(`'${part}' in ${field.name}`);
    if (step !== undefined && !field.steps) throw invalid(`/ in ${field.name}, which does not take it`);
    const by = step === undefined ? 1 : number(field, step, invalid, { min: 1, max: field.max });
    let from: number;
    let to: number;
    if (base === '*') [from, to] = [field.min, field.max];
    else if (base.includes('-')) {
      const [a = '', b = '', more] = base.split('-');
      if (more !== undefined) throw invalid(`'${part}' in ${field.name}`);
      [from, to] = [value(field, a, invalid), value(field, b, invalid)];
      if (from > to) throw unsimulated(`the range ${base} in ${field.name} wraps around`);
    } else {
      from = value(field, base, invalid);
      to = step === undefined ? from : field.max;
    }
    for (let v = from; v <= to; v += by) out.add(v);
  }
  return [...out].sort((a, b) => a - b);
}

/** A number or a name of the field, in its range. */
function value(field: Field, text: string, invalid: Refusal): number {
  const named = field.names?.indexOf(text.toUpperCase()) ?? -1;
  if (named >= 0) return named + field.min;
  return number(field, text, invalid, field);
}

function number(field: Field, text: string, invalid: Refusal, range: { min: number; max: number }): number {
  if (!/^\d+$/.test(text)) throw invalid(`'${text}' in ${field.name}`);
  const n = Number(text);
  if (n < range.min || n > range.max) throw invalid(`${n} in ${field.name}, outside ${range.min}-${range.max}`);
  return n;
}

function dayOfMonthTest(text: string, invalid: Refusal, unsimulated: Refusal): DayTest {
  const field = FIELDS.dayOfMonth;
  if (text === 'L') return (y, m, d) => d === daysIn(y, m);
  const weekday = /^(\d+)W$/.exec(text);
  if (weekday) {
    const n = number(field, weekday[1]!, invalid, field);
    return (y, m, d) => d === nearestWeekday(y, m, n);
  }
  if (/[LW]/i.test(text)) throw unsimulated(`'${text}' in day-of-month (L and nW are simulated alone)`);
  const days = new Set(fieldValues(field, text, invalid, unsimulated));
  return (_y, _m, d) => days.has(d);
}

function dayOfWeekTest(text: string, invalid: Refusal, unsimulated: Refusal): DayTest {
  const field = FIELDS.dayOfWeek;
  if (text === 'L') return (y, m, d) => weekdayOf(y, m, d) === 7;
  if (text.includes('#')) {
    const nth = /^([^#,]+)#(\d)$/.exec(text);
    if (!nth) throw invalid(`'${text}' in day-of-week: with #, one expression only`);
    const weekday = value(field, nth[1]!, invalid);
    const k = number(field, nth[2]!, invalid, { min: 1, max: 5 });
    return (y, m, d) => weekdayOf(y, m, d) === weekday && Math.ceil(d / 7) === k;
  }
  if (/L/i.test(text)) throw unsimulated(`'${text}' in day-of-week (L is simulated alone)`);
  const weekdays = new Set(fieldValues(field, text, invalid, unsimulated));
  return (y, m, d) => weekdays.has(weekdayOf(y, m, d));
}

/** 1 (Sunday) to 7 (Saturday), as the day-of-week field counts. */
const weekdayOf = (y: number, m: number, d: number) => new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 1;
const daysIn = (y: number, m: number) => new Date(Date.UTC(y, m, 0)).getUTCDate();

/** The weekday (Monday to Friday) of the month closest to its n-th day; undefined when the month has no n-th day. */
function nearestWeekday(y: number, m: number, n: number): number | undefined {
  const last = daysIn(y, m);
  if (n > last) return undefined;
  const weekday = weekdayOf(y, m, n);
  if (weekday === 7) return n === 1 ? 3 : n - 1; // Saturday: the Friday before, or the Monday after the 1st
  if (weekday === 1) return n === last ? n - 2 : n + 1; // Sunday: the Monday after, or the Friday before the last day
  return n;
}

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * The instant a time zone's clock reads this wall-clock time (month 1-12): the first of two when
 * clocks go back, undefined when clocks going forward skip it. Throws a RangeError for a name
 * that is not a time zone. (For one-time `at()` schedules: moto-gaps/schedules.ts.)
 */
export function zonedInstant(
  timeZone: string,
  y: number,
  m: number,
  d: number,
  hour: number,
  minute: number,
  second = 0,
): Date | undefined {
  const at = new ZoneOffsets(timeZone).instantOf(y, m, d, hour, minute);
  return at === undefined ? undefined : new Date(at.getTime() + second * 1000);
}

/** A time zone's offsets from UTC (the domain's, as slots use them), to turn its wall-clock times into instants. */
class ZoneOffsets {
  constructor(private readonly timeZone: string) {
    // Throws a RangeError for a name that is not a time zone.
    utcOffset(0, timeZone);
  }

  /** Local time minus UTC at an instant, in ms. */
  private offsetAt(t: number): number {
    return utcOffset(t, this.timeZone);
  }

  /**
   * The instant the zone's clock reads this wall-clock time; the first of two when clocks go
   * back; undefined when clocks going forward skip it. A transition is assumed to be more than
   * 12 hours from any other, as in every zone's rules.
   */
  instantOf(y: number, m: number, d: number, hour: number, minute: number): Date | undefined {
    const wall = Date.UTC(y, m - 1, d, hour, minute);
    const halfDay = 12 * 3_600_000;
    const candidates = [this.offsetAt(wall - halfDay), this.offsetAt(wall + halfDay)]
      .map((offset) => wall - offset)
      .filter((t) => t + this.offsetAt(t) === wall)
      .sort((a, b) => a - b);
    return candidates[0] === undefined ? undefined : new Date(candidates[0]);
  }
}
