/**
 * The packaged template in a canonical form, so that two packagings of the same serverless.yml
 * compare equal whatever the code, the time or the order of keys: keys sorted, and the parts
 * that change with every build replaced by placeholders. Those parts are:
 * - each function's artifact key (serverless/<service>/<stage>/<timestamp>/<function>.zip);
 * - each Lambda version's CodeSha256, and the hash its logical id ends with (osls names a
 *   version <Function>LambdaVersion<hash of code and configuration>), wherever it is referenced.
 * Nothing else is touched: the order of arrays (statements, actions, targets) is kept.
 *
 * test/fixtures/packaged-template.json is this form of the template of stage ci, us-east-1;
 * template-equivalence.test.ts compares the current packaging with it (npm run template:snapshot
 * rewrites it).
 */
import type { Template } from './template-rules.js';

/** Where the canonical template of stage ci is kept, relative to the project root. */
export const FIXTURE = 'test/fixtures/packaged-template.json';
/** The stage and region the fixture is packaged for. */
export const FIXTURE_STAGE = 'ci';
export const FIXTURE_REGION = 'us-east-1';

const VERSION_ID = /^(\w+LambdaVersion)\w+$/;

/** The template with keys sorted and the build's volatile parts replaced (see above). */
export function canonicalTemplate(template: Template): unknown {
  const renamed = new Map<string, string>();
  for (const [id, resource] of Object.entries(template.Resources)) {
    const match = resource.Type === 'AWS::Lambda::Version' ? VERSION_ID.exec(id) : null;
    if (match) renamed.set(id, match[1]!);
  }
  const walk = (value: unknown, key?: string): unknown => {
    if (Array.isArray(value)) return value.map((v) => walk(v));
    if (value && typeof value === 'object') {
      const entries = Object.entries(value as Record<string, unknown>).map(([k, v]) => [renamed.get(k) ?? k, walk(v, k)] as const);
      return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    if (typeof value !== 'string') return value;
    if (key === 'CodeSha256') return '<code sha256>';
    if (key === 'S3Key') return value.replace(/^(serverless\/[^/]+\/[^/]+\/)[^/]+\//, '$1<build>/');
    return renamed.get(value) ?? value;
  };
  return walk(template);
}

/** The canonical template as the fixture file holds it: 2-space JSON and a final newline. */
export function canonicalText(template: Template): string {
  return `${JSON.stringify(canonicalTemplate(template), null, 2)}\n`;
}

/**
 * Where two canonical templates differ, one line per path (at most `limit` lines): a value
 * changed, or present on one side only. Readable where a diff of the whole JSON is not.
 */
export function templateDifferences(expected: unknown, actual: unknown, limit = 60): string[] {
  const out: string[] = [];
  const show = (v: unknown): string => {
    const text = JSON.stringify(v);
    return text.length > 160 ? `${text.slice(0, 157)}...` : text;
  };
  const visit = (path: string, a: unknown, b: unknown): void => {
    if (out.length >= limit) return;
    const aObj = a !== null && typeof a === 'object';
    const bObj = b !== null && typeof b === 'object';
    if (aObj && bObj && Array.isArray(a) === Array.isArray(b)) {
      if (Array.isArray(a) && Array.isArray(b)) {
        for (let i = 0; i < Math.max(a.length, b.length); i++) {
          if (i >= a.length) out.push(`${path}[${i}]: only in the packaged template: ${show(b[i])}`);
          else if (i >= b.length) out.push(`${path}[${i}]: only in the fixture: ${show(a[i])}`);
          else visit(`${path}[${i}]`, a[i], b[i]);
        }
        return;
      }
      const ao = a as Record<string, unknown>;
      const bo = b as Record<string, unknown>;
      for (const k of [...new Set([...Object.keys(ao), ...Object.keys(bo)])].sort()) {
        const p = path ? `${path}.${k}` : k;
        if (!(k in bo)) out.push(`${p}: only in the fixture: ${show(ao[k])}`);
        else if (!(k in ao)) out.push(`${p}: only in the packaged template: ${show(bo[k])}`);
        else visit(p, ao[k], bo[k]);
      }
      return;
    }
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${path}: fixture ${show(a)}, packaged ${show(b)}`);
  };
  visit('', expected, actual);
  if (out.length >= limit) out.push(`... (first ${limit} differences shown)`);
  return out;
}
