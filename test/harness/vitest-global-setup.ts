/**
 * vitest globalSetup: a folder per run where every worker adds its counters (run-counts.ts),
 * and one line per group printed when the run ends, e.g.
 * `API model: 48,213 requests checked against botocore, 0 violations`.
 * TEST-ONLY.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { botocoreDataDir } from './api-model/botocore.js';
import { readRunCounts, RUN_COUNTS_ENV } from './run-counts.js';
import { summaryLines } from './run-summary.js';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'ami-lifecycle-run-'));
  // The workers start after this and inherit it.
  process.env[RUN_COUNTS_ENV] = dir;
  // Found once here (it sets BOTOCORE_DATA_DIR for the workers), not by python3 in every worker.
  // A machine without botocore still runs the unit tests; the integration tests then say why they fail.
  try {
    botocoreDataDir();
  } catch {
    // left to the first proxy that needs it
  }
  return () => {
    try {
      for (const line of summaryLines(readRunCounts(dir))) console.log(line);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}
