/**
 * What every benchmark section returns: a table of figures (ratios measured in one
 * run, next to their absolute values) and the targets it checks. A missed target is
 * reported with its reason; targets are never lowered.
 */
import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT } from '../../cli/serverless-config.js';

export interface TargetCheck {
  /** What is measured, e.g. "bake bundle size / baseline". */
  name: string;
  /** The target as the issue states it, e.g. "≤ 1.3×". */
  target: string;
  /** The figure, formatted, e.g. "1.08×". */
  measured: string;
  met: boolean;
  /** Why, when the target is missed (or what qualifies the figure). */
  note?: string;
}

export interface BenchSection {
  /** e.g. "1. Cold start". */
  title: string;
  /** One sentence: what was run, on what. */
  method: string;
  /** Column headers and rows of the section's table (already formatted strings). */
  header: string[];
  rows: string[][];
  targets: TargetCheck[];
}

export const ratio = (value: number, base: number) => `${(value / base).toFixed(2)}×`;
export const median = (values: number[]) => quantile(values, 0.5);

/** The q-quantile (0..1) of the values, interpolated between the two nearest. */
export const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  return sorted[low]! + (sorted[Math.min(low + 1, sorted.length - 1)]! - sorted[low]!) * (at - low);
};

// ---------------------------------------------------------------------------
// A section run in a child process: LocalCloud imports the handler modules once per
// process and their clients keep the endpoint of the first cloud started, so a second
// LocalCloud in one process (another section's) would send the handlers' calls to a
// stopped proxy.
// ---------------------------------------------------------------------------

const CHILD_MARK = '@@bench-section@@ ';

/** Runs `file --child` in a fresh Node (through tsx) and answers the section it prints. */
export function sectionInChild(file: string): Promise<BenchSection> {
  return new Promise((done, fail) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', file, '--child'], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    proc.on('error', fail);
    proc.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith(CHILD_MARK));
      if (code !== 0 || line === undefined) return fail(new Error(`${basename(file)} child exited with ${code}: ${out.slice(-2000)}`));
      done(JSON.parse(line.slice(CHILD_MARK.length)) as BenchSection);
    });
  });
}

/**
 * The entry point of a section module run as a script: as the child, measure and print the
 * section for sectionInChild; run by hand, print it as JSON.
 */
export async function runSectionScript(
  moduleUrl: string,
  measure: () => Promise<BenchSection>,
  inChild: () => Promise<BenchSection>,
): Promise<void> {
  if (!process.argv[1] || pathToFileURL(process.argv[1]).href !== moduleUrl) return;
  if (process.argv.includes('--child')) {
    const section = JSON.stringify(await measure());
    // moto and the proxy are stopped; leftover sockets must not keep the child alive.
    process.stdout.write(`${CHILD_MARK}${section}\n`, () => process.exit(0));
  } else {
    console.log(JSON.stringify(await inChild(), null, 2));
  }
}
