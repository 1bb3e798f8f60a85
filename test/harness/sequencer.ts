/**
 * vitest's file order for the run: the longest files first, by the durations CI last measured
 * (test/durations.json), so that the two workers end together. vitest's own order falls back to
 * file size when it has no cache of earlier runs (a clean clone has none), which put the crash
 * suites, four-line files, last, to run alone at the end. A file the table does not know (a new
 * one) goes first, as vitest runs unknown files first; ties keep vitest's order.
 * `npm run test:durations` rewrites the table from a run's JSON report (.vitest-results.json).
 * TEST-ONLY.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export const DURATIONS_FILE = join(dirname(fileURLToPath(import.meta.url)), '..', 'durations.json');

export class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const vitestOrder = await super.sort(files);
    const seconds: Record<string, number> = existsSync(DURATIONS_FILE) ? JSON.parse(readFileSync(DURATIONS_FILE, 'utf8')) : {};
    const root = this.ctx.config.root;
    const known = (spec: TestSpecification) => seconds[relative(root, spec.moduleId).split('\\').join('/')];
    const position = new Map(vitestOrder.map((spec, i) => [spec, i]));
    return [...vitestOrder].sort((a, b) => {
      const [da, db] = [known(a), known(b)];
      if (da === undefined || db === undefined) {
        if (da !== db) return da === undefined ? -1 : 1;
      } else if (da !== db) return db - da;
      return position.get(a)! - position.get(b)!;
    });
  }
}
