/**
 * Vitest global setup: packages the service once for the run (LocalCloud's default stage,
 * cached by content: see test/infra/packaged.ts), so that test files do not race to do it.
 * The IAM totals of the run are printed with the others (run-counts.ts).
 */
import { packagedTemplate } from '../../infra/packaged.js';
import { LOCAL_CLOUD_STAGE } from './roles.js';

export default async function setup(): Promise<void> {
  const { packaged, ms } = await packagedTemplate({ stage: LOCAL_CLOUD_STAGE });
  if (packaged) console.info(`serverless package --stage ${LOCAL_CLOUD_STAGE} for the IAM roles: ${(ms / 1000).toFixed(1)} s`);
}
