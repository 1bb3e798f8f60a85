/**
 * Vitest global setup: packages the service once for the run (LocalCloud's default stage,
 * cached by content: see test/infra/packaged.ts), so that test files do not race to do it,
 * and at the end prints one line with the IAM totals of every LocalCloud of the run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packagedTemplate } from '../../infra/packaged.js';
import { LOCAL_CLOUD_STAGE } from './roles.js';
import { readTotals, TOTALS_ENV, totalsLine } from './report.js';

export default async function setup(): Promise<() => void> {
  const dir = mkdtempSync(join(tmpdir(), 'ami-lifecycle-iam-'));
  const file = join(dir, 'totals.jsonl');
  process.env[TOTALS_ENV] = file;
  const { packaged, ms } = await packagedTemplate({ stage: LOCAL_CLOUD_STAGE });
  if (packaged) console.info(`serverless package --stage ${LOCAL_CLOUD_STAGE} for the IAM roles: ${(ms / 1000).toFixed(1)} s`);
  return () => {
    const totals = readTotals(file);
    if (totals.clouds > 0) console.info(totalsLine(totals));
    rmSync(dir, { recursive: true, force: true });
  };
}
