/**
 * vitest globalSetup: a folder per run where every worker adds its counters (run-counts.ts),
 * and one line per group printed when the run ends, e.g.
 * `API model: 48,213 requests checked against botocore, 0 violations`.
 * TEST-ONLY.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRunCounts, RUN_COUNTS_ENV, summaryLines } from './run-counts.js';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'ami-lifecycle-run-'));
  // The workers start after this and inherit it.
  process.env[RUN_COUNTS_ENV] = dir;
  return () => {
    try {
      for (const line of summaryLines(readRunCounts(dir))) console.log(line);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}
