/**
 * Schedules and their slots. A slot names the period of a schedule that one image
 * stands for ("the nightly image of 2026-11-26"). It is computed in the schedule's
 * own time zone from the time the schedule fired, so a retried, duplicated or late
 * request lands in the same slot and can never produce a second image for it.
 */
import * as v from 'valibot';

export const PERIODS = ['hour', 'day', 'week', 'month'] as const;
export type Period = (typeof PERIODS)[number];

export const TimeZone = v.pipe(v.string(), v.check(isTimeZone, 'not an IANA time zone, e.g. UTC or Europe/Paris'));

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export interface LocalParts {
  year: number;
  month: number; // 1-12
  day: number; // 1-31
  hour: number; // 0-23
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let fmt = formatters.get(timeZone);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, fmt);
  }
  return fmt;
}

/** Local wall-clock time of `ms` (whole seconds) in the formatter's zone, through Intl. */
function wallClock(ms: number, fmt: Intl.DateTimeFormat): Record<string, number> {
  const parts: Record<string, number> = {};
  for (const p of fmt.formatToParts(ms)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return parts;
}

/** The zone's UTC offset at `ms`, in milliseconds (local minus UTC). */
function offsetAt(ms: number, fmt: Intl.DateTimeFormat): number {
  const p = wallClock(ms, fmt);
  const local = new Date(0);
  local.setUTCFullYear(p.year!, p.month! - 1, p.day!);
  local.setUTCHours(p.hour!, p.minute!, p.second!, 0);
  return local.getTime() - Math.floor(ms / 1000) * 1000;
}

/** A time zone's UTC offset at an instant, in milliseconds (local minus UTC; whole seconds). */
export function utcOffset(ms: number, timeZone: string): number {
  return offsetAt(ms, formatterFor(timeZone));
}

const HOUR = 3_600_000;
/** Years in which the offset shortcut is used: Intl's numeric year is the proleptic one there. */
const FAST_FROM = Date.UTC(1900, 0, 1);
const FAST_UNTIL = Date.UTC(9999, 0, 1);
/** Per zone: UTC hour (ms / HOUR) -> the zone's offset throughout that hour, or null if it changes within it. */
const hourOffsets = new Map<string, Map<number, number | null>>();
const MAX_CACHED_HOURS = 200_000;

/**
 * The offset valid for the whole UTC hour of `ms`, or null when a transition falls
 * inside it. Offsets change at most once within an hour, so equal offsets at the
 * hour's first and last second mean one offset throughout. Planning rotation for
 * 100,000 images asks Intl once per distinct hour instead of once per image.
 */
function hourOffset(ms: number, timeZone: string, fmt: Intl.DateTimeFormat): number | null {
  let byHour = hourOffsets.get(timeZone);
  if (!byHour) {
    byHour = new Map();
    hourOffsets.set(timeZone, byHour);
  }
  const hour = Math.floor(ms / HOUR);
  let offset = byHour.get(hour);
  if (offset === undefined) {
    if (byHour.size >= MAX_CACHED_HOURS) byHour.clear();
    const first = offsetAt(hour * HOUR, fmt);
    offset = first === offsetAt(hour * HOUR + HOUR - 1000, fmt) ? first : null;
    byHour.set(hour, offset);
  }
  return offset;
}

function localParts(instant: Date, timeZone: string): LocalParts {
  const fmt = formatterFor(timeZone);
  const ms = instant.getTime();
  const offset = ms >= FAST_FROM && ms < FAST_UNTIL ? hourOffset(ms, timeZone, fmt) : null;
  if (offset !== null) {
    const local = new Date(ms + offset);
    return { year: local.getUTCFullYear(), month: local.getUTCMonth() + 1, day: local.getUTCDate(), hour: local.getUTCHours() };
  }
  const parts = wallClock(ms, fmt);
  return { year: parts.year!, month: parts.month!, day: parts.day!, hour: parts.hour! };
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** ISO 8601 week-numbering year and week of a calendar date. */
export function isoWeek(year: number, month: number, day: number): { year: number; week: number } {
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = date.getUTCDay() || 7; // Monday 1 .. Sunday 7
  date.setUTCDate(date.getUTCDate() + 4 - weekday); // the Thursday of this week decides the year
  const weekYear = date.getUTCFullYear();
  const jan1 = Date.UTC(weekYear, 0, 1);
  const week = Math.ceil(((date.getTime() - jan1) / 86_400_000 + 1) / 7);
  return { year: weekYear, week };
}

/**
 * The slot of `instant` for a schedule of the given period, in `timeZone`:
 * hour `2026-11-26T03`, day `2026-11-26`, week `2026-W48`, month `2026-11`.
 */
export function slotFor(instant: Date, period: Period, timeZone: string): string {
  return slotOf(localTime(instant, timeZone), period);
}

/** The local wall-clock time of `instant` in `timeZone`, as slotFor reads it: one reading serves every period. */
export function localTime(instant: Date, timeZone: string): LocalParts {
  if (Number.isNaN(instant.getTime())) throw new RangeError('slotFor: invalid date');
  return localParts(instant, timeZone);
}

/** The slot of a local time read by localTime. */
export function slotOf(p: LocalParts, period: Period): string {
  switch (period) {
    case 'hour':
      return `${p.year}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}`;
    case 'day':
      return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
    case 'week': {
      const w = isoWeek(p.year, p.month, p.day);
      return `${w.year}-W${pad(w.week)}`;
    }
    case 'month':
      return `${p.year}-${pad(p.month)}`;
  }
}

/** A slot as produced by slotFor, of any period. */
export const Slot = v.pipe(
  v.string(),
  v.regex(/^\d{4}-(\d{2}(-\d{2}(T\d{2})?)?|W\d{2})$/, 'not a slot (2026-11-26, 2026-W48, 2026-11, 2026-11-26T03)'),
);
