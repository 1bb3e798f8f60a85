/**
 * The run's closing lines (printed by vitest-global-setup.ts): one per group of counters that
 * run-counts.ts added up. Apart from run-counts.ts so that what adds counters (the API model
 * guard, the IAM enforcer) and what prints them do not import each other. TEST-ONLY.
 */
import { apiModelLine } from './api-model/index.js';
import { totalsLine } from './iam/report.js';
import type { Counts } from './run-counts.js';

const n = (x: number | undefined) => (x ?? 0).toLocaleString('en-US');

/** How each group is printed. Add a group's line here. */
export const SUMMARY_LINES: Record<string, (counts: Counts) => string> = {
  iam: (c) => totalsLine({ evaluated: c.evaluated ?? 0, denied: c.denied ?? 0, planted: c.planted ?? 0 }),
  'api-model': (c) =>
    apiModelLine({
      checked: c.checked ?? 0,
      violations: c.violations ?? 0,
      planted: c.planted ?? 0,
      reported: c.reported ?? 0,
      unchecked: c.unchecked ?? 0,
    }),
};

/** The summary's lines, one per group, known groups first. */
export function summaryLines(totals: Map<string, Counts>): string[] {
  const known = Object.keys(SUMMARY_LINES).filter((g) => totals.has(g));
  const other = [...totals.keys()].filter((g) => !(g in SUMMARY_LINES)).sort();
  return [
    ...known.map((g) => SUMMARY_LINES[g]!(totals.get(g)!)),
    ...other.map(
      (g) =>
        `${g}: ${Object.entries(totals.get(g)!)
          .map(([k, v]) => `${k}=${n(v)}`)
          .join(', ')}`,
    ),
  ];
}
