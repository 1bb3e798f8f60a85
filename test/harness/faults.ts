/**
 * Test harness: the faults the fidelity proxy (proxy/) can inject between the
 * service and moto, each off unless a test turns it on.
 *
 * - EC2 request throttling on token buckets by action category, sized as AWS
 *   documents them ("Request throttling for the Amazon EC2 API") and scaled by one
 *   factor for tests: `ec2Buckets(factor)`.
 * - Random faults on a seeded draw: a fraction of calls answered RequestLimitExceeded,
 *   500 InternalError / 503 Unavailable, cut without an answer (before or after moto
 *   did the work), or delayed.
 * - A crash: after the k-th call every call fails at once, as if the Lambda process
 *   had died; optionally the k-th call reaches moto but its answer is lost.
 *
 * Every injected fault is counted by kind and action. TEST-ONLY: product code never
 * knows about any of this.
 */
import { CUT_CONNECTION, ec2ErrorResponse, errorResponseFor } from './proxy/answers.js';
import type { Interceptor, ProxiedRequest, ProxiedResponse } from './proxy/chain.js';
import { isEc2Request } from './proxy/request.js';
import { serviceOf } from './sigv4.js';

// ---------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------

/** A token bucket: holds up to `capacity` tokens, refilled at `refillPerSecond`; one call takes one. */
export interface TokenBucketOptions {
  capacity: number;
  refillPerSecond: number;
}

/**
 * EC2's request-rate buckets by category. AWS: "Non-mutating", "Unfiltered and
 * unpaginated non-mutating", "Mutating", and the uncategorized actions that get a
 * bucket of their own (only those this service uses or that the issue names are
 * here); the `*Resource` buckets are the resource-rate buckets of RunInstances,
 * StartInstances, StopInstances and TerminateInstances, which lose one token per
 * instance rather than per call.
 */
export type Ec2Bucket =
  | 'nonMutating'
  | 'unfilteredNonMutating'
  | 'mutating'
  | 'runInstances'
  | 'startInstances'
  | 'terminateInstances'
  | 'createTags'
  | 'deleteTags'
  | 'deregisterImage'
  | 'deleteSnapshot'
  | 'createSnapshot'
  | 'createLaunchTemplateVersion'
  | 'modifyImageAttribute'
  | 'modifyLaunchTemplate'
  | 'modifySnapshotAttribute'
  | 'copyImage'
  | 'runInstancesResource'
  | 'startInstancesResource'
  | 'stopInstancesResource'
  | 'terminateInstancesResource';

/**
 * Capacities and refill rates from AWS's table (EC2 Developer Guide, "Request
 * throttling for the Amazon EC2 API", https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html:
 * request token bucket sizes and refill rates, resource token bucket sizes and refill rates).
 * The uncategorized actions are those the service calls; any other action takes its category's.
 */
export const EC2_DOCUMENTED_BUCKETS: Readonly<Record<Ec2Bucket, TokenBucketOptions>> = {
  nonMutating: { capacity: 100, refillPerSecond: 20 },
  unfilteredNonMutating: { capacity: 50, refillPerSecond: 10 },
  mutating: { capacity: 50, refillPerSecond: 5 },
  runInstances: { capacity: 5, refillPerSecond: 2 },
  startInstances: { capacity: 5, refillPerSecond: 2 },
  terminateInstances: { capacity: 100, refillPerSecond: 5 },
  createTags: { capacity: 100, refillPerSecond: 10 },
  deleteTags: { capacity: 100, refillPerSecond: 10 },
  deregisterImage: { capacity: 100, refillPerSecond: 5 },
  deleteSnapshot: { capacity: 100, refillPerSecond: 5 },
  createSnapshot: { capacity: 100, refillPerSecond: 5 },
  createLaunchTemplateVersion: { capacity: 100, refillPerSecond: 5 },
  modifyImageAttribute: { capacity: 100, refillPerSecond: 5 },
  modifyLaunchTemplate: { capacity: 100, refillPerSecond: 5 },
  modifySnapshotAttribute: { capacity: 100, refillPerSecond: 5 },
  copyImage: { capacity: 100, refillPerSecond: 1 },
  runInstancesResource: { capacity: 1000, refillPerSecond: 2 },
  startInstancesResource: { capacity: 1000, refillPerSecond: 2 },
  stopInstancesResource: { capacity: 1000, refillPerSecond: 20 },
  terminateInstancesResource: { capacity: 1000, refillPerSecond: 20 },
};

/**
 * Every documented bucket with capacity and refill rate multiplied by `factor`
 * (a capacity never below 1): `ec2Buckets(0.1)` is AWS at a tenth of the size.
 */
export function ec2Buckets(factor = 1): Record<Ec2Bucket, TokenBucketOptions> {
  return Object.fromEntries(
    Object.entries(EC2_DOCUMENTED_BUCKETS).map(([name, b]) => [
      name,
      { capacity: Math.max(1, Math.round(b.capacity * factor)), refillPerSecond: b.refillPerSecond * factor },
    ]),
  ) as Record<Ec2Bucket, TokenBucketOptions>;
}

/** Actions with a request bucket of their own, instead of their category's. */
const OWN_REQUEST_BUCKET: Readonly<Record<string, Ec2Bucket>> = {
  RunInstances: 'runInstances',
  StartInstances: 'startInstances',
  TerminateInstances: 'terminateInstances',
  CreateTags: 'createTags',
  DeleteTags: 'deleteTags',
  DeregisterImage: 'deregisterImage',
  DeleteSnapshot: 'deleteSnapshot',
  CreateSnapshot: 'createSnapshot',
  CreateLaunchTemplateVersion: 'createLaunchTemplateVersion',
  ModifyImageAttribute: 'modifyImageAttribute',
  ModifyLaunchTemplate: 'modifyLaunchTemplate',
  ModifySnapshotAttribute: 'modifySnapshotAttribute',
  CopyImage: 'copyImage',
};

/** Actions that also spend one resource token per instance. */
const RESOURCE_BUCKET: Readonly<Record<string, Ec2Bucket>> = {
  RunInstances: 'runInstancesResource',
  StartInstances: 'startInstancesResource',
  StopInstances: 'stopInstancesResource',
  TerminateInstances: 'terminateInstancesResource',
};

/** The non-mutating actions that use the smaller bucket when called with neither a filter nor pagination. */
const UNFILTERED_SUBSET = new Set([
  'DescribeInstances',
  'DescribeInstanceStatus',
  'DescribeNetworkInterfaces',
  'DescribeSecurityGroups',
  'DescribeSnapshots',
  'DescribeSpotInstanceRequests',
  'DescribeVolumes',
]);

export function isNonMutatingAction(action: string): boolean {
  return /^(Describe|Get|List|Search)/.test(action);
}

export function isMutatingEc2Request(request: ProxiedRequest): boolean {
  return isEc2Request(request) && !isNonMutatingAction(request.action!);
}

function isDryRun(request: ProxiedRequest): boolean {
  return request.form?.get('DryRun') === 'true';
}

/**
 * The request buckets an EC2 call may take its token from, most specific first:
 * its own (uncategorized) bucket, then its category's. A category a test did not
 * configure falls back to the general one (CreateTags to `mutating` when there is
 * no `createTags` bucket), as AWS's uncategorized actions are by definition
 * mutating or non-mutating ones.
 */
export function requestBucketsOf(request: ProxiedRequest): Ec2Bucket[] {
  const action = request.action!;
  const own = OWN_REQUEST_BUCKET[action];
  if (isNonMutatingAction(action)) {
    const form = request.form!;
    const filtered = [...form.keys()].some((k) => k.startsWith('Filter.') || k === 'MaxResults' || k === 'NextToken');
    return UNFILTERED_SUBSET.has(action) && !filtered ? ['unfilteredNonMutating', 'nonMutating'] : ['nonMutating'];
  }
  return own ? [own, 'mutating'] : ['mutating'];
}

/** Instances a RunInstances/Start/Stop/Terminate call affects: its resource-token cost. */
function instanceCount(request: ProxiedRequest): number {
  const form = request.form!;
  if (request.action === 'RunInstances') return Math.max(1, Number(form.get('MaxCount') ?? '1') || 1);
  return Math.max(1, [...form.keys()].filter((k) => /^InstanceId\.\d+$/.test(k)).length);
}

// ---------------------------------------------------------------------------
// Counting
// ---------------------------------------------------------------------------

/** The faults the proxy injects, by kind. */
export type FaultKind =
  | 'throttled' // a token bucket was empty: 503 RequestLimitExceeded
  | 'random-throttle' // FaultOptions.throttleRate: 503 RequestLimitExceeded
  | 'internal-error' // 500 InternalError
  | 'unavailable' // 503 Unavailable
  | 'cut-before' // connection destroyed; the call never reached moto
  | 'cut-after' // connection destroyed after moto did the work
  | 'delayed' // latency added
  | 'answer-lost' // the crash: this call reached moto, its answer never came back
  | 'crashed'; // the crash: refused without reaching moto

/** Counts by kind, then action. */
export class FaultLog {
  private readonly counts = new Map<FaultKind, Map<string, number>>();

  add(kind: FaultKind, action: string | undefined): void {
    const byAction = this.counts.get(kind) ?? new Map<string, number>();
    const key = action ?? '(unknown)';
    byAction.set(key, (byAction.get(key) ?? 0) + 1);
    this.counts.set(kind, byAction);
  }

  snapshot(): Partial<Record<FaultKind, Record<string, number>>> {
    return Object.fromEntries([...this.counts].map(([kind, byAction]) => [kind, Object.fromEntries(byAction)]));
  }

  total(kind: FaultKind): number {
    let n = 0;
    for (const v of this.counts.get(kind)?.values() ?? []) n += v;
    return n;
  }

  clear(): void {
    this.counts.clear();
  }
}

// ---------------------------------------------------------------------------
// Fault answers, in the protocol of the call (proxy/answers.ts)
// ---------------------------------------------------------------------------

/** Throttling as each protocol's service says it: EC2's RequestLimitExceeded (503), ThrottlingException (400) elsewhere. */
function throttledResponse(request: ProxiedRequest): ProxiedResponse {
  return isEc2Request(request)
    ? ec2ErrorResponse(503, 'RequestLimitExceeded', 'Request limit exceeded.')
    : errorResponseFor(request, 400, 'ThrottlingException', 'Rate exceeded');
}

function serverErrorResponse(request: ProxiedRequest, kind: 'internal-error' | 'unavailable'): ProxiedResponse {
  if (kind === 'internal-error') {
    return isEc2Request(request)
      ? ec2ErrorResponse(500, 'InternalError', 'An internal error has occurred.')
      : errorResponseFor(request, 500, 'InternalException', 'An internal error has occurred.');
  }
  return isEc2Request(request)
    ? ec2ErrorResponse(503, 'Unavailable', 'The server is overloaded and can\u2019t handle the request.')
    : errorResponseFor(request, 503, 'ServiceUnavailable', 'Service is unavailable.');
}

// ---------------------------------------------------------------------------
// Seeded draws
// ---------------------------------------------------------------------------

/** 32-bit FNV-1a of a string, then a murmur3 finaliser: a well-mixed seed. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** mulberry32: a small, fast, seeded PRNG giving numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded Fisher-Yates shuffle (a copy). */
export function seededShuffle<T>(items: readonly T[], seed: number): T[] {
  const random = seededRandom(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

// ---------------------------------------------------------------------------
// Token-bucket throttling
// ---------------------------------------------------------------------------

/**
 * EC2 request throttling. AWS answers a call whose bucket has no token with HTTP 503
 * RequestLimitExceeded. Buckets are given by category (see Ec2Bucket); a category
 * left out is not throttled, unless its general category is configured (see
 * requestBucketsOf). `ec2Buckets(factor)` gives them all at AWS's sizes, scaled.
 */
export interface ThrottleOptions {
  buckets?: Partial<Record<Ec2Bucket, TokenBucketOptions>>;
  /** Shortcut for `buckets.mutating`: the one bucket of every mutating action (the bench uses this alone). */
  mutating?: TokenBucketOptions;
  /**
   * 'category' (default): one bucket per category, shared by its actions. 'action':
   * each action its own bucket of its category's size, which is how AWS applies them
   * ("limits are applied to individual API actions, not API action categories").
   */
  scope?: 'category' | 'action';
}

interface Bucket {
  capacity: number;
  refillPerSecond: number;
  tokens: number;
  at: number;
  /** Tokens taken since the bucket was made (calls, or instances for a resource bucket). */
  taken: number;
}

/**
 * A live bucket as it is now: its name (with the action, scope 'action'), its size, the tokens it
 * holds, and the tokens taken from it since throttling was configured.
 */
export interface BucketState extends TokenBucketOptions {
  key: string;
  tokens: number;
  taken: number;
}

/**
 * The least time any schedule needs to get these calls through these buckets: per bucket, the
 * tokens taken between the two states beyond what it held at the first (a bucket not live then
 * was full), over its refill; the largest of those, and the bucket that sets it.
 * "If you exceed a specific bucket limit for an API ... the action of the API is limited"
 * ("Request throttling for the Amazon EC2 API", https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html).
 */
export function bucketBound(before: readonly BucketState[], after: readonly BucketState[]): { seconds: number; bucket?: string } {
  const start = new Map(before.map((b) => [b.key, b]));
  let best: { seconds: number; bucket?: string } = { seconds: 0 };
  for (const b of after) {
    const was = start.get(b.key);
    const taken = b.taken - (was?.taken ?? 0);
    const held = was?.tokens ?? b.capacity;
    const seconds = b.refillPerSecond > 0 ? Math.max(0, taken - held) / b.refillPerSecond : taken > held ? Infinity : 0;
    if (taken > 0 && seconds >= best.seconds) best = { seconds, bucket: b.key };
  }
  return best;
}

/** Token buckets, refilled continuously in real time; a call takes one token (resource buckets: one per instance). */
export class Ec2Throttle {
  private config: { buckets: Partial<Record<Ec2Bucket, TokenBucketOptions>>; scope: 'category' | 'action' } | undefined;
  private readonly live = new Map<string, Bucket>();
  private readonly admitted = new Map<string, number>();
  private readonly throttled = new Map<string, number>();

  constructor(
    config: ThrottleOptions | undefined,
    private readonly log: FaultLog,
  ) {
    this.configure(config);
  }

  /** Turns throttling on with full buckets, or off (undefined). */
  configure(config: ThrottleOptions | undefined): void {
    this.live.clear();
    if (config === undefined) {
      this.config = undefined;
      return;
    }
    const buckets = { ...config.buckets, ...(config.mutating ? { mutating: config.mutating } : {}) };
    this.config = { buckets, scope: config.scope ?? 'category' };
  }

  /** Calls that took a token, and calls refused for want of one, by action, since the last reset. */
  counts(): { admitted: Record<string, number>; throttled: Record<string, number> } {
    return { admitted: Object.fromEntries(this.admitted), throttled: Object.fromEntries(this.throttled) };
  }

  resetCounts(): void {
    this.admitted.clear();
    this.throttled.clear();
  }

  /** Every bucket a call has used since throttling was configured, refilled to now (see bucketBound). */
  buckets(): BucketState[] {
    return [...this.live.keys()].map((key) => {
      const b = this.refilled(this.live.get(key)!);
      return { key, capacity: b.capacity, refillPerSecond: b.refillPerSecond, tokens: b.tokens, taken: b.taken };
    });
  }

  private refilled(b: Bucket): Bucket {
    const now = performance.now();
    b.tokens = Math.min(b.capacity, b.tokens + ((now - b.at) / 1000) * b.refillPerSecond);
    b.at = now;
    return b;
  }

  private bucket(name: Ec2Bucket, action: string): Bucket | undefined {
    const options = this.config?.buckets[name];
    if (!options) return undefined;
    const key = this.config!.scope === 'action' ? `${name}:${action}` : name;
    let b = this.live.get(key);
    if (!b) {
      b = { ...options, tokens: options.capacity, at: performance.now(), taken: 0 };
      this.live.set(key, b);
    }
    return this.refilled(b);
  }

  readonly interceptor: Interceptor = async (request, next) => {
    if (this.config === undefined || !isEc2Request(request) || isDryRun(request)) return next(request);
    const action = request.action!;
    // The most specific bucket configured; the others are never made (nor listed by buckets()).
    const requestName = requestBucketsOf(request).find((name) => this.config!.buckets[name] !== undefined);
    const requestBucket = requestName ? this.bucket(requestName, action) : undefined;
    const resourceName = RESOURCE_BUCKET[action];
    const resourceBucket = resourceName ? this.bucket(resourceName, action) : undefined;
    const cost = resourceBucket ? instanceCount(request) : 0;
    if (requestBucket === undefined && resourceBucket === undefined) return next(request);
    // A call is refused when either of its buckets cannot pay; then neither is charged.
    if ((requestBucket && requestBucket.tokens < 1) || (resourceBucket && resourceBucket.tokens < cost)) {
      this.throttled.set(action, (this.throttled.get(action) ?? 0) + 1);
      this.log.add('throttled', action);
      return throttledResponse(request);
    }
    if (requestBucket) {
      requestBucket.tokens -= 1;
      requestBucket.taken += 1;
    }
    if (resourceBucket) {
      resourceBucket.tokens -= cost;
      resourceBucket.taken += cost;
    }
    this.admitted.set(action, (this.admitted.get(action) ?? 0) + 1);
    return next(request);
  };
}

// ---------------------------------------------------------------------------
// Random faults
// ---------------------------------------------------------------------------

/**
 * Random faults, each a fraction of the calls they may hit. Draws are seeded and
 * taken per (action, n-th call of that action), so a run repeats its faults
 * exactly when its calls come in the same order (sequential runs do), and keeps
 * their per-action pattern when concurrency reorders them.
 */
export interface FaultOptions {
  /** Seed of the draws (default 1). */
  seed?: number;
  /** Services the faults hit, by SigV4 signing name (default ['ec2']; 'events' is EventBridge). */
  services?: readonly string[];
  /** Only these actions (default: every action of those services). */
  actions?: readonly string[];
  /** Only mutating EC2 calls (not Describe*, Get*, List*, Search*). */
  mutatingOnly?: boolean;
  /** Fraction answered RequestLimitExceeded (EC2: 503) / ThrottlingException (others: 400), without reaching moto. */
  throttleRate?: number;
  /** Fraction answered 500 InternalError or 503 Unavailable (one or the other, drawn), without reaching moto. */
  serverErrorRate?: number;
  /** Fraction whose connection is destroyed without an answer. */
  cutRate?: number;
  /**
   * When a cut connection is cut: 'before' moto sees the call (default), 'after' moto
   * did the work (the answer is lost, a retry meets the result), or 'either' (drawn).
   */
  cut?: 'before' | 'after' | 'either';
  /** Latency added to every call the faults may hit: a fixed number of ms, or a [min, max] range (drawn). */
  latencyMs?: number | readonly [number, number];
}

/** The seeded draws of the n-th call of an action (the first decides its fault; see RandomFaults). */
export function faultDraws(seed: number, action: string, n: number): () => number {
  return seededRandom(hash32(`${seed}\u0000${action}\u0000${n}`));
}

export class RandomFaults {
  private options: FaultOptions | undefined;
  private readonly nth = new Map<string, number>();

  constructor(
    options: FaultOptions | undefined,
    private readonly log: FaultLog,
  ) {
    this.configure(options);
  }

  configure(options: FaultOptions | undefined): void {
    this.options = options;
    this.nth.clear();
  }

  current(): FaultOptions | undefined {
    return this.options;
  }

  private applies(request: ProxiedRequest, o: FaultOptions): boolean {
    const action = request.action;
    if (action === undefined || isDryRun(request)) return false;
    const service = isEc2Request(request) ? 'ec2' : serviceOf(request.headers);
    if (!(o.services ?? ['ec2']).includes(service ?? '')) return false;
    if (o.actions && !o.actions.includes(action)) return false;
    if (o.mutatingOnly && !isMutatingEc2Request(request)) return false;
    return true;
  }

  readonly interceptor: Interceptor = async (request, next) => {
    const o = this.options;
    if (o === undefined || !this.applies(request, o)) return next(request);
    const action = request.action!;
    const n = (this.nth.get(action) ?? 0) + 1;
    this.nth.set(action, n);
    const random = faultDraws(o.seed ?? 1, action, n);

    if (o.latencyMs !== undefined) {
      const [min, max] = typeof o.latencyMs === 'number' ? [o.latencyMs, o.latencyMs] : o.latencyMs;
      const ms = min + random() * (max - min);
      if (ms > 0) {
        this.log.add('delayed', action);
        await new Promise((resolve) => setTimeout(resolve, ms));
      }
    }

    let r = random();
    const throttle = o.throttleRate ?? 0;
    const server = o.serverErrorRate ?? 0;
    const cut = o.cutRate ?? 0;
    if (r < throttle) {
      this.log.add('random-throttle', action);
      return throttledResponse(request);
    }
    r -= throttle;
    if (r < server) {
      const kind = random() < 0.5 ? 'internal-error' : 'unavailable';
      this.log.add(kind, action);
      return serverErrorResponse(request, kind);
    }
    r -= server;
    if (r < cut) {
      const after = o.cut === 'after' || (o.cut === 'either' && random() < 0.5);
      if (!after) {
        this.log.add('cut-before', action);
        return CUT_CONNECTION;
      }
      const response = await next(request);
      await drain(response);
      this.log.add('cut-after', action);
      return CUT_CONNECTION;
    }
    return next(request);
  };
}

async function drain(response: ProxiedResponse): Promise<void> {
  if (Buffer.isBuffer(response.body)) return;
  for await (const _chunk of response.body) {
    // discard: the client never sees this answer
  }
}

// ---------------------------------------------------------------------------
// Crash
// ---------------------------------------------------------------------------

/**
 * A crash of the process making the calls (a Lambda invocation killed: out of
 * memory, timed out, its host lost). The first `after` counted calls go through;
 * from then on every call, counted or not, of any service, fails at once with a
 * non-retryable error and reaches nothing. With `answerLost`, the `after`-th call
 * itself reaches moto, but its answer never comes back (the process died waiting).
 */
export interface CrashOptions {
  after: number;
  /** Calls counted towards `after`: every call (default), EC2 calls only, or mutating EC2 calls only. */
  counting?: 'all' | 'ec2' | 'mutating';
  answerLost?: boolean;
}

export interface CrashState {
  armed: boolean;
  /** Counted calls seen since arming. */
  counted: number;
  /** True once the crash has happened. */
  crashed: boolean;
  /** Calls refused since the crash (the answer-lost call included). */
  refused: number;
}

export const CRASH_CODE = 'HarnessProcessCrashed';

export class Crash {
  private options: CrashOptions | undefined;
  private state: CrashState = { armed: false, counted: 0, crashed: false, refused: 0 };

  constructor(private readonly log: FaultLog) {}

  arm(options: CrashOptions): void {
    if (!Number.isInteger(options.after) || options.after < 0)
      throw new Error(`crash after ${options.after} calls: want a whole number >= 0`);
    if (options.answerLost && options.after < 1) throw new Error('answerLost needs a call to lose: after >= 1');
    this.options = options;
    this.state = { armed: true, counted: 0, crashed: options.after === 0, refused: 0 };
  }

  disarm(): void {
    this.options = undefined;
    this.state = { ...this.state, armed: false };
  }

  current(): CrashState {
    return { ...this.state };
  }

  private counts(request: ProxiedRequest): boolean {
    const counting = this.options?.counting ?? 'all';
    if (counting === 'all') return request.action !== undefined;
    if (counting === 'ec2') return isEc2Request(request);
    return isMutatingEc2Request(request);
  }

  private refuse(request: ProxiedRequest, kind: 'crashed' | 'answer-lost'): ProxiedResponse {
    this.state.refused++;
    this.log.add(kind, request.action);
    return errorResponseFor(request, 400, CRASH_CODE, 'The test harness crashed the calling process: nothing after this call reaches AWS.');
  }

  readonly interceptor: Interceptor = async (request, next) => {
    const o = this.options;
    if (o === undefined) return next(request);
    if (this.state.crashed) return this.refuse(request, 'crashed');
    if (!this.counts(request)) return next(request);
    this.state.counted++;
    if (this.state.counted < o.after) return next(request);
    this.state.crashed = true;
    if (!o.answerLost) return next(request); // the after-th call is answered; the next one meets the crash
    const response = await next(request);
    await drain(response);
    return this.refuse(request, 'answer-lost');
  };
}
