import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isoWeek, isTimeZone, PERIODS, Slot, slotFor, TimeZone, type Period } from '../../../shared/domain/schedule.js';

const at = (iso: string) => new Date(iso);

describe('slotFor in UTC', () => {
  it.each<[Period, string]>([
    ['hour', '2026-11-26T03'],
    ['day', '2026-11-26'],
    ['week', '2026-W48'],
    ['month', '2026-11'],
  ])('names the %s slot of 2026-11-26T03:45Z as %s', (period, expected) => {
    // Prepare
    const instant = at('2026-11-26T03:45:10.123Z');

    // Act
    const slot = slotFor(instant, period, 'UTC');

    // Assess
    expect(slot).toBe(expected);
  });

  it('pads single-digit months, days and hours, and names midnight hour 00', () => {
    // Prepare
    const instant = at('2026-01-05T00:00:00Z');

    // Act
    const slots = PERIODS.map((p) => slotFor(instant, p, 'UTC'));

    // Assess
    expect(slots).toEqual(['2026-01-05T00', '2026-01-05', '2026-W02', '2026-01']);
  });

  it('puts the last millisecond of a day in that day and the next millisecond in the next', () => {
    // Prepare
    const last = at('2026-12-31T23:59:59.999Z');
    const next = at('2027-01-01T00:00:00.000Z');

    // Act
    const slots = [slotFor(last, 'day', 'UTC'), slotFor(next, 'day', 'UTC'), slotFor(last, 'month', 'UTC'), slotFor(next, 'month', 'UTC')];

    // Assess
    expect(slots).toEqual(['2026-12-31', '2027-01-01', '2026-12', '2027-01']);
  });
});

describe('slotFor in a time zone: the local date decides', () => {
  it.each<[string, string, Period, string]>([
    // Paris is UTC+1 in November
    ['2026-11-26T23:30:00Z', 'Europe/Paris', 'day', '2026-11-27'],
    ['2026-11-26T22:59:59Z', 'Europe/Paris', 'day', '2026-11-26'],
    ['2026-11-26T23:30:00Z', 'Europe/Paris', 'hour', '2026-11-27T00'],
    ['2026-11-30T23:30:00Z', 'Europe/Paris', 'month', '2026-12'],
    ['2026-12-31T23:30:00Z', 'Europe/Paris', 'month', '2027-01'],
    // Sunday night in UTC is already Monday, next ISO week, in Paris
    ['2026-11-29T23:30:00Z', 'Europe/Paris', 'week', '2026-W49'],
    ['2026-11-29T23:30:00Z', 'UTC', 'week', '2026-W48'],
    // New York is UTC-5 in November: early UTC morning is still the previous local day
    ['2026-11-27T03:30:00Z', 'America/New_York', 'day', '2026-11-26'],
    ['2026-11-27T05:00:00Z', 'America/New_York', 'day', '2026-11-27'],
    ['2027-01-01T04:59:59Z', 'America/New_York', 'month', '2026-12'],
    ['2026-11-30T03:00:00Z', 'America/New_York', 'week', '2026-W48'],
    // Auckland is UTC+13 in November (NZDT)
    ['2026-11-26T10:59:59Z', 'Pacific/Auckland', 'day', '2026-11-26'],
    ['2026-11-26T11:00:00Z', 'Pacific/Auckland', 'day', '2026-11-27'],
    ['2026-12-31T11:00:00Z', 'Pacific/Auckland', 'month', '2027-01'],
    // Kolkata is UTC+5:30: the half hour decides
    ['2026-11-26T18:29:59Z', 'Asia/Kolkata', 'day', '2026-11-26'],
    ['2026-11-26T18:30:00Z', 'Asia/Kolkata', 'day', '2026-11-27'],
    ['2026-11-26T03:29:59Z', 'Asia/Kolkata', 'hour', '2026-11-26T08'],
    ['2026-11-26T03:30:00Z', 'Asia/Kolkata', 'hour', '2026-11-26T09'],
    ['2026-01-04T18:30:00Z', 'Asia/Kolkata', 'week', '2026-W02'],
    ['2026-01-04T18:29:59Z', 'Asia/Kolkata', 'week', '2026-W01'],
  ])('%s in %s has %s slot %s', (iso, tz, period, expected) => {
    // Prepare
    const instant = at(iso);

    // Act
    const slot = slotFor(instant, period, tz);

    // Assess
    expect(slot).toBe(expected);
  });
});

describe('slotFor on daylight-saving transition days', () => {
  it.each<[string, string, Period, string]>([
    // Paris springs forward 2026-03-29 at 01:00Z (02:00 CET -> 03:00 CEST): local 02:xx does not exist
    ['2026-03-29T00:30:00Z', 'Europe/Paris', 'hour', '2026-03-29T01'],
    ['2026-03-29T01:30:00Z', 'Europe/Paris', 'hour', '2026-03-29T03'],
    ['2026-03-28T23:30:00Z', 'Europe/Paris', 'day', '2026-03-29'],
    ['2026-03-29T21:59:59Z', 'Europe/Paris', 'day', '2026-03-29'],
    ['2026-03-29T22:00:00Z', 'Europe/Paris', 'day', '2026-03-30'],
    // Paris falls back 2026-10-25 at 01:00Z: the day is 25 hours long
    ['2026-10-24T22:00:00Z', 'Europe/Paris', 'day', '2026-10-25'],
    ['2026-10-25T22:59:59Z', 'Europe/Paris', 'day', '2026-10-25'],
    ['2026-10-25T23:00:00Z', 'Europe/Paris', 'day', '2026-10-26'],
    // New York springs forward 2026-03-08 at 07:00Z and falls back 2026-11-01 at 06:00Z
    ['2026-03-08T06:30:00Z', 'America/New_York', 'hour', '2026-03-08T01'],
    ['2026-03-08T07:30:00Z', 'America/New_York', 'hour', '2026-03-08T03'],
    ['2026-03-08T04:59:59Z', 'America/New_York', 'day', '2026-03-07'],
    ['2026-03-09T03:59:59Z', 'America/New_York', 'day', '2026-03-08'],
    ['2026-03-09T04:00:00Z', 'America/New_York', 'day', '2026-03-09'],
    ['2026-11-02T04:59:59Z', 'America/New_York', 'day', '2026-11-01'],
    ['2026-11-02T05:00:00Z', 'America/New_York', 'day', '2026-11-02'],
    // Auckland leaves NZDT (+13) for NZST (+12) 2026-04-04 at 14:00Z, and returns 2026-09-26 at 14:00Z
    ['2026-04-03T11:00:00Z', 'Pacific/Auckland', 'day', '2026-04-04'],
    ['2026-04-05T11:59:59Z', 'Pacific/Auckland', 'day', '2026-04-05'],
    ['2026-04-05T12:00:00Z', 'Pacific/Auckland', 'day', '2026-04-06'],
    ['2026-09-26T13:30:00Z', 'Pacific/Auckland', 'hour', '2026-09-27T01'],
    ['2026-09-26T14:30:00Z', 'Pacific/Auckland', 'hour', '2026-09-27T03'],
    ['2026-09-27T10:59:59Z', 'Pacific/Auckland', 'day', '2026-09-27'],
    ['2026-09-27T11:00:00Z', 'Pacific/Auckland', 'day', '2026-09-28'],
  ])('%s in %s has %s slot %s', (iso, tz, period, expected) => {
    // Prepare
    const instant = at(iso);

    // Act
    const slot = slotFor(instant, period, tz);

    // Assess
    expect(slot).toBe(expected);
  });

  it('gives the two local 02:xx hours of a fall-back night the same hour slot (one image for the repeated hour)', () => {
    // Prepare: 02:30 CEST and, one hour later, 02:30 CET
    const first = at('2026-10-25T00:30:00Z');
    const second = at('2026-10-25T01:30:00Z');

    // Act
    const slots = [slotFor(first, 'hour', 'Europe/Paris'), slotFor(second, 'hour', 'Europe/Paris')];

    // Assess
    expect(slots).toEqual(['2026-10-25T02', '2026-10-25T02']);
  });
});

describe('ISO weeks', () => {
  it.each([
    ['2020-12-31', '2020-W53'],
    ['2021-01-03', '2020-W53'],
    ['2021-01-04', '2021-W01'],
    ['2024-12-30', '2025-W01'],
    ['2026-01-01', '2026-W01'],
    ['2025-12-29', '2026-W01'],
    ['2025-12-28', '2025-W52'],
    ['2026-12-31', '2026-W53'],
    ['2027-01-03', '2026-W53'],
    ['2027-01-04', '2027-W01'],
    ['2019-12-30', '2020-W01'],
    ['2015-12-31', '2015-W53'],
    ['2016-01-03', '2015-W53'],
    ['2008-12-29', '2009-W01'],
    ['2010-01-03', '2009-W53'],
    ['2024-02-29', '2024-W09'],
  ])('%s is in %s', (date, expected) => {
    // Prepare
    const instant = at(`${date}T12:00:00Z`);

    // Act
    const slot = slotFor(instant, 'week', 'UTC');

    // Assess
    expect(slot).toBe(expected);
  });

  it('isoWeek returns the week-numbering year, not the calendar year', () => {
    // Prepare
    const dates: Array<[number, number, number]> = [
      [2024, 12, 30],
      [2021, 1, 1],
    ];

    // Act
    const weeks = dates.map(([y, m, d]) => isoWeek(y, m, d));

    // Assess
    expect(weeks).toEqual([
      { year: 2025, week: 1 },
      { year: 2020, week: 53 },
    ]);
  });
});

describe('slotFor: invalid input', () => {
  it('throws a RangeError for an invalid date', () => {
    // Prepare
    const instant = new Date('not a date');

    // Act
    const act = () => slotFor(instant, 'day', 'UTC');

    // Assess
    expect(act).toThrow(RangeError);
    expect(act).toThrow(/invalid date/);
  });

  it('throws for an unknown time zone', () => {
    // Prepare
    const instant = at('2026-11-26T00:00:00Z');

    // Act
    const act = () => slotFor(instant, 'day', 'Mars/Olympus_Mons');

    // Assess
    expect(act).toThrow(RangeError);
  });
});

describe('isTimeZone and TimeZone', () => {
  it.each(['UTC', 'Europe/Paris', 'America/New_York', 'Pacific/Auckland', 'Asia/Kolkata', 'Etc/GMT+5'])('accepts %s', (tz) => {
    // Act
    const ok = isTimeZone(tz);

    // Assess
    expect(ok).toBe(true);
    expect(v.safeParse(TimeZone, tz).success).toBe(true);
  });

  it.each(['', 'Mars/Olympus', 'Europe/Pariss', 'not a zone', 'GMT+25'])('refuses %j', (tz) => {
    // Act
    const ok = isTimeZone(tz);

    // Assess
    expect(ok).toBe(false);
    const parsed = v.safeParse(TimeZone, tz);
    expect(parsed.success).toBe(false);
    expect(parsed.issues?.[0]?.message).toMatch(/not an IANA time zone/);
  });
});

describe('Slot schema', () => {
  it.each(['2026-11-26T03', '2026-11-26', '2026-W48', '2026-11'])('accepts %s', (slot) => {
    // Act
    const parsed = v.safeParse(Slot, slot);

    // Assess
    expect(parsed.success).toBe(true);
  });

  it.each(['2026', '2026-W4', '26-11-26', '2026-11-26T3', '2026/11/26', '2026-11-26T03:00', ''])('refuses %j', (slot) => {
    // Act
    const parsed = v.safeParse(Slot, slot);

    // Assess
    expect(parsed.success).toBe(false);
  });
});

// ---- properties --------------------------------------------------------------------------

const ZONES = [
  'UTC',
  'Europe/Paris',
  'America/New_York',
  'Pacific/Auckland',
  'Asia/Kolkata',
  'Australia/Lord_Howe',
  'Pacific/Chatham',
  'America/St_Johns',
  'Asia/Kathmandu',
];
/** Realistic instants: the scheduler fires in our era (years 1000-9999 are the ones a 4-digit slot can name). */
const instant = fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2199-12-31T23:59:59Z'), noInvalidDate: true });

/** Local wall-clock date and hour through a different formatter (sv-SE prints ISO-like `YYYY-MM-DD HH:mm:ss`). */
function localWall(d: Date, timeZone: string): { date: string; hour: string } {
  const s = d.toLocaleString('sv-SE', { timeZone, hourCycle: 'h23' });
  const [date, time] = s.split(' ');
  return { date: date!, hour: time!.slice(0, 2) };
}

/** ISO week by a different method: week 1 is the week holding January 4th. */
function isoWeekOracle(date: string): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const day = Date.UTC(y, m - 1, d);
  const mondayOfWeek1 = (year: number) => {
    const jan4 = Date.UTC(year, 0, 4);
    const dow = (new Date(jan4).getUTCDay() + 6) % 7; // Monday 0
    return jan4 - dow * 86_400_000;
  };
  let year = y + 1;
  while (mondayOfWeek1(year) > day) year--;
  const week = Math.floor((day - mondayOfWeek1(year)) / (7 * 86_400_000)) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}

describe('slotFor (properties)', () => {
  it('always produces a string the Slot schema accepts', () => {
    fc.assert(
      fc.property(instant, fc.constantFrom(...PERIODS), fc.constantFrom(...ZONES), (d, period, tz) => {
        // Act
        const slot = slotFor(d, period, tz);

        // Assess
        expect(v.safeParse(Slot, slot).success).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('agrees with an independent local-time oracle for every period', () => {
    fc.assert(
      fc.property(instant, fc.constantFrom(...ZONES), (d, tz) => {
        // Prepare
        const wall = localWall(d, tz);

        // Act
        const slots = PERIODS.map((p) => slotFor(d, p, tz));

        // Assess
        expect(slots).toEqual([`${wall.date}T${wall.hour}`, wall.date, isoWeekOracle(wall.date), wall.date.slice(0, 7)]);
      }),
      { numRuns: 1000 },
    );
  });

  it('agrees with the oracle at every quarter hour of a year of transitions, and in zones whose offsets had seconds', () => {
    // slotFor reuses one UTC offset for a whole UTC hour when it holds at both ends of it:
    // every transition of 2026 (whole, half and 45-minute offsets) and Monrovia's 1972 move
    // from -0:44:30 must still land every instant in its own local hour.
    const cases: Array<{ tz: string; from: string; days: number }> = [
      ...ZONES.map((tz) => ({ tz, from: '2026-01-01T00:00:00Z', days: 365 })),
      { tz: 'Africa/Monrovia', from: '1971-12-20T00:00:00Z', days: 40 },
    ];
    for (const { tz, from, days } of cases) {
      const oracle = new Intl.DateTimeFormat('sv-SE', {
        timeZone: tz,
        hourCycle: 'h23',
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
      });
      const start = Date.parse(from);
      const mismatches: string[] = [];
      for (let ms = start; ms < start + days * 86_400_000; ms += 900_000) {
        for (const d of [new Date(ms), new Date(ms + 899_000)]) {
          const [date, hour] = oracle.format(d).split(' ');
          if (slotFor(d, 'hour', tz) !== `${date}T${hour}`) mismatches.push(`${tz} ${d.toISOString()}`);
        }
      }
      expect(mismatches.slice(0, 5)).toEqual([]);
    }
  });

  it('gives two instants the same day slot exactly when they fall on the same local day', () => {
    fc.assert(
      fc.property(instant, fc.integer({ min: 0, max: 26 * 3_600_000 }), fc.constantFrom(...ZONES), (a, delta, tz) => {
        // Prepare
        const b = new Date(a.getTime() + delta);
        const sameLocalDay = localWall(a, tz).date === localWall(b, tz).date;

        // Act
        const same = slotFor(a, 'day', tz) === slotFor(b, 'day', tz);

        // Assess
        expect(same).toBe(sameLocalDay);
      }),
      { numRuns: 1000 },
    );
  });

  it('never goes backwards: a later instant never has an earlier slot', () => {
    fc.assert(
      fc.property(
        instant,
        fc.integer({ min: 0, max: 40 * 86_400_000 }),
        fc.constantFrom('day', 'week', 'month') as fc.Arbitrary<Period>,
        fc.constantFrom(...ZONES),
        (a, delta, period, tz) => {
          // Prepare
          const b = new Date(a.getTime() + delta);

          // Act
          const [sa, sb] = [slotFor(a, period, tz), slotFor(b, period, tz)];

          // Assess: within 1970-2199 every slot has a 4-digit year, so string order is time order
          expect(sa <= sb).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});
