import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import * as v from 'valibot';
import { EmfMetrics, MAX_METRICS, MAX_VALUES, publishesMetrics } from '../../../shared/runtime/metrics.js';
import { BYTES_METRICS, COUNT_METRICS } from '../../../shared/use-cases/ports.js';

/** An EMF blob as CloudWatch Logs reads it. */
interface Emf {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }>;
  };
  [key: string]: unknown;
}

const FUNCTION = 'ami-lifecycle-ci-bake';
const context = { awsRequestId: 'r-1', functionName: FUNCTION } as never;

/** Fresh modules (the Metrics instance is made at load, from the environment), as Lambda would load them. */
async function load() {
  vi.resetModules();
  const middleware = await import('../../../shared/runtime/middleware.js');
  const metrics = await import('../../../shared/runtime/metrics.js');
  const { logger } = await import('../../../shared/runtime/logger.js');
  const { noMetrics } = await import('../../../shared/use-cases/ports.js');
  return { ...middleware, ...metrics, logger, noMetrics };
}

let stdout: string[];

beforeEach(() => {
  stdout = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(String(chunk));
    return true;
  });
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

/** The EMF blobs written since the test began. */
const blobs = (): Emf[] =>
  stdout
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => line.startsWith('{') && line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Emf);

function inLambda() {
  vi.stubEnv('AWS_LAMBDA_FUNCTION_NAME', FUNCTION);
  vi.stubEnv('AWS_LAMBDA_INITIALIZATION_TYPE', 'on-demand');
  vi.stubEnv('POWERTOOLS_METRICS_NAMESPACE', 'AmiLifecycle');
  vi.stubEnv('POWERTOOLS_SERVICE_NAME', 'ami-lifecycle-ci');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', undefined);
  vi.stubEnv('POWERTOOLS_DEV', undefined);
}

describe('metrics in a Lambda invocation (middleware and EMF)', () => {
  it('publishes what the invocation recorded as one EMF blob: namespace AmiLifecycle, the service dimension only, counts and bytes', async () => {
    // Prepare
    inLambda();
    const { eventHandler, metricsPort } = await load();
    const handler = eventHandler('bake', v.object({}), async () => {
      metricsPort.count('ImagesBaked');
      metricsPort.count('ImagesBaked');
      metricsPort.count('RecoveriesSkipped', 3);
      metricsPort.bytes('BytesFreed', 8 * 2 ** 30);
      return 'done';
    });

    // Act
    const result = await handler({}, context);

    // Assess
    expect(result).toBe('done');
    const [coldStart, app, ...rest] = blobs();
    expect(rest).toEqual([]);
    expect(coldStart).toMatchObject({ service: 'ami-lifecycle-ci', function_name: FUNCTION, ColdStart: 1 });
    expect(coldStart!._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'AmiLifecycle',
      Metrics: [{ Name: 'ColdStart', Unit: 'Count' }],
    });
    const directive = app!._aws.CloudWatchMetrics;
    expect(directive).toHaveLength(1);
    expect(directive[0]!.Namespace).toBe('AmiLifecycle');
    expect(directive[0]!.Dimensions).toEqual([['service']]);
    expect(directive[0]!.Metrics).toEqual(
      expect.arrayContaining([
        { Name: 'ImagesBaked', Unit: 'Count' },
        { Name: 'RecoveriesSkipped', Unit: 'Count' },
        { Name: 'BytesFreed', Unit: 'Bytes' },
      ]),
    );
    expect(directive[0]!.Metrics).toHaveLength(3);
    expect(app!._aws.Timestamp).toEqual(expect.any(Number));
    // Values at the top level, each named by the directive; two counts of one name are summed by CloudWatch.
    expect(app).toMatchObject({ service: 'ami-lifecycle-ci', ImagesBaked: [1, 1], RecoveriesSkipped: 3, BytesFreed: 8 * 2 ** 30 });
    expect(Object.keys(app!).sort()).toEqual(['BytesFreed', 'ImagesBaked', 'RecoveriesSkipped', '_aws', 'service']);
  });

  it('publishes each invocation on its own, the ColdStart only with the first, and nothing (without a warning) for one that recorded nothing', async () => {
    // Prepare
    inLambda();
    const { eventHandler, metricsPort, logger } = await load();
    const warn = vi.spyOn(logger, 'warn');
    const debug = vi.spyOn(logger, 'debug');
    let record = true;
    const handler = eventHandler('recover', v.object({}), async () => {
      if (record) metricsPort.count('InstancesRelaunched');
      return 'ok';
    });

    // Act
    await handler({}, context);
    await handler({}, context);
    record = false;
    const beforeQuiet = blobs().length;
    await handler({}, context);

    // Assess
    const all = blobs();
    expect(all.map((b) => Object.keys(b).filter((k) => k !== '_aws' && k !== 'service' && k !== 'function_name'))).toEqual([
      ['ColdStart'],
      ['InstancesRelaunched'],
      ['InstancesRelaunched'],
    ]);
    expect(all.slice(1).map((b) => b.InstancesRelaunched)).toEqual([1, 1]);
    expect(all.length).toBe(beforeQuiet);
    expect(warn).not.toHaveBeenCalled();
    expect(debug.mock.calls.map((c) => String(c[0]))).toContainEqual(expect.stringMatching(/^No application metrics to publish/));
  });

  it('publishes what was recorded before an error, and lets the error through for Lambda to retry', async () => {
    // Prepare
    inLambda();
    const { eventHandler, metricsPort } = await load();
    const boom = new Error('EC2 is down');
    const handler = eventHandler('bake', v.object({}), async () => {
      metricsPort.count('ImagesBaked');
      throw boom;
    });

    // Act
    const act = handler({}, context);

    // Assess
    await expect(act).rejects.toBe(boom);
    expect(blobs().filter((b) => 'ImagesBaked' in b)).toEqual([expect.objectContaining({ ImagesBaked: 1, service: 'ami-lifecycle-ci' })]);
  });

  it('publishes no application metric for a rejected event, and does not warn', async () => {
    // Prepare
    inLambda();
    const { eventHandler, logger } = await load();
    const warn = vi.spyOn(logger, 'warn');
    const handler = eventHandler('bake', v.object({ detail: v.string() }), async () => 'should not run');

    // Act
    const result = await handler({ detail: 1 } as never, context);

    // Assess
    expect(result).toMatchObject({ status: 'rejected' });
    expect(blobs().map((b) => Object.keys(b).filter((k) => !['_aws', 'service', 'function_name'].includes(k)))).toEqual([['ColdStart']]);
    expect(warn).not.toHaveBeenCalled();
  });

  it('falls back to namespace AmiLifecycle when POWERTOOLS_METRICS_NAMESPACE is unset', async () => {
    // Prepare
    inLambda();
    vi.stubEnv('POWERTOOLS_METRICS_NAMESPACE', undefined);
    const { eventHandler, metricsPort } = await load();
    const handler = eventHandler('rotate', v.object({}), async () => metricsPort.count('ImagesDeleted', 4));

    // Act
    await handler({}, context);

    // Assess
    const app = blobs().find((b) => 'ImagesDeleted' in b);
    expect(app!._aws.CloudWatchMetrics[0]!.Namespace).toBe('AmiLifecycle');
  });

  it('accepts every metric name the use cases may record', async () => {
    // Prepare
    inLambda();
    const { eventHandler, metricsPort } = await load();
    const handler = eventHandler('all', v.object({}), async () => {
      for (const name of COUNT_METRICS) metricsPort.count(name);
      for (const name of BYTES_METRICS) metricsPort.bytes(name, 1);
    });

    // Act
    await handler({}, context);

    // Assess
    const names = blobs().flatMap((b) => b._aws.CloudWatchMetrics.flatMap((d) => d.Metrics.map((m) => m.Name)));
    expect(names.filter((n) => n !== 'ColdStart').sort()).toEqual([...COUNT_METRICS, ...BYTES_METRICS].sort());
  });
});

describe('metrics outside Lambda', () => {
  it('are published in Lambda, or wherever POWERTOOLS_METRICS_DISABLED says what to do', () => {
    expect(publishesMetrics({})).toBe(false);
    expect(publishesMetrics({ AWS_LAMBDA_FUNCTION_NAME: ' ' })).toBe(false);
    expect(publishesMetrics({ AWS_LAMBDA_FUNCTION_NAME: FUNCTION })).toBe(true);
    expect(publishesMetrics({ POWERTOOLS_METRICS_DISABLED: 'false' })).toBe(true);
    expect(publishesMetrics({ POWERTOOLS_METRICS_DISABLED: 'true' })).toBe(false);
    expect(publishesMetrics({ AWS_LAMBDA_FUNCTION_NAME: FUNCTION, POWERTOOLS_METRICS_DISABLED: 'TRUE' })).toBe(false);
  });

  it('write nothing when a handler runs outside Lambda (tests, npm start): the use cases get no-op metrics', async () => {
    // Prepare
    vi.stubEnv('AWS_LAMBDA_FUNCTION_NAME', undefined);
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', undefined);
    const { eventHandler, metrics, metricsPort, noMetrics } = await load();
    const handler = eventHandler('bake', v.object({}), async () => metricsPort.count('ImagesBaked'));

    // Act
    await handler({}, context);

    // Assess
    expect(metrics).toBeUndefined();
    expect(metricsPort).toBe(noMetrics);
    expect(blobs()).toEqual([]);
  });

  it('can be seen locally with POWERTOOLS_METRICS_DISABLED=false', async () => {
    // Prepare
    vi.stubEnv('AWS_LAMBDA_FUNCTION_NAME', undefined);
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
    const { eventHandler, metricsPort } = await load();
    const handler = eventHandler('bake', v.object({}), async () => metricsPort.count('ImagesBaked'));

    // Act
    await handler({}, context);

    // Assess
    expect(blobs().filter((b) => 'ImagesBaked' in b)).toHaveLength(1);
  });
});

describe("EMF's bounds", () => {
  /** The lines an EmfMetrics writes, parsed. */
  function recorder() {
    const emf = new EmfMetrics('AmiLifecycle', 'ami-lifecycle-ci');
    const lines: Emf[] = [];
    emf.console = { log: (line: string) => void lines.push(JSON.parse(line) as Emf) };
    return { emf, lines };
  }

  it('writes 100 values of one metric in one line, and the 101st in the next', () => {
    // Prepare
    const { emf, lines } = recorder();

    // Act
    for (let i = 0; i < MAX_VALUES; i++) emf.count('ImagesDeleted');
    const atLimit = lines.length;
    emf.count('ImagesDeleted');
    emf.publish();

    // Assess
    expect(MAX_VALUES).toBe(100);
    expect(atLimit).toBe(1);
    expect(lines).toHaveLength(2);
    expect(lines[0]!.ImagesDeleted).toHaveLength(100);
    expect(lines[1]!.ImagesDeleted).toBe(1);
  });

  it('writes 100 metrics in one directive, and a 101st in the next line', () => {
    // Prepare
    const { emf, lines } = recorder();
    const names = Array.from({ length: MAX_METRICS + 1 }, (_, i) => `M${i}`) as never[];

    // Act
    for (const name of names.slice(0, MAX_METRICS)) emf.count(name);
    const atLimit = lines.length;
    emf.count(names[MAX_METRICS]!);
    emf.publish();

    // Assess
    expect(MAX_METRICS).toBe(100);
    expect(atLimit).toBe(0);
    expect(lines.map((l) => l._aws.CloudWatchMetrics[0]!.Metrics.length)).toEqual([100, 1]);
    expect(lines[1]!.M100).toBe(1);
  });
});
