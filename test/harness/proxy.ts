/**
 * Test harness: an HTTP proxy placed in front of moto_server that closes the
 * moto fidelity gaps our tests depend on, injects the faults AWS produces
 * (throttling, server errors, cut connections, latency, a crash of the caller:
 * see faults.ts), and counts calls per API action and faults per kind.
 *
 * TEST-ONLY. Product code must never know this exists: it simply talks to
 * `proxy.endpoint` as if it were AWS.
 *
 * Each request is run through a chain of interceptors (see `Interceptor`);
 * the last link forwards to moto. A moto gap is closed by one named
 * interceptor, a fault is injected by another: a function that may answer by
 * itself, rewrite the request, or post-process moto's answer. The faults come
 * first in the chain, then AWS's API model (api-model/), so a refused call never
 * reaches the gap-closing ones nor moto.
 */
import { randomUUID } from 'node:crypto';
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { CreateTagsCommand, DeleteSnapshotCommand, DescribeImagesCommand, DescribeVolumesCommand, EC2Client, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { ApiModelGuard, type ApiModelTotals, type ApiViolation, type ExpectedApiViolations } from './api-model/index.js';
import { ImageReferences, type ReferenceAccess } from './image-references.js';
import {
  Crash,
  CUT_CONNECTION,
  Ec2Throttle,
  ec2ErrorResponse,
  FaultLog,
  isEc2Request,
  RandomFaults,
  type CrashOptions,
  type CrashState,
  type FaultKind,
  type FaultOptions,
  type ThrottleOptions,
} from './faults.js';
import { accountReads } from './account-reads.js';

export {
  ec2Buckets,
  ec2ErrorResponse,
  EC2_DOCUMENTED_BUCKETS,
  type CrashOptions,
  type CrashState,
  type Ec2Bucket,
  type FaultKind,
  type FaultOptions,
  type ThrottleOptions,
  type TokenBucketOptions,
} from './faults.js';

export interface FidelityProxy {
  endpoint: string;
  /** Calls seen so far, by action name (e.g. { CreateImage: 2, PutEvents: 1 }). */
  calls(): Record<string, number>;
  /**
   * Time moto took to answer, summed by action (ms; the proxy's own calls to moto
   * and the time waiting for the CreateImage lock excluded): where a slow test spends its time.
   */
  upstreamMs(): Record<string, number>;
  /** Clears the call counts, the fault counts, the upstream times, the recorded events and apiViolations(). */
  resetCalls(): void;
  /**
   * Requests refused because they violate AWS's API model (botocore's service model: required
   * members, lengths, ranges, enums, patterns, unknown parameters), since the last resetCalls().
   */
  apiViolations(): ApiViolation[];
  /** Requests checked against the API model since the last resetCalls(). */
  apiRequestsChecked(): number;
  /** Requests checked, refused and not checkable since the proxy started, and the first violations. */
  apiModelTotals(): ApiModelTotals;
  /**
   * Declares the API model violations the current test causes on purpose: a count, or one
   * matcher per violation. Any other violation fails the test (see vitest-setup.ts).
   */
  expectApiViolations(expected: ExpectedApiViolations): void;
  /** The entries EventBridge accepted from PutEvents calls made through the proxy, oldest first. */
  putEvents(): RecordedEvent[];
  /**
   * DescribeInstances reports this StateReason for the instance from now on (moto only
   * knows user-initiated ones): how a test makes AWS, not a person, stop an instance.
   */
  setStateReason(instanceId: string, code: string, message?: string): void;
  /**
   * Every instance launched from now on ends at once with this state reason (undefined: none
   * do), as EC2 ends a launch that the account or its configuration refuses (a KMS key the
   * launch may not use: Client.InternalError; a disabled key; the volume quota). moto knows
   * neither KMS key policies nor quotas.
   */
  setLaunchFailure(code: string | undefined): void;
  /**
   * Turns EC2 request throttling on (with these buckets, starting full) or off
   * (undefined). Off unless FidelityProxyOptions.throttle or this turns it on.
   * `{ buckets: ec2Buckets(factor) }` is every bucket AWS documents, scaled;
   * `{ mutating: bucket }` the mutating actions' bucket alone.
   */
  setThrottle(throttle: ThrottleOptions | undefined): void;
  /**
   * EC2 calls that took a token from a configured bucket, and calls answered
   * RequestLimitExceeded for want of one, by action, since the last resetCalls()
   * (both empty while throttling is off).
   */
  throttleCounts(): { admitted: Record<string, number>; throttled: Record<string, number> };
  /** Turns random faults on (see FaultOptions: throttling, 500/503, cut connections, latency) or off (undefined). */
  setFaults(faults: FaultOptions | undefined): void;
  /** Every fault injected since the last resetCalls(), by kind, then action. */
  faultCounts(): Partial<Record<FaultKind, Record<string, number>>>;
  /** Arms a crash of the caller after its `after`-th call (see CrashOptions); replaces an armed one. */
  crashAfter(options: CrashOptions): void;
  /** Calls go through again (the retry after a crash). */
  disarmCrash(): void;
  crashState(): CrashState;
  /** Authorizations the IAM link evaluated and calls it refused (zeros without one: see FidelityProxyOptions.iam). */
  iamCounts(): { evaluated: number; denied: number };
  /** The calls the IAM link refused, oldest first. */
  iamDenials(): IamDenial[];
  /**
   * Whether DescribeImageReferences may look at a resource type for the caller (see
   * image-references.ts); undefined: it may look at every type. Kept across resetState().
   */
  setReferenceAccess(access: ReferenceAccess | undefined): void;
  /**
   * Images created from now on report `pending` in DescribeImages until `forMs` has
   * passed on the chosen clock (real time, or a manual clock moved by
   * advanceImageClock), then `available` as moto has them; undefined: at once, as moto does.
   */
  setImagePending(options: ImagePendingOptions | undefined): void;
  /** Moves the manual image-build clock forward. */
  advanceImageClock(ms: number): void;
  /** Whether DescribeImages through the proxy reports this image pending now. */
  isImagePending(imageId: string): boolean;
  /**
   * Forgets what the proxy remembers of moto's state (AMI names, ClientTokens, state
   * reasons, image times) and disarms a crash: call it when moto is reset. Fault and
   * throttle settings stay.
   */
  resetState(): void;
  stop(): Promise<void>;
}

/** How long new images stay `pending` (see FidelityProxy.setImagePending). */
export interface ImagePendingOptions {
  forMs: number;
  /** 'real' (default): wall-clock time; 'manual': time moves only by advanceImageClock. */
  clock?: 'real' | 'manual';
}

export interface RecordedEvent {
  source: string;
  'detail-type': string;
  detail: Record<string, unknown>;
  eventBusName: string;
  time: string;
}

/** A client request, fully buffered. Interceptors may pass on a modified copy. */
export interface ProxiedRequest {
  method: string;
  /** Path and query string, as received. */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** API action (Query `Action`, JSON `X-Amz-Target` operation), if recognised. */
  action: string | undefined;
  /** Parsed body for AWS Query protocol requests (EC2, SQS-query, ...). */
  form: URLSearchParams | undefined;
}

/** An answer to the client. `body` is a stream when passed through untouched. */
export interface ProxiedResponse {
  status: number;
  headers: OutgoingHttpHeaders;
  body: Buffer | Readable;
}

export type Next = (request: ProxiedRequest) => Promise<ProxiedResponse>;

/** Per-request hook. Call `next` to continue towards moto, or answer directly. */
export type Interceptor = (request: ProxiedRequest, next: Next, context: ProxyContext) => Promise<ProxiedResponse>;

/** Shared helpers handed to interceptors. */
export interface ProxyContext {
  /** EC2 client talking to moto directly (not through the proxy, so not counted). */
  ec2For(request: ProxiedRequest): EC2Client;
  /** SSM client talking to moto directly, for the same account and region as the request. */
  ssmFor(request: ProxiedRequest): SSMClient;
}

const DEFAULT_REGION = 'us-east-1';
const DEFAULT_ACCESS_KEY_ID = 'testing';

export interface FidelityProxyOptions {
  /**
   * A simulated clock: images created through the proxy report its time as their
   * CreationDate (moto stamps the real time), so a week of nightly bakes run in
   * seconds still looks like a week.
   */
  clock?: () => Date;
  /** EC2 request throttling (see ThrottleOptions). Off by default. */
  throttle?: ThrottleOptions;
  /** Random faults (see FaultOptions). Off by default. */
  faults?: FaultOptions;
  /** Images pending for a while before available (see FidelityProxy.setImagePending). Off by default. */
  imagePending?: ImagePendingOptions;
  /** IAM evaluated on every call a function signs (test/harness/iam). Off by default. */
  iam?: IamLink;
}

/** An IAM evaluator: a link placed after the faults and before the gap-closing links, and what it found. */
export interface IamLink {
  interceptor: Interceptor;
  /**
   * Whether EC2 may use these KMS keys on behalf of the caller of a launch (what it does with the
   * keys of encrypted volumes): undefined when it may, else why not.
   */
  kmsOnBehalf?(request: ProxiedRequest, keyArns: string[]): Promise<string | undefined>;
  counts(): { evaluated: number; denied: number };
  denials(): IamDenial[];
}

export interface IamDenial {
  function: string;
  action: string;
  resource: string;
  reason: string;
}

export async function startFidelityProxy(upstream: string, options: FidelityProxyOptions = {}): Promise<FidelityProxy> {
  const upstreamUrl = new URL(upstream);
  const agent = new Agent({ keepAlive: true });
  const counts = new Map<string, number>();
  const ec2Clients = new Map<string, EC2Client>();
  const ssmClients = new Map<string, SSMClient>();
  /** One client per region and access key: moto derives the account from the access key, so reuse the caller's. */
  const clientFor = <C>(clients: Map<string, C>, make: (config: { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } }) => C) =>
    (request: ProxiedRequest): C => {
      const { region, accessKeyId } = credentialScope(request.headers);
      const key = `${region}\u0000${accessKeyId}`;
      let client = clients.get(key);
      if (client === undefined) {
        client = make({ endpoint: upstreamUrl.origin, region, credentials: { accessKeyId, secretAccessKey: 'testing' } });
        clients.set(key, client);
      }
      return client;
    };

  const context: ProxyContext = {
    ec2For: clientFor(ec2Clients, (config) => new EC2Client(config)),
    ssmFor: clientFor(ssmClients, (config) => new SSMClient(config)),
  };

  const createImageLock = new Mutex();
  const recorded: RecordedEvent[] = [];
  const imageTimes: ImageTimes = { created: new Map(), deprecated: new Map() };
  const stateReasons = new Map<string, { code: string; message: string }>();
  const launches: Launches = new Map();
  const imageKeys = new ImageKeys();
  const launchFailures = new LaunchFailures(stateReasons, imageKeys, options.iam);
  const faultLog = new FaultLog();
  const crash = new Crash(faultLog);
  const faults = new RandomFaults(options.faults, faultLog);
  const throttle = new Ec2Throttle(options.throttle, faultLog);
  const builds = new ImageBuilds(options.imagePending);
  const amiNames = new AmiNameIndex();
  const apiModel = new ApiModelGuard();
  const imageReferences = new ImageReferences();
  const interceptors: Interceptor[] = [
    // Faults first: what they refuse never reaches moto nor the gap-closing links.
    crash.interceptor,
    faults.interceptor,
    throttle.interceptor,
    // AWS's API model: a request AWS would refuse is refused here, before anything acts on it.
    apiModel.interceptor,
    // IAM: what the caller's role refuses never reaches moto either.
    ...(options.iam ? [options.iam.interceptor] : []),
    // moto's gaps
    simulatedStateReasons(stateReasons),
    idempotentByClientToken(launches, new Mutex()),
    launchFailures.interceptor,
    // The keys matter only where a launch's use of them is evaluated (IAM on).
    ...(options.iam?.kmsOnBehalf ? [imageKeys.interceptor] : []),
    imageReferences.interceptor,
    accountReads(upstreamUrl.origin),
    enableImageDeprecation(imageTimes),
    simulatedImageTimes(imageTimes, options.clock),
    builds.interceptor,
    recordPutEvents(recorded),
    serialiseCreateImage(createImageLock),
    amiNames.interceptor,
    deleteAssociatedSnapshots,
    tagSnapshotsOnCreateImage,
  ];

  const upstreamMs = new Map<string, number>();
  const forward: Next = async (request) => {
    const started = performance.now();
    const response = await forwardToUpstream(upstreamUrl, agent, request);
    const key = request.action ?? '(none)';
    const done = () => upstreamMs.set(key, (upstreamMs.get(key) ?? 0) + performance.now() - started);
    if (Buffer.isBuffer(response.body)) done();
    else response.body.once('end', done);
    return response;
  };
  const run = (index: number, request: ProxiedRequest): Promise<ProxiedResponse> => {
    const interceptor = interceptors[index];
    if (interceptor === undefined) return forward(request);
    return interceptor(request, (next) => run(index + 1, next), context);
  };

  const server = createServer((req, res) => {
    void (async () => {
      const request = await readRequest(req);
      const isMotoApi = request.url.startsWith('/moto-api/');
      if (request.action !== undefined && !isMotoApi) {
        counts.set(request.action, (counts.get(request.action) ?? 0) + 1);
      }
      const response = isMotoApi ? await forward(request) : await run(0, request);
      if (response === CUT_CONNECTION) {
        // No answer at all: the client sees its connection reset (ECONNRESET / socket hang up).
        req.socket.destroy();
        return;
      }
      sendResponse(res, response);
    })().catch((error: unknown) => {
      // A harness bug, not an emulated AWS error: make it loud and obvious.
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      console.error(`[fidelity-proxy] ${req.method} ${req.url} failed: ${message}`);
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
      }
      res.end(`fidelity proxy error: ${message}`);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls: () => Object.fromEntries(counts),
    upstreamMs: () => Object.fromEntries([...upstreamMs].map(([action, ms]) => [action, Math.round(ms)])),
    resetCalls: () => {
      counts.clear();
      upstreamMs.clear();
      recorded.length = 0;
      throttle.resetCounts();
      faultLog.clear();
      apiModel.resetCounts();
    },
    apiViolations: () => apiModel.violations(),
    apiRequestsChecked: () => apiModel.checkedCount(),
    apiModelTotals: () => apiModel.totalsSinceStart(),
    expectApiViolations: (expected) => apiModel.expect(expected),
    putEvents: () => [...recorded],
    setStateReason: (instanceId, code, message = `${code}: staged by the test harness`) => {
      stateReasons.set(instanceId, { code, message });
    },
    setLaunchFailure: (code) => launchFailures.configure(code),
    setThrottle: (config) => throttle.configure(config),
    throttleCounts: () => throttle.counts(),
    setFaults: (config) => faults.configure(config),
    faultCounts: () => faultLog.snapshot(),
    crashAfter: (config) => crash.arm(config),
    disarmCrash: () => crash.disarm(),
    crashState: () => crash.current(),
    setReferenceAccess: (access) => imageReferences.setAccess(access),
    iamCounts: () => options.iam?.counts() ?? { evaluated: 0, denied: 0 },
    iamDenials: () => options.iam?.denials() ?? [],
    setImagePending: (config) => builds.configure(config),
    advanceImageClock: (ms) => builds.advance(ms),
    isImagePending: (imageId) => builds.isPending(imageId),
    resetState: () => {
      amiNames.clear();
      launches.clear();
      stateReasons.clear();
      launchFailures.configure(undefined);
      imageKeys.clear();
      imageTimes.created.clear();
      imageTimes.deprecated.clear();
      builds.clear();
      crash.disarm();
    },
    stop: async () => {
      apiModel.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      agent.destroy();
      for (const client of ec2Clients.values()) client.destroy();
      ec2Clients.clear();
      for (const client of ssmClients.values()) client.destroy();
      ssmClients.clear();
    },
  };
}

// ---------------------------------------------------------------------------
// Observation
// ---------------------------------------------------------------------------

/**
 * Records what the service publishes, read from its own PutEvents calls and
 * moto's answers, so tests see every accepted entry without routing a copy of
 * each through an SQS queue (moto's SQS slows down as a queue grows).
 */
function recordPutEvents(recorded: RecordedEvent[]): Interceptor {
  return async (request, next) => {
    if (request.action !== 'PutEvents' || request.form !== undefined) return next(request);
    const response = await next(request);
    if (response.status !== 200) return response;
    const body = await bufferBody(response.body);
    const sent = (JSON.parse(request.body.toString('utf8')) as { Entries?: Array<Record<string, string>> }).Entries ?? [];
    const results = (JSON.parse(body.toString('utf8')) as { Entries?: Array<{ EventId?: string }> }).Entries ?? [];
    const time = new Date().toISOString();
    sent.forEach((entry, i) => {
      if (!results[i]?.EventId) return;
      recorded.push({
        source: entry.Source ?? '',
        'detail-type': entry.DetailType ?? '',
        detail: JSON.parse(entry.Detail ?? '{}') as Record<string, unknown>,
        eventBusName: entry.EventBusName ?? 'default',
        time,
      });
    });
    return { ...response, body };
  };
}

// ---------------------------------------------------------------------------
// Interceptors closing moto gaps

/**
 * Moto gap: moto ignores ClientToken, so a retried launch starts a second instance,
 * and a retried CreateLaunchTemplate whose first answer was lost meets
 * AlreadyExists (the SDK fills ClientToken in itself for these actions, the same on
 * each retry of one call). AWS answers a repeated token with the original result,
 * and a repeated token with other parameters with IdempotentParameterMismatch.
 * Calls are serialised so two concurrent calls with one token cannot both act.
 */
type Launches = Map<string, { params: string; response: ProxiedResponse }>;

/** Actions whose ClientToken the proxy honours as AWS does. */
const IDEMPOTENT_BY_CLIENT_TOKEN = new Set(['RunInstances', 'CreateLaunchTemplate', 'CreateLaunchTemplateVersion']);

function idempotentByClientToken(launches: Launches, lock: Mutex): Interceptor {
  return (request, next) => {
    const clientToken = request.form?.get('ClientToken');
    const action = request.action ?? '';
    if (!IDEMPOTENT_BY_CLIENT_TOKEN.has(action) || !isEc2Action(request, action) || !clientToken || request.form?.get('DryRun') === 'true') {
      return next(request);
    }
    const token = `${action}\u0000${clientToken}`;
    return lock.run(async () => {
      const params = [...request.form!.entries()]
        .filter(([key]) => key !== 'ClientToken')
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => `${k}=${v}`)
        .join('&');
      const earlier = launches.get(token);
      if (earlier) {
        if (earlier.params !== params) {
          return ec2ErrorResponse(400, 'IdempotentParameterMismatch', `The client token ${clientToken} was used with other parameters.`);
        }
        return { ...earlier.response, body: Buffer.from(earlier.response.body as Buffer) };
      }
      const response = await next(request);
      if (response.status !== 200) return response;
      const body = await bufferBody(response.body);
      const answered = { ...response, body };
      launches.set(token, { params, response: answered });
      return { ...answered, body: Buffer.from(body) };
    });
  };
}

/** How far ahead EnableImageDeprecation accepts a time: 10 years (see enableImageDeprecation). */
const DEPRECATION_HORIZON_MS = 10 * 365.25 * 86_400_000;

interface ImageTimes {
  /** Image id -> simulated CreationDate. */
  created: Map<string, string>;
  /** Image id -> DeprecationTime set through EnableImageDeprecation. */
  deprecated: Map<string, string>;
}

/**
 * Moto gap: EnableImageDeprecation is not implemented. As AWS documents it: seconds are
 * rounded to the nearest minute, a time in the past is refused, and so is one more than
 * 10 years from now (API reference, EnableImageDeprecation, DeprecateAt:
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EnableImageDeprecation.html;
 * the error code is not documented: InvalidParameterValue, EC2's code for a bad value).
 * The time is remembered and reported as the image's DeprecationTime in DescribeImages
 * (see simulatedImageTimes).
 */
function enableImageDeprecation(times: ImageTimes): Interceptor {
  return async (request, next, context) => {
    if (!isEc2Action(request, 'EnableImageDeprecation') || request.form === undefined) return next(request);
    const imageId = request.form.get('ImageId') ?? '';
    const requested = new Date(request.form.get('DeprecateAt') ?? '');
    const at = new Date(Math.round(requested.getTime() / 60_000) * 60_000);
    const now = Date.now();
    if (Number.isNaN(at.getTime()) || at.getTime() < now || at.getTime() > now + DEPRECATION_HORIZON_MS) {
      return ec2ErrorResponse(
        400,
        'InvalidParameterValue',
        `The deprecation time ${request.form.get('DeprecateAt')} must be in the future and at most 10 years from now.`,
      );
    }
    if (!(await imageExists(imageId, request, context))) {
      return ec2ErrorResponse(400, 'InvalidAMIID.NotFound', `The image id '[${imageId}]' does not exist`);
    }
    if (request.form.get('DryRun') === 'true') return ec2ErrorResponse(412, 'DryRunOperation', 'Request would have succeeded, but DryRun flag is set.');
    times.deprecated.set(imageId, at.toISOString());
    const body = `<?xml version="1.0" encoding="UTF-8"?><EnableImageDeprecationResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${randomUUID()}</requestId><return>true</return></EnableImageDeprecationResponse>`;
    return { status: 200, headers: { 'content-type': 'text/xml;charset=UTF-8' }, body: Buffer.from(body, 'utf8') };
  };
}

/**
 * Moto gaps: every image's CreationDate is the real time of the call, and images
 * have no DeprecationTime. With a simulated clock, images created through the proxy
 * report its time; deprecations set through the proxy are reported.
 */
function simulatedImageTimes(times: ImageTimes, clock: (() => Date) | undefined): Interceptor {
  return async (request, next) => {
    const create = isEc2Action(request, 'CreateImage');
    const describe = isEc2Action(request, 'DescribeImages');
    if (!create && !describe) return next(request);
    const response = await next(request);
    if (response.status !== 200) return response;
    let body = (await bufferBody(response.body)).toString('utf8');
    if (create && clock) {
      const imageId = /<imageId>\s*([^<\s]+)\s*<\/imageId>/i.exec(body)?.[1];
      if (imageId) times.created.set(imageId, clock().toISOString());
    }
    if (describe) {
      // In moto's answer, each image's imageId comes before its creationDate.
      body = body.replace(
        /<imageId>(ami-[0-9a-f]+)<\/imageId>([\s\S]*?)<creationDate>[^<]*<\/creationDate>/g,
        (whole, id: string, between: string) => {
          const created = times.created.get(id);
          const deprecated = times.deprecated.get(id);
          if (!created && !deprecated) return whole;
          const dep = deprecated ? `<deprecationTime>${deprecated}</deprecationTime>` : '';
          const date = created ?? /<creationDate>([^<]*)<\/creationDate>/.exec(whole)![1];
          return `<imageId>${id}</imageId>${dep}${between}<creationDate>${date}</creationDate>`;
        },
      );
    }
    const headers = { ...response.headers };
    delete headers['content-length'];
    return { ...response, headers, body: Buffer.from(body, 'utf8') };
  };
}
// ---------------------------------------------------------------------------

/**
 * moto stamps every stop and termination `Client.UserInitiatedShutdown`. Instances
 * given a reason with setStateReason report it instead, so that failures by AWS
 * (`Server.InternalError`, spot interruptions) can be staged. In moto's answer an
 * instance's stateReason comes before its own instanceId.
 */
function simulatedStateReasons(reasons: Map<string, { code: string; message: string }>): Interceptor {
  return async (request, next) => {
    if (!isEc2Action(request, 'DescribeInstances') || reasons.size === 0) return next(request);
    const response = await next(request);
    if (response.status !== 200) return response;
    const body = (await bufferBody(response.body))
      .toString('utf8')
      .replace(
        /<stateReason>(?:(?!<stateReason)[\s\S])*?<\/stateReason>((?:(?!<stateReason)[\s\S])*?)<instanceId>(i-[0-9a-f]+)<\/instanceId>/g,
        (whole, between: string, id: string) => {
          const reason = reasons.get(id);
          if (!reason) return whole;
          return `<stateReason><code>${reason.code}</code><message>${reason.message}</message></stateReason>${between}<instanceId>${id}</instanceId>`;
        },
      );
    const headers = { ...response.headers };
    delete headers['content-length'];
    return { ...response, headers, body: Buffer.from(body, 'utf8') };
  };
}

/**
 * A launch that EC2 accepts and then ends within seconds, as it does when the account or its
 * configuration refuses it: "Client.InternalError: Client error on launch" for a KMS key the
 * caller may not use, Client.InvalidKMSKey.InvalidState, Client.VolumeLimitExceeded (EC2 User
 * Guide, "Troubleshoot Amazon EC2 instance launch issues",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/troubleshooting-launch.html). The
 * RunInstances answer is the usual one; the instances are terminated in moto straight after,
 * with the reason reported by simulatedStateReasons.
 */
class LaunchFailures {
  private code: string | undefined;

  constructor(
    private readonly reasons: Map<string, { code: string; message: string }>,
    private readonly keys: ImageKeys,
    private readonly iam: IamLink | undefined,
  ) {}

  configure(code: string | undefined): void {
    this.code = code;
  }

  /**
   * Why EC2 would end this launch at once, if it would: a staged refusal, or a KMS key of the
   * image's volumes that EC2 may not use on the caller's behalf (its role decides).
   */
  private async refusal(request: ProxiedRequest): Promise<{ code: string; message: string } | undefined> {
    if (this.code !== undefined) return { code: this.code, message: `${this.code}: the launch was refused (staged by the test harness)` };
    const keys = this.keys.of(request.form?.get('ImageId') ?? '');
    if (keys.length === 0 || !this.iam?.kmsOnBehalf) return undefined;
    const denied = await this.iam.kmsOnBehalf(request, keys);
    return denied ? { code: 'Client.InternalError', message: `Client.InternalError: Client error on launch (${denied})` } : undefined;
  }

  readonly interceptor: Interceptor = async (request, next, context) => {
    if (!isEc2Action(request, 'RunInstances') || request.form?.get('DryRun') === 'true') return next(request);
    const refusal = await this.refusal(request);
    if (refusal === undefined) return next(request);
    const response = await next(request);
    if (response.status !== 200) return response;
    const body = await bufferBody(response.body);
    const ids = [...body.toString('utf8').matchAll(/<instanceId>(i-[0-9a-f]+)<\/instanceId>/g)].map((m) => m[1]!);
    if (ids.length > 0) {
      await context.ec2For(request).send(new TerminateInstancesCommand({ InstanceIds: ids }));
      for (const id of ids) this.reasons.set(id, refusal);
    }
    return { ...response, body };
  };
}

/**
 * Moto gap: CreateImage of an instance whose volumes are encrypted with a KMS key gives
 * unencrypted snapshots. In AWS the image's snapshots keep their volumes' encryption and key,
 * and a launch from it makes EC2 use that key on the caller's behalf. Remembers, per image
 * created through the proxy, the KMS keys of its instance's encrypted volumes (for
 * LaunchFailures).
 */
class ImageKeys {
  private readonly byImage = new Map<string, string[]>();

  of(imageId: string): string[] {
    return this.byImage.get(imageId) ?? [];
  }

  clear(): void {
    this.byImage.clear();
  }

  readonly interceptor: Interceptor = async (request, next, context) => {
    if (!isEc2Action(request, 'CreateImage') || request.form?.get('DryRun') === 'true') return next(request);
    const response = await next(request);
    if (response.status !== 200) return response;
    const body = await bufferBody(response.body);
    const imageId = /<imageId>\s*([^<\s]+)\s*<\/imageId>/i.exec(body.toString('utf8'))?.[1];
    const instanceId = request.form!.get('InstanceId');
    if (imageId && instanceId) {
      const { Volumes = [] } = await context.ec2For(request).send(
        new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [instanceId] }] }),
      );
      const keys = [...new Set(Volumes.flatMap((v) => (v.Encrypted && v.KmsKeyId ? [v.KmsKeyId] : [])))];
      if (keys.length > 0) this.byImage.set(imageId, keys);
    }
    return { ...response, body };
  };
}

/**
 * Runs CreateImage calls one at a time, so that two concurrent CreateImage
 * calls with the same Name cannot both pass `rejectDuplicateAmiName`'s check
 * before either image exists.
 */
function serialiseCreateImage(lock: Mutex): Interceptor {
  return (request, next) => {
    if (!isEc2Action(request, 'CreateImage')) return next(request);
    return lock.run(() => next(request));
  };
}

/**
 * Moto gap: moto accepts CreateImage with a Name that an existing AMI of the
 * same account already uses. AWS rejects it with HTTP 400
 * InvalidAMIName.Duplicate. Requires `serialiseCreateImage` before it.
 *
 * The names are kept in an index per account (region and access key), read from
 * moto once and kept up to date by the CreateImage and DeregisterImage calls that
 * pass: listing every image on every CreateImage made a 1,000-instance night
 * quadratic in moto. A name found in the index is checked against moto before it
 * is refused (so an image deregistered behind the proxy's back, or a moto reset,
 * frees its name); an image created behind the proxy's back after the index was
 * read is not seen: resetState() drops the index.
 */
class AmiNameIndex {
  private readonly accounts = new Map<string, Promise<Map<string, string>>>();

  clear(): void {
    this.accounts.clear();
  }

  private names(request: ProxiedRequest, context: ProxyContext): Promise<Map<string, string>> {
    const { region, accessKeyId } = credentialScope(request.headers);
    const key = `${region}\u0000${accessKeyId}`;
    let names = this.accounts.get(key);
    if (names === undefined) {
      names = (async () => {
        // Owners=['self'] maps to the caller's account in moto; moto answers in one page.
        const { Images = [] } = await context.ec2For(request).send(new DescribeImagesCommand({ Owners: ['self'] }));
        return new Map(Images.flatMap((i) => (i.Name && i.ImageId && i.State !== 'deregistered' ? [[i.Name, i.ImageId] as const] : [])));
      })();
      names.catch(() => this.accounts.delete(key));
      this.accounts.set(key, names);
    }
    return names;
  }

  readonly interceptor: Interceptor = async (request, next, context) => {
    if (isEc2Action(request, 'DeregisterImage') && request.form?.get('DryRun') !== 'true') {
      const response = await next(request);
      const imageId = request.form!.get('ImageId');
      if (response.status === 200 && imageId) {
        const names = await this.names(request, context);
        for (const [name, id] of names) if (id === imageId) names.delete(name);
      }
      return response;
    }
    if (!isEc2Action(request, 'CreateImage') || request.form === undefined) return next(request);
    if (request.form.get('DryRun') === 'true') return next(request); // a dry run creates nothing
    const name = request.form.get('Name');
    if (name === null) return next(request);

    const names = await this.names(request, context);
    const existing = names.get(name);
    if (existing !== undefined) {
      if (await imageExists(existing, request, context)) {
        return ec2ErrorResponse(400, 'InvalidAMIName.Duplicate', `AMI name ${name} is already in use by AMI ${existing}`);
      }
      names.delete(name);
    }
    const response = await next(request);
    if (response.status !== 200) return response;
    const body = await bufferBody(response.body);
    const imageId = /<imageId>\s*([^<\s]+)\s*<\/imageId>/i.exec(body.toString('utf8'))?.[1];
    if (imageId !== undefined) names.set(name, imageId);
    return { ...response, body };
  };
}

/**
 * Moto gap: images are `available` the moment CreateImage answers. AWS builds them
 * for minutes first. With ImagePendingOptions, DescribeImages reports each image
 * created through the proxy `pending` until its build time has passed on the
 * chosen clock. (moto's `state` filter still sees moto's own state.)
 */
class ImageBuilds {
  private options: ImagePendingOptions | undefined;
  private manualNow = 0;
  /** Image id -> time (on the build clock) it was created. */
  private readonly created = new Map<string, number>();

  constructor(options: ImagePendingOptions | undefined) {
    this.configure(options);
  }

  configure(options: ImagePendingOptions | undefined): void {
    this.options = options;
  }

  advance(ms: number): void {
    this.manualNow += ms;
  }

  clear(): void {
    this.created.clear();
  }

  private now(): number {
    return this.options?.clock === 'manual' ? this.manualNow : Date.now();
  }

  isPending(imageId: string): boolean {
    if (this.options === undefined) return false;
    const at = this.created.get(imageId);
    return at !== undefined && this.now() - at < this.options.forMs;
  }

  readonly interceptor: Interceptor = async (request, next) => {
    const create = isEc2Action(request, 'CreateImage') && request.form?.get('DryRun') !== 'true';
    const describe = isEc2Action(request, 'DescribeImages');
    if (!create && !(describe && this.created.size > 0 && this.options !== undefined)) return next(request);
    const response = await next(request);
    if (response.status !== 200) return response;
    let body = (await bufferBody(response.body)).toString('utf8');
    if (create) {
      const imageId = /<imageId>\s*([^<\s]+)\s*<\/imageId>/i.exec(body)?.[1];
      if (imageId) this.created.set(imageId, this.now());
      return { ...response, body: Buffer.from(body, 'utf8') };
    }
    // In moto's answer, each image's imageId comes before its imageState.
    body = body.replace(
      /<imageId>(ami-[0-9a-f]+)<\/imageId>((?:(?!<imageId>)[\s\S])*?)<imageState>available<\/imageState>/g,
      (whole, id: string, between: string) =>
        this.isPending(id) ? `<imageId>${id}</imageId>${between}<imageState>pending</imageState>` : whole,
    );
    const headers = { ...response.headers };
    delete headers['content-length'];
    return { ...response, headers, body: Buffer.from(body, 'utf8') };
  };
}

/**
 * Moto gap: moto ignores DeregisterImage's DeleteAssociatedSnapshots and leaves
 * the image's snapshots behind. AWS deletes them with the image, except a
 * snapshot another AMI still uses (here: moto refuses it as InvalidSnapshot.InUse,
 * and it stays, as in AWS).
 */
const deleteAssociatedSnapshots: Interceptor = async (request, next, context) => {
  const form = request.form;
  if (!isEc2Action(request, 'DeregisterImage') || form?.get('DeleteAssociatedSnapshots') !== 'true' || form.get('DryRun') === 'true') {
    return next(request);
  }
  const imageId = form.get('ImageId') ?? '';
  const ec2 = context.ec2For(request);
  const { Images = [] } = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] })).catch(() => ({ Images: [] }));
  const snapshotIds = Images.flatMap((i) => i.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : []));
  const response = await next(request);
  if (response.status !== 200) return response;
  for (const SnapshotId of snapshotIds) {
    await ec2.send(new DeleteSnapshotCommand({ SnapshotId })).catch((error: { name?: string }) => {
      if (error.name !== 'InvalidSnapshot.InUse' && error.name !== 'InvalidSnapshot.NotFound') throw error;
    });
  }
  return response;
};

/**
 * Moto gap: moto answers HTTP 500 (NotImplementedError) to a CreateImage that
 * carries `TagSpecification.N.ResourceType=snapshot`. AWS tags the AMI's
 * snapshots at creation. We strip the snapshot tag specifications, let moto
 * create the image, then tag the image's snapshots with the stripped tags.
 */
const tagSnapshotsOnCreateImage: Interceptor = async (request, next, context) => {
  if (!isEc2Action(request, 'CreateImage') || request.form === undefined) return next(request);
  const { form, snapshotTags } = stripSnapshotTagSpecifications(request.form);
  if (form === request.form) return next(request); // no snapshot TagSpecification

  const response = await next(withForm(request, form));
  if (response.status !== 200) return response;

  const body = await bufferBody(response.body);
  const imageId = /<imageId>\s*([^<\s]+)\s*<\/imageId>/i.exec(body.toString('utf8'))?.[1];
  if (imageId === undefined) {
    throw new Error(`CreateImage answered 200 without an imageId: ${body.toString('utf8')}`);
  }
  const ec2 = context.ec2For(request);
  const { Images = [] } = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
  const snapshotIds = Images.flatMap((image) => image.BlockDeviceMappings ?? [])
    .map((mapping) => mapping.Ebs?.SnapshotId)
    .filter((id): id is string => id !== undefined);
  if (snapshotIds.length > 0) {
    await ec2.send(new CreateTagsCommand({ Resources: snapshotIds, Tags: snapshotTags }));
  }
  return { ...response, body };
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

interface Tag {
  Key: string;
  Value: string;
}

/**
 * Removes every `TagSpecification.N.*` group whose ResourceType is snapshot,
 * renumbering the remaining groups 1..k, and returns the removed tags.
 * Other parameters keep their order. Returns the very same `form` object when
 * there is nothing to remove.
 */
export function stripSnapshotTagSpecifications(form: URLSearchParams): {
  form: URLSearchParams;
  snapshotTags: Tag[];
} {
  const groups = new Map<number, Array<[string, string]>>(); // N -> [suffix, value]
  const others: Array<[string, string]> = [];
  for (const [key, value] of form) {
    const match = /^TagSpecification\.(\d+)\.(.+)$/.exec(key);
    if (match?.[1] === undefined || match[2] === undefined) {
      others.push([key, value]);
      continue;
    }
    const index = Number(match[1]);
    const group = groups.get(index) ?? [];
    group.push([match[2], value]);
    groups.set(index, group);
  }

  const snapshotTags: Tag[] = [];
  const kept: Array<Array<[string, string]>> = [];
  for (const [, group] of [...groups].sort(([a], [b]) => a - b)) {
    const resourceType = group.find(([suffix]) => suffix === 'ResourceType')?.[1];
    if (resourceType === 'snapshot') snapshotTags.push(...tagsOf(group));
    else kept.push(group);
  }
  if (kept.length === groups.size) return { form, snapshotTags };

  const rewritten = new URLSearchParams(others);
  kept.forEach((group, i) => {
    for (const [suffix, value] of group) rewritten.append(`TagSpecification.${i + 1}.${suffix}`, value);
  });
  return { form: rewritten, snapshotTags };
}

/** `Tag.M.Key` / `Tag.M.Value` pairs of one TagSpecification group. */
function tagsOf(group: Array<[string, string]>): Tag[] {
  const byIndex = new Map<number, Partial<Tag>>();
  for (const [suffix, value] of group) {
    const match = /^Tag\.(\d+)\.(Key|Value)$/.exec(suffix);
    if (match?.[1] === undefined || match[2] === undefined) continue;
    const tag = byIndex.get(Number(match[1])) ?? {};
    if (match[2] === 'Key') tag.Key = value;
    else tag.Value = value;
    byIndex.set(Number(match[1]), tag);
  }
  return [...byIndex]
    .sort(([a], [b]) => a - b)
    .flatMap(([, tag]) => (tag.Key === undefined ? [] : [{ Key: tag.Key, Value: tag.Value ?? '' }]));
}

/** Whether moto still has this image (not deregistered). */
async function imageExists(imageId: string, request: ProxiedRequest, context: ProxyContext): Promise<boolean> {
  try {
    const { Images = [] } = await context.ec2For(request).send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    return Images.some((i) => i.ImageId === imageId && i.State !== 'deregistered');
  } catch (error) {
    if ((error as { name?: string }).name?.startsWith('InvalidAMIID.')) return false;
    throw error;
  }
}

function isEc2Action(request: ProxiedRequest, action: string): boolean {
  return request.action === action && isEc2Request(request);
}

function withForm(request: ProxiedRequest, form: URLSearchParams): ProxiedRequest {
  return { ...request, form, body: Buffer.from(form.toString(), 'utf8') };
}

/** SigV4 credential scope: `Credential=AKID/date/region/service/aws4_request`. */
function credentialScope(headers: IncomingHttpHeaders): {
  accessKeyId: string;
  region: string;
  service: string | undefined;
} {
  const match = /Credential=([^/,\s]+)\/[^/]+\/([^/]+)\/([^/]+)\//.exec(headers.authorization ?? '');
  return {
    accessKeyId: match?.[1] ?? DEFAULT_ACCESS_KEY_ID,
    region: match?.[2] ?? DEFAULT_REGION,
    service: match?.[3],
  };
}

async function readRequest(req: IncomingMessage): Promise<ProxiedRequest> {
  const body = await bufferBody(req);
  const url = req.url ?? '/';
  const contentType = req.headers['content-type'] ?? '';
  const form = contentType.startsWith('application/x-www-form-urlencoded')
    ? new URLSearchParams(body.toString('utf8'))
    : undefined;
  return { method: req.method ?? 'GET', url, headers: req.headers, body, form, action: actionOf(req.headers, url, form) };
}

/** The API operation name, for counting and for interceptors to match on. */
function actionOf(headers: IncomingHttpHeaders, url: string, form: URLSearchParams | undefined): string | undefined {
  // JSON protocols: X-Amz-Target: AWSEvents.PutEvents / AmazonSQS.SendMessage
  const target = headers['x-amz-target'];
  if (typeof target === 'string' && target !== '') return target.slice(target.lastIndexOf('.') + 1);
  // Query protocol: Action in the form body (or, for GETs, the query string).
  const fromForm = form?.get('Action');
  if (fromForm) return fromForm;
  const fromQuery = new URL(url, 'http://proxy').searchParams.get('Action');
  if (fromQuery) return fromQuery;
  // Smithy RPC v2 CBOR: POST /service/<Service>/operation/<Operation>
  return /^\/service\/[^/]+\/operation\/([^/?]+)/.exec(url)?.[1];
}

/** Hop-by-hop headers, which a proxy must not pass on. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function endToEndHeaders<T extends IncomingHttpHeaders | OutgoingHttpHeaders>(headers: T): T {
  const result = {} as Record<string, unknown>;
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name.toLowerCase())) result[name] = value;
  }
  return result as T;
}

/**
 * Sends the request to moto. The Host header is kept as the client sent it,
 * so URLs that moto builds from it (e.g. SQS QueueUrl) point back at the proxy.
 * moto does not verify SigV4 signatures, so rewritten bodies are fine.
 */
function forwardToUpstream(upstream: URL, agent: Agent, request: ProxiedRequest): Promise<ProxiedResponse> {
  const headers = endToEndHeaders(request.headers);
  delete headers['content-length'];
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      {
        protocol: upstream.protocol,
        hostname: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: request.url,
        headers: { ...headers, 'content-length': String(request.body.length) },
        agent,
      },
      (incoming) => resolve({ status: incoming.statusCode ?? 502, headers: incoming.headers, body: incoming }),
    );
    outgoing.once('error', reject);
    outgoing.end(request.body);
  });
}

function sendResponse(res: ServerResponse, response: ProxiedResponse): void {
  const headers = endToEndHeaders(response.headers);
  if (Buffer.isBuffer(response.body)) {
    for (const name of Object.keys(headers)) {
      if (name.toLowerCase() === 'content-length') delete headers[name];
    }
    res.writeHead(response.status, { ...headers, 'content-length': String(response.body.length) });
    res.end(response.body);
    return;
  }
  res.writeHead(response.status, headers);
  response.body.once('error', (error) => res.destroy(error));
  response.body.pipe(res);
}

async function bufferBody(body: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body;
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

/** Minimal async mutex: runs tasks one after another, in call order. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
