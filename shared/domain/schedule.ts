/**
 * Schedules and their slots. A slot names the period of a schedule that one image
 * stands for ("the nightly image of 2026-11-26"). It is computed in the schedule's
 * own time zone from the time the schedule fired, so a retried, duplicated or late
 * request lands in the same slot and can never produce a second image for it.
 */
import { z } from 'zod';

export const PERIODS = ['hour', 'day', 'week', 'month'] as const;
export type Period = (typeof PERIODS)[number];

export const TimeZone = z.string().refine(isTimeZone, { message: 'not an IANA time zone, e.g. UTC or Europe/Paris' });

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

interface LocalParts {
  year: number;
  month: number; // 1-12
  day: number; // 1-31
  hour: number; // 0-23
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function localParts(instant: Date, timeZone: string): LocalParts {
  let fmt = formatters.get(timeZone);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
    });
    formatters.set(timeZone, fmt);
  }
  const parts: Record<string, number> = {};
  for (const p of fmt.formatToParts(instant)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
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
  if (Number.isNaN(instant.getTime())) throw new RangeError('slotFor: invalid date');
  const p = localParts(instant, timeZone);
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
export const Slot = z.string().regex(/^\d{4}-(\d{2}(-\d{2}(T\d{2})?)?|W\d{2})$/, 'not a slot (2026-11-26, 2026-W48, 2026-11, 2026-11-26T03)');
