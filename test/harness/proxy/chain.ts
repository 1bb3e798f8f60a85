/**
 * The fidelity proxy's interceptor chain: the way every request takes from the service to moto.
 *
 * 1. Decode (server.ts): the body is buffered, the API action named, a Query body parsed.
 * 2. Faults (../faults.ts): a crash of the caller, random faults, EC2 throttling. First, so a
 *    call they refuse reaches nothing else.
 * 3. AWS's API model (../api-model/): a request AWS would refuse is refused here.
 * 4. Identity and IAM (../iam/, when on): the access key names the function, its role decides.
 * 5. moto's gaps (../moto-gaps/), each closed by doing what AWS documents, and the observation
 *    of what the service publishes (put-events.ts).
 * 6. moto (server.ts forwards the request). Its answer goes back through the same links, which
 *    may rewrite it, and then to the client.
 *
 * A link is an Interceptor: it may answer by itself, pass on a rewritten request, or
 * post-process moto's answer. A call the API model or IAM refuses never reaches a gap's link
 * nor moto. TEST-ONLY.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { ApiModelGuard } from '../api-model/index.js';
import { Crash, Ec2Throttle, FaultLog, RandomFaults, type FaultOptions, type ThrottleOptions } from '../faults.js';
import { accountReads } from '../moto-gaps/account-reads.js';
import { AmiNameIndex, serialiseCreateImage } from '../moto-gaps/ami-names.js';
import { idempotentByClientToken, type Launches } from '../moto-gaps/client-token.js';
import { deleteAssociatedSnapshots } from '../moto-gaps/delete-associated-snapshots.js';
import { ImageBuilds, type ImagePendingOptions } from '../moto-gaps/image-builds.js';
import { ImageReferences } from '../moto-gaps/image-references.js';
import { InstanceStatuses } from '../moto-gaps/instance-status.js';
import { CommandResults } from '../moto-gaps/command-results.js';
import { enableImageDeprecation, simulatedImageTimes, type ImageTimes } from '../moto-gaps/image-times.js';
import { LastLaunched } from '../moto-gaps/last-launched.js';
import { CapacityShortage, ImageKeys, LaunchFailures } from '../moto-gaps/launch-failures.js';
import { volumeAttachments } from '../moto-gaps/volume-attachments.js';
import { launchReferences } from '../moto-gaps/launch-references.js';
import { scheduleExpressions } from '../moto-gaps/schedules.js';
import { copyImageTags } from '../moto-gaps/copy-image-tags.js';
import { ImageCopies } from '../moto-gaps/image-copies.js';
import { tagSnapshotsOnCreateImage } from '../moto-gaps/snapshot-tags.js';
import { simulatedStateReasons, type StateReasons } from '../moto-gaps/state-reasons.js';
import { recordPutEvents, type RecordedEvent } from './put-events.js';
import { callerOf } from '../sigv4.js';
import { Mutex } from './request.js';

/** A client request, fully buffered. Interceptors may pass on a modified copy. */
export interface ProxiedRequest {
  method: string;
  /** Path and query string, as received. */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** API action (Query `Action`, JSON `X-Amz-Target` operation, CBOR path, rest-json route), if recognised. */
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

/**
 * The context handed to every link: one client per region and access key, straight to moto.
 * moto derives the account from the access key, so the caller's is reused.
 */
export class UpstreamClients implements ProxyContext {
  private readonly ec2 = new Map<string, EC2Client>();
  private readonly ssm = new Map<string, SSMClient>();

  constructor(private readonly origin: string) {}

  private clientFor<C>(clients: Map<string, C>, make: (config: ClientConfig) => C, request: ProxiedRequest): C {
    const { region, accessKeyId } = callerOf(request.headers);
    const key = `${region}\u0000${accessKeyId}`;
    let client = clients.get(key);
    if (client === undefined) {
      client = make({ endpoint: this.origin, region, credentials: { accessKeyId, secretAccessKey: 'testing' } });
      clients.set(key, client);
    }
    return client;
  }

  ec2For(request: ProxiedRequest): EC2Client {
    return this.clientFor(this.ec2, (config) => new EC2Client(config), request);
  }

  ssmFor(request: ProxiedRequest): SSMClient {
    return this.clientFor(this.ssm, (config) => new SSMClient(config), request);
  }

  destroy(): void {
    for (const client of this.ec2.values()) client.destroy();
    this.ec2.clear();
    for (const client of this.ssm.values()) client.destroy();
    this.ssm.clear();
  }
}

interface ClientConfig {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

/** The links of one proxy, in chain order, and the state behind them that the proxy's controls reach. */
export interface FidelityChain {
  links: Interceptor[];
  context: UpstreamClients;
  faultLog: FaultLog;
  crash: Crash;
  faults: RandomFaults;
  throttle: Ec2Throttle;
  apiModel: ApiModelGuard;
  recorded: RecordedEvent[];
  imageTimes: ImageTimes;
  stateReasons: StateReasons;
  launches: Launches;
  imageKeys: ImageKeys;
  launchFailures: LaunchFailures;
  capacity: CapacityShortage;
  builds: ImageBuilds;
  amiNames: AmiNameIndex;
  imageReferences: ImageReferences;
  instanceStatuses: InstanceStatuses;
  commandResults: CommandResults;
  copies: ImageCopies;
  lastLaunched: LastLaunched;
}

/** Builds every link of a proxy in front of the moto at `upstreamOrigin`. */
export function createChain(upstreamOrigin: string, options: FidelityProxyOptions): FidelityChain {
  const createImageLock = new Mutex();
  const recorded: RecordedEvent[] = [];
  const imageTimes: ImageTimes = { created: new Map(), deprecated: new Map() };
  const stateReasons: StateReasons = new Map();
  const launches: Launches = new Map();
  const imageKeys = new ImageKeys();
  const launchFailures = new LaunchFailures(stateReasons, imageKeys, options.iam);
  const capacity = new CapacityShortage();
  const faultLog = new FaultLog();
  const crash = new Crash(faultLog);
  const faults = new RandomFaults(options.faults, faultLog);
  const throttle = new Ec2Throttle(options.throttle, faultLog);
  const builds = new ImageBuilds(options.imagePending);
  const amiNames = new AmiNameIndex();
  const apiModel = new ApiModelGuard();
  const imageReferences = new ImageReferences();
  const instanceStatuses = new InstanceStatuses(options.clock);
  const commandResults = new CommandResults();
  const copies = new ImageCopies(builds, new Mutex());
  const lastLaunched = new LastLaunched(options.clock ?? (() => new Date()));
  const links: Interceptor[] = [
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
    instanceStatuses.interceptor,
    commandResults.interceptor,
    scheduleExpressions,
    launchReferences,
    copyImageTags,
    idempotentByClientToken(launches, new Mutex()),
    // After the client token (a repeat is answered there), before image-builds (it reads the states that link reports).
    copies.interceptor,
    capacity.interceptor,
    volumeAttachments(new Mutex()),
    launchFailures.interceptor,
    // The keys matter only where a launch's use of them is evaluated (IAM on).
    ...(options.iam?.kmsOnBehalf ? [imageKeys.interceptor] : []),
    imageReferences.interceptor,
    accountReads(upstreamOrigin),
    enableImageDeprecation(imageTimes),
    simulatedImageTimes(imageTimes, options.clock),
    lastLaunched.interceptor,
    builds.interceptor,
    recordPutEvents(recorded),
    serialiseCreateImage(createImageLock),
    amiNames.interceptor,
    deleteAssociatedSnapshots,
    tagSnapshotsOnCreateImage,
  ];
  return {
    links,
    context: new UpstreamClients(upstreamOrigin),
    faultLog,
    crash,
    faults,
    throttle,
    apiModel,
    recorded,
    imageTimes,
    stateReasons,
    launches,
    imageKeys,
    launchFailures,
    capacity,
    builds,
    amiNames,
    imageReferences,
    instanceStatuses,
    commandResults,
    copies,
    lastLaunched,
  };
}

/** The chain as one handler: each link in turn, then `forward` (to moto). */
export function runChain(links: Interceptor[], forward: Next, context: ProxyContext): Next {
  const run = (index: number, request: ProxiedRequest): Promise<ProxiedResponse> => {
    const interceptor = links[index];
    if (interceptor === undefined) return forward(request);
    return interceptor(request, (next) => run(index + 1, next), context);
  };
  return (request) => run(0, request);
}
