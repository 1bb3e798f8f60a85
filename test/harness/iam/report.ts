/**
 * Denials fail tests, and every run says how much IAM it checked.
 *
 * - Live enforcers register here; `checkDenials()` (run after each test by the vitest setup
 *   file setup.ts) fails a test for each denial it did not plant with expectDenials(n).
 * - Each enforcer adds its totals to the run's counts when closed (run-counts.ts); the run
 *   prints one line for them at the end.
 * TEST-ONLY.
 */
import { addRunCounts } from '../run-counts.js';
import type { IamEnforcer } from './enforcer.js';

const live = new Set<IamEnforcer>();

export function registerEnforcer(enforcer: IamEnforcer): void {
  live.add(enforcer);
}

/** Forgets a closed enforcer, after adding its totals to the run's (printed at the end: run-counts.ts). */
export function unregisterEnforcer(enforcer: IamEnforcer): void {
  live.delete(enforcer);
  settle(enforcer); // denials a test expected just before it closed its own enforcer count as planted
  addRunCounts('iam', { ...enforcer.counts() });
}

/**
 * The problems since the last check: denials no test planted, or a planted count not met.
 * Resets each enforcer's expectation. Empty when all is well.
 */
export function checkDenials(): string[] {
  return [...live].flatMap((enforcer) => settle(enforcer) ?? []);
}

/** Compares an enforcer's new denials with what the test expected; a problem, or undefined. */
function settle(enforcer: IamEnforcer): string | undefined {
  const all = enforcer.denials();
  const fresh = all.slice(enforcer.checkedUpTo);
  const expected = enforcer.expected ?? 0;
  enforcer.checkedUpTo = all.length;
  enforcer.expected = undefined;
  if (fresh.length === expected) {
    enforcer.planted += expected;
    return undefined;
  }
  const list = fresh.map((d) => `  ${d.function} ${d.call}: ${d.reason}`).join('\n');
  return expected === 0
    ? `IAM refused ${fresh.length} call(s) the test did not expect:\n${list}`
    : `IAM refused ${fresh.length} call(s), the test expected ${expected}:\n${list}`;
}

/** The one line CI shows. */
export function totalsLine(t: { evaluated: number; denied: number; planted: number }): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const planted = t.planted > 0 ? ` (and ${n(t.planted)} planted by tests)` : '';
  return `IAM: ${n(t.evaluated)} authorizations evaluated against the packaged roles, ${n(t.denied - t.planted)} denials${planted}`;
}

/**
 * For the sandbox and the benchmarks: prints the counts of a cloud's IAM evaluation and
 * throws if anything was refused (a benchmark of refused calls measures nothing).
 */
export function requireNoDenials(iam: IamEnforcer | undefined, label: string): void {
  if (!iam) return;
  process.stderr.write(`${label}: ${totalsLine(iam.counts())}\n`);
  const denials = iam.denials();
  if (denials.length > 0) {
    throw new Error(
      `${label}: IAM refused ${denials.length} call(s):\n${denials.map((d) => `  ${d.function} ${d.call}: ${d.reason}`).join('\n')}`,
    );
  }
}
