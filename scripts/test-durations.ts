/**
 * Writes test/durations.json, the seconds each test file took in a run, from that run's JSON
 * report (default .vitest-results.json, which .ci/run writes): the order the test sequencer
 * starts files in, longest first (test/harness/sequencer.ts). Run it after a full run when files
 * were added or their times changed much: `npm run test:durations [report.json]`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { PROJECT_ROOT } from '../cli/serverless-config.js';
import { DURATIONS_FILE } from '../test/harness/sequencer.js';

interface Report {
  testResults: Array<{ name: string; startTime: number; endTime: number }>;
}

const report = JSON.parse(readFileSync(resolve(process.argv[2] ?? '.vitest-results.json'), 'utf8')) as Report;
const seconds = report.testResults
  .map((file) => [relative(PROJECT_ROOT, file.name).split('\\').join('/'), Math.round((file.endTime - file.startTime) / 100) / 10] as const)
  .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1));
writeFileSync(DURATIONS_FILE, `${JSON.stringify(Object.fromEntries(seconds), null, 2)}\n`);
console.log(`${DURATIONS_FILE}: ${seconds.length} files, the longest ${seconds[0]?.[0]} (${seconds[0]?.[1]} s)`);
