/**
 * The fidelity proxy: an HTTP proxy in front of moto_server that makes moto answer as AWS does.
 * It injects the faults AWS produces (../faults.ts), checks every request against AWS's API
 * model (../api-model/) and, when on, IAM (../iam/), closes moto's gaps (../moto-gaps/), and
 * counts calls per action and faults per kind. How a request flows: chain.ts. The HTTP ends
 * (decode, forward to moto, answer): server.ts. This file is the control surface tests use.
 *
 * TEST-ONLY. Product code must never know this exists: it simply talks to
 * `proxy.endpoint` as if it were AWS.
 */
import type { ApiModelTotals, ApiViolation, ExpectedApiViolations } from '../api-model/index.js';
import type { BucketState, CrashOptions, CrashState, FaultKind, FaultOptions, ThrottleOptions } from '../faults.js';
import type { ReferenceAccess } from '../moto-gaps/image-references.js';
import type { ImagePendingOptions } from '../moto-gaps/image-builds.js';
import type { CopyRecord } from '../moto-gaps/image-copies.js';
import type { StagedInstanceStatus } from '../moto-gaps/instance-status.js';
import type { StagedCommandResult } from '../moto-gaps/command-results.js';
import type { NoCapacity } from '../moto-gaps/launch-failures.js';
import { createChain, runChain, type FidelityProxyOptions, type IamDenial } from './chain.js';
import type { RecordedEvent } from './put-events.js';
import { listen, Upstream } from './server.js';

export {
  bucketBound,
  ec2Buckets,
  EC2_DOCUMENTED_BUCKETS,
  type BucketState,
  type CrashOptions,
  type CrashState,
  type Ec2Bucket,
  type FaultKind,
  type FaultOptions,
  type ThrottleOptions,
  type TokenBucketOptions,
} from '../faults.js';
export { ec2ErrorResponse } from './answers.js';
export type {
  FidelityProxyOptions,
  IamDenial,
  IamLink,
  Interceptor,
  Next,
  ProxiedRequest,
  ProxiedResponse,
  ProxyContext,
} from './chain.js';
export type { ImagePendingOptions } from '../moto-gaps/image-builds.js';
export type { CheckStatus, StagedInstanceStatus } from '../moto-gaps/instance-status.js';
export { stripSnapshotTagSpecifications } from '../moto-gaps/snapshot-tags.js';
export type { RecordedEvent } from './put-events.js';

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
   * DescribeInstanceStatus reports these checks for the instance while it runs (moto reports every
   * check `ok`): `impaired` with its reachability detail `failed` and ImpairedSince the proxy's
   * clock now, `ok` as `passed`, else the same word. A check left out stays as reported before.
   * See moto-gaps/instance-status.ts. Forgotten on resetState().
   */
  setInstanceStatus(instanceId: string, checks: StagedInstanceStatus): void;
  /** Forgets the checks staged for the instance (for every instance without an id): moto's `ok` again. */
  clearInstanceStatus(instanceId?: string): void;
  /**
   * GetCommandInvocation answers this result for every SSM command sent to the instance (moto
   * answers Success at once). See moto-gaps/command-results.ts. Forgotten on resetState().
   */
  setCommandResult(instanceId: string, result: StagedCommandResult): void;
  /**
   * Every instance launched from now on ends at once with this state reason (undefined: none
   * do), as EC2 ends a launch that the account or its configuration refuses (a KMS key the
   * launch may not use: Client.InternalError; a disabled key; the volume quota). moto knows
   * neither KMS key policies nor quotas.
   */
  setLaunchFailure(code: string | undefined): void;
  /**
   * RunInstances into these subnets or of these types is refused for capacity from now on
   * (InsufficientInstanceCapacity, or Unsupported), as EC2 does when a zone has no room (moto always
   * has room); undefined: none is. Forgotten on resetState(). See moto-gaps/launch-failures.ts.
   */
  setNoCapacity(rules: NoCapacity[] | undefined): void;
  /** The launches refused for capacity since setNoCapacity, as `subnet|type`. */
  capacityRefusals(): string[];
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
  /**
   * Every token bucket a call has used since setThrottle, as it is now: tokens held and taken.
   * Two of these around a stretch of work give the least time the buckets allow it (bucketBound).
   */
  throttleBuckets(): BucketState[];
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
   * moto-gaps/image-references.ts); undefined: it may look at every type. Kept across resetState().
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
  /** The image's build fails: DescribeImages reports it `failed` with this StateReason (moto never fails a build). */
  failImageBuild(imageId: string, reason: { code: string; message: string }): void;
  /** Whether DescribeImages through the proxy reports this image pending now. */
  isImagePending(imageId: string): boolean;
  /** Issue 17: the copies made through the proxy (moto-gaps/image-copies.ts), in the order made. Forgotten on resetState(). */
  copies(): CopyRecord[];
  /** Issue 17: copies into the region still pending (what its limit of concurrent copies counts). */
  copiesInFlight(region: string): number;
  /**
   * Forgets what the proxy remembers of moto's state (AMI names, ClientTokens, state
   * reasons, staged instance statuses, image times) and disarms a crash: call it when moto is reset. Fault and
   * throttle settings stay.
   */
  resetState(): void;
  stop(): Promise<void>;
}

export async function startFidelityProxy(upstream: string, options: FidelityProxyOptions = {}): Promise<FidelityProxy> {
  const upstreamUrl = new URL(upstream);
  const moto = new Upstream(upstreamUrl);
  const chain = createChain(upstreamUrl.origin, options);
  const server = await listen(moto, runChain(chain.links, moto.forward, chain.context));
  const { apiModel, builds, capacity, crash, faultLog, faults, imageTimes, launchFailures, throttle } = chain;

  return {
    endpoint: server.endpoint,
    calls: () => server.calls(),
    upstreamMs: () => moto.upstreamMs(),
    resetCalls: () => {
      server.resetCounts();
      moto.resetCounts();
      chain.recorded.length = 0;
      throttle.resetCounts();
      faultLog.clear();
      apiModel.resetCounts();
    },
    apiViolations: () => apiModel.violations(),
    apiRequestsChecked: () => apiModel.checkedCount(),
    apiModelTotals: () => apiModel.totalsSinceStart(),
    expectApiViolations: (expected) => apiModel.expect(expected),
    putEvents: () => [...chain.recorded],
    setStateReason: (instanceId, code, message = `${code}: staged by the test harness`) => {
      chain.stateReasons.set(instanceId, { code, message });
    },
    setInstanceStatus: (instanceId, checks) => chain.instanceStatuses.set(instanceId, checks),
    clearInstanceStatus: (instanceId) => chain.instanceStatuses.clear(instanceId),
    setCommandResult: (instanceId, result) => chain.commandResults.set(instanceId, result),
    setLaunchFailure: (code) => launchFailures.configure(code),
    setNoCapacity: (rules) => capacity.configure(rules),
    capacityRefusals: () => [...capacity.refused],
    setThrottle: (config) => throttle.configure(config),
    throttleCounts: () => throttle.counts(),
    throttleBuckets: () => throttle.buckets(),
    setFaults: (config) => faults.configure(config),
    faultCounts: () => faultLog.snapshot(),
    crashAfter: (config) => crash.arm(config),
    disarmCrash: () => crash.disarm(),
    crashState: () => crash.current(),
    setReferenceAccess: (access) => chain.imageReferences.setAccess(access),
    iamCounts: () => options.iam?.counts() ?? { evaluated: 0, denied: 0 },
    iamDenials: () => options.iam?.denials() ?? [],
    setImagePending: (config) => builds.configure(config),
    advanceImageClock: (ms) => builds.advance(ms),
    failImageBuild: (imageId, reason) => builds.fail(imageId, reason),
    isImagePending: (imageId) => builds.isPending(imageId),
    copies: () => chain.copies.list(),
    copiesInFlight: (region) => chain.copies.inFlight(region),
    resetState: () => {
      chain.copies.clear();
      chain.amiNames.clear();
      chain.launches.clear();
      chain.stateReasons.clear();
      chain.instanceStatuses.clear();
      chain.commandResults.clear();
      chain.lastLaunched.clear();
      launchFailures.configure(undefined);
      capacity.configure(undefined);
      chain.imageKeys.clear();
      imageTimes.created.clear();
      imageTimes.deprecated.clear();
      builds.clear();
      crash.disarm();
    },
    stop: async () => {
      apiModel.stop();
      await server.stop();
      moto.destroy();
      chain.context.destroy();
    },
  };
}
