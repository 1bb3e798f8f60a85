/**
 * Counters a test run adds up across its worker processes, printed once at the end (by
 * vitest-global-setup.ts): e.g. every proxy adds the requests it checked against AWS's API
 * model when it stops. run-summary.ts prints them. Outside a vitest run (no folder set) nothing is written.
 * TEST-ONLY.
 */
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The run's folder for counters, set by the global setup and inherited by the workers. */
export const RUN_COUNTS_ENV = 'AMI_LIFECYCLE_RUN_COUNTS_DIR';

export type Counts = Record<string, number>;

/** Adds counters to the run's totals (one small append per call, so processes do not clash). */
export function addRunCounts(group: string, counts: Counts): void {
  const dir = process.env[RUN_COUNTS_ENV];
  if (!dir) return;
  appendFileSync(join(dir, `counts-${process.pid}.jsonl`), `${JSON.stringify({ group, counts })}\n`);
}

/** Every group's counters, summed over the run's files. */
export function readRunCounts(dir: string): Map<string, Counts> {
  const totals = new Map<string, Counts>();
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()) {
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const { group, counts } = JSON.parse(line) as { group: string; counts: Counts };
      const sum = totals.get(group) ?? {};
      for (const [key, value] of Object.entries(counts)) sum[key] = (sum[key] ?? 0) + value;
      totals.set(group, sum);
    }
  }
  return totals;
}
