/**
 * AWS's API model as the judge of every request the fidelity proxy passes on: each request is
 * read back into its operation's input (botocore's service model, per protocol) and checked for
 * required members, lengths, ranges, enums, patterns and unknown parameters. A violation is
 * answered as AWS answers it (see answer.ts), never reaches moto, and is recorded; a test that
 * did not declare it fails (test/harness/vitest-setup.ts), and the sandbox and the benchmarks
 * stop on it (assertNoApiViolations).
 * TEST-ONLY.
 */
import { gunzipSync } from 'node:zlib';
import type { Interceptor, ProxiedRequest } from '../proxy/chain.js';
import { addRunCounts } from '../run-counts.js';
import { serviceOf } from '../sigv4.js';
import { servicesSignedAs, type Operation, type ServiceModel } from './botocore.js';
import { ec2Answer, jsonAnswer, modelPath, queryAnswer, type Answer, type WireProtocol } from './answer.js';
import { decodeForm, decodeJson, decodeRestJson, formParams, routeRest, type Decoded, type RawRequest } from './deserialize.js';
import { validateInput, type Failure, type Rule } from './validate.js';

export type { Rule } from './validate.js';

/** One refused request. */
export interface ApiViolation {
  /** botocore's service name, e.g. `ec2`, `events`, `cloudwatch`. */
  service: string;
  action: string;
  /** The member that failed first, as the SDK names it: `ImageIds`, `Entries.1.Detail`. */
  member: string;
  rule: Rule;
  /** The error code answered, e.g. `InvalidParameterValue`, `ValidationException`. */
  code: string;
  message: string;
  /** Every failure of the request, `member rule` each. */
  failures: string[];
}

/** What a test expects: a number of violations, or one matcher per violation (any order). */
export type ExpectedApiViolations = number | Array<Partial<Omit<ApiViolation, 'failures'>>>;

/** The outcome of checking one request (undefined: no model for it, passed on unchecked). */
export interface CheckResult {
  service: string;
  action: string;
  failures: Failure[];
  answer?: Answer;
}

/** Reads and checks one request against botocore's model. Pure: records nothing. */
export function checkRequest(sent: RawRequest & { form?: URLSearchParams | undefined }): CheckResult | undefined {
  // The SDK compresses large bodies where the model allows it (CloudWatch PutMetricData).
  const request = /gzip/.test(String(sent.headers['content-encoding'] ?? ''))
    ? { ...sent, body: gunzipSync(sent.body), form: undefined }
    : sent;
  const signing = serviceOf(request.headers);
  if (signing === undefined) return undefined;
  const protocol = wireProtocol(request);
  if (protocol === undefined) return undefined;
  for (const model of servicesSignedAs(signing)) {
    const found = findOperation(model, protocol, request);
    if (!found) continue;
    const { op, decode } = found;
    const decoded = decode();
    const failures = validateInput(model, op.input, decoded.input);
    failures.unshift(...decoded.unknown.map((wire): Failure => ({ rule: 'unknown', path: [], value: undefined, wire })));
    const result: CheckResult = { service: model.name, action: op.name, failures };
    if (failures.length > 0) result.answer = answerFor(model, protocol, failures);
    return result;
  }
  return undefined;
}

/** The protocol the request itself speaks (CloudWatch's model lists several; the SDK picks one). */
function wireProtocol(request: RawRequest): WireProtocol | 'form' | undefined {
  const headers = request.headers;
  if (typeof headers['x-amz-target'] === 'string') return 'json';
  if (headers['smithy-protocol'] !== undefined) return undefined; // RPC v2 CBOR: not read here
  const type = String(headers['content-type'] ?? '');
  if (type.startsWith('application/x-www-form-urlencoded')) return 'form';
  if (request.method === 'GET' && new URL(request.url, 'http://x').searchParams.has('Action')) return 'form';
  return 'rest-json';
}

/**
 * The rest-json operation a signed request addresses (Lambda, Scheduler), routed by its method
 * and path through botocore's model of the service it is signed for; undefined for any other
 * request. The proxy names the action with it (proxy/server.ts) and IAM reads its URI labels.
 */
export function restOperationOf(request: RawRequest): { service: string; op: Operation; labels: Record<string, string> } | undefined {
  const signing = serviceOf(request.headers);
  if (signing === undefined || wireProtocol(request) !== 'rest-json') return undefined;
  for (const model of servicesSignedAs(signing)) {
    const speaks = model.metadata.protocol === 'rest-json' || (model.metadata.protocols ?? []).includes('rest-json' as never);
    if (!speaks) continue;
    const routed = routeRest(model, request.method, request.url);
    if (routed) return { service: model.name, ...routed };
  }
  return undefined;
}

function findOperation(
  model: ServiceModel,
  protocol: WireProtocol | 'form',
  request: RawRequest & { form?: URLSearchParams | undefined },
): { op: Operation; decode: () => Decoded } | undefined {
  const speaks = (p: string) => model.metadata.protocol === p || (model.metadata.protocols ?? []).includes(p as never);
  if (protocol === 'form') {
    if (!speaks('ec2') && !speaks('query')) return undefined;
    const params = request.form ?? formParams(request);
    const op = model.operations[params.get('Action') ?? ''];
    return op && { op, decode: () => decodeForm(model, op, params) };
  }
  if (protocol === 'json') {
    const target = String(request.headers['x-amz-target']);
    const dot = target.lastIndexOf('.');
    if (!speaks('json') || target.slice(0, dot) !== model.metadata.targetPrefix) return undefined;
    const op = model.operations[target.slice(dot + 1)];
    return op && { op, decode: () => decodeJson(model, op, request.body) };
  }
  if (!speaks('rest-json')) return undefined;
  const routed = routeRest(model, request.method, request.url);
  return routed && { op: routed.op, decode: () => decodeRestJson(model, routed.op, routed.labels, request) };
}

function answerFor(model: ServiceModel, protocol: WireProtocol | 'form', failures: Failure[]): Answer {
  if (protocol === 'form') return model.metadata.protocol === 'ec2' ? ec2Answer(model, failures) : queryAnswer(model, failures);
  return jsonAnswer(model, failures, protocol === 'rest-json');
}

const describe = (f: Failure) => `${f.rule === 'unknown' ? f.wire : modelPath(f.path)} ${f.rule}`;

// ---------------------------------------------------------------------------
// The guard a proxy runs: the interceptor, the counts, a test's expectations
// ---------------------------------------------------------------------------

export interface ApiModelCounts {
  /** Requests read and checked against a model. */
  checked: number;
  /** Requests refused. */
  violations: number;
  /** Of those, the ones tests sent on purpose (declared with expectViolations). */
  planted?: number;
  /** Of those, the ones a test did not declare, reported to it (it fails, unless it tests the check itself). */
  reported?: number;
  /** Requests no model could read (unsigned, an unknown operation, RPC v2 CBOR). */
  unchecked: number;
}

/** The counts since the proxy started, and its first violations (for a report). */
export interface ApiModelTotals extends ApiModelCounts {
  first: ApiViolation[];
}

const LIVE = Symbol.for('ami-lifecycle.api-model.live-guards');
type Registry = Set<ApiModelGuard>;
const live = (): Registry => ((globalThis as Record<symbol, Registry>)[LIVE] ??= new Set());

export class ApiModelGuard {
  private readonly recent: ApiViolation[] = [];
  private recentChecked = 0;
  private readonly totals: ApiModelCounts = { checked: 0, violations: 0, planted: 0, reported: 0, unchecked: 0 };
  private readonly first: ApiViolation[] = [];
  /** Violations not yet held against a test's expectation. */
  private pending: ApiViolation[] = [];
  private expected: ExpectedApiViolations | undefined;
  private stopped = false;

  constructor() {
    live().add(this);
  }

  readonly interceptor: Interceptor = async (request: ProxiedRequest, next) => {
    const result = checkRequest(request);
    if (result === undefined) {
      this.totals.unchecked++;
      return next(request);
    }
    this.totals.checked++;
    this.recentChecked++;
    if (result.answer === undefined) return next(request);
    const first = result.failures[0]!;
    const violation: ApiViolation = {
      service: result.service,
      action: result.action,
      member: first.rule === 'unknown' ? first.wire! : modelPath(first.path),
      rule: first.rule,
      code: result.answer.code,
      message: result.answer.message,
      failures: result.failures.map(describe),
    };
    this.totals.violations++;
    if (this.first.length < 20) this.first.push(violation);
    this.recent.push(violation);
    this.pending.push(violation);
    return result.answer.response;
  };

  /** Violations since the last resetCounts(). */
  violations(): ApiViolation[] {
    return [...this.recent];
  }

  /** Requests checked since the last resetCounts(). */
  checkedCount(): number {
    return this.recentChecked;
  }

  /** Everything since the proxy started. */
  totalsSinceStart(): ApiModelTotals {
    return { ...this.totals, first: [...this.first] };
  }

  /** Clears violations() and checkedCount(); a test's pending violations and the totals stay. */
  resetCounts(): void {
    this.recent.length = 0;
    this.recentChecked = 0;
  }

  /** Declares the violations the current test causes on purpose (replaces an earlier declaration). */
  expect(expected: ExpectedApiViolations): void {
    this.expected = expected;
  }

  /**
   * Holds the violations since the last call against the declaration, then forgets both.
   * Answers what does not match, or undefined.
   */
  settle(): string | undefined {
    const seen = this.pending;
    const expected = this.expected ?? 0;
    this.pending = [];
    this.expected = undefined;
    if (this.stopped) live().delete(this);
    const problem = mismatch(seen, expected);
    if (problem === undefined) {
      this.totals.planted = (this.totals.planted ?? 0) + seen.length;
      return undefined;
    }
    this.totals.reported = (this.totals.reported ?? 0) + seen.length;
    const lines = seen.map((v) => `  ${v.service}.${v.action}: ${v.code}: ${v.message}`);
    return `${problem}${lines.length ? `:\n${lines.join('\n')}` : ''}`;
  }

  /** Adds the totals to the run's counts (see run-counts.ts); the guard leaves the registry once settled. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    addRunCounts('api-model', { ...this.totals });
    if (this.pending.length === 0 && this.expected === undefined) live().delete(this);
  }
}

function mismatch(seen: ApiViolation[], expected: ExpectedApiViolations): string | undefined {
  if (typeof expected === 'number') {
    if (seen.length === expected) return undefined;
    return expected === 0
      ? `${seen.length} request(s) violated AWS's API model (botocore) and were refused as AWS would`
      : `expected ${expected} API model violation(s), saw ${seen.length}`;
  }
  const left = [...seen];
  for (const matcher of expected) {
    const i = left.findIndex((v) => Object.entries(matcher).every(([k, want]) => v[k as keyof ApiViolation] === want));
    if (i < 0) return `expected an API model violation matching ${JSON.stringify(matcher)}, saw ${seen.length} that did not match`;
    left.splice(i, 1);
  }
  return left.length === 0 ? undefined : `${left.length} API model violation(s) more than expected`;
}

/** Settles every live guard (see ApiModelGuard.settle); the problems found, one per guard. */
export function settleApiModelExpectations(): string[] {
  return [...live()].flatMap((guard) => guard.settle() ?? []);
}

/** One line for a run's output: `API model: 1,234 requests checked against botocore, 0 violations`. */
export function apiModelLine(counts: ApiModelCounts): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const unchecked = counts.unchecked > 0 ? ` (${n(counts.unchecked)} not checkable)` : '';
  const unseen = counts.violations - (counts.planted ?? 0) - (counts.reported ?? 0);
  const also = [
    counts.planted ? `${n(counts.planted)} planted by tests` : '',
    counts.reported ? `${n(counts.reported)} reported to the test that sent ${counts.reported === 1 ? 'it' : 'them'}` : '',
  ].filter(Boolean);
  const more = also.length > 0 ? ` (and ${also.join(', ')})` : '';
  return `API model: ${n(counts.checked)} requests checked against botocore, ${n(unseen)} violation${unseen === 1 ? '' : 's'}${more}${unchecked}`;
}

/**
 * For the sandbox and the benchmarks: prints the proxy's API model line and throws when a
 * request was refused, listing each.
 */
export function assertNoApiViolations(proxy: { apiModelTotals(): ApiModelTotals }, say: (line: string) => void): void {
  const totals = proxy.apiModelTotals();
  say(apiModelLine(totals));
  if (totals.violations === 0) return;
  const listed = totals.first.map((v) => `  ${v.service}.${v.action}: ${v.code}: ${v.message}`);
  const more = totals.violations > totals.first.length ? `\n  ... and ${totals.violations - totals.first.length} more` : '';
  throw new Error(`${totals.violations} request(s) violated AWS's API model (botocore):\n${listed.join('\n')}${more}`);
}
