/**
 * Section 1 of `npm run bench`: cold start. Every function's bundle is built as
 * deployment builds it (serverless.yml's `custom.esbuild`, passed to esbuild's JS
 * API), and so is a baseline built in the same run with the same options: a minimal
 * handler that imports `EC2Client` and one command. For each bundle: its minified
 * size (the .cjs, not the source map) and its module initialisation time, the
 * median of several `require()`s, each in a fresh Node process, the bundles taken in
 * turn so that drift weighs on all alike. The handler is never invoked.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build, type BuildOptions, type Metafile } from 'esbuild';
import { parse } from 'yaml';
import { PROJECT_ROOT, readServerless } from '../../cli/serverless-config.js';
import { median, quantile, ratio, type BenchSection, type TargetCheck } from './section.js';

/** Timed rounds: up to MAX_RUNS, fewer (never under MIN_RUNS) once the time budget is spent. */
const MAX_RUNS = 25;
const MIN_RUNS = 9;
const BUDGET_MS = 70_000;
/** Issue 18: a function's bundle at most 1.10× the bare EC2 handler's, its init time at most 1.15×. */
const SIZE_TARGET = 1.1;
const INIT_TARGET = 1.15;
const BASELINE = 'baseline (EC2Client + DescribeInstancesCommand)';

const BASELINE_SOURCE = `import { EC2Client, DescribeInstancesCommand } from '@aws-sdk/client-ec2';
const client = new EC2Client({});
export const handler = async () => client.send(new DescribeInstancesCommand({}));
`;

/**
 * The environment the functions validate at load (no network is touched): a stage that
 * verifies images with a command, so that every function creates at load all the clients
 * it can (recover and verify their Scheduler client, verify its SSM client).
 */
const CHILD_ENV: Record<string, string> = {
  MANAGED_BY: 'ami-lifecycle-bench',
  RECHECK_FUNCTION_ARN: 'arn:aws:lambda:us-east-1:123456789012:function:bench-recover',
  RECHECK_ROLE_ARN: 'arn:aws:iam::123456789012:role/bench-recheck',
  RECHECK_DEAD_LETTER_ARN: 'arn:aws:sqs:us-east-1:123456789012:bench-recover-dlq',
  VERIFY_CHECK_FUNCTION_ARN: 'arn:aws:lambda:us-east-1:123456789012:function:bench-verify',
  VERIFY_CHECK_ROLE_ARN: 'arn:aws:iam::123456789012:role/bench-recheck',
  VERIFY_CHECK_DEAD_LETTER_ARN: 'arn:aws:sqs:us-east-1:123456789012:bench-verify-dlq',
  VERIFY_SUBNET_ID: 'subnet-0123456789abcdef0',
  VERIFY_SECURITY_GROUP_ID: 'sg-0123456789abcdef0',
  VERIFY_COMMAND_DOCUMENT: 'AWS-RunShellScript',
  VERIFY_COMMAND_PARAMETERS: '{"commands":["true"]}',
  EVENT_BUS_NAME: 'bench',
  SCHEDULES: 'nightly,weekly',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'x',
  AWS_SECRET_ACCESS_KEY: 'x',
  POWERTOOLS_LOG_LEVEL: 'SILENT',
};

/** The child: time one require() of the bundle, print the milliseconds. */
const CHILD_SOURCE = `'use strict';
const { performance } = require('node:perf_hooks');
const file = process.argv[2];
const t0 = performance.now();
require(file);
const ms = performance.now() - t0;
process.stdout.write(String(ms) + '\\n');
process.exit(0);
`;

/** esbuild options taken as they are from custom.esbuild. */
const PASS_THROUGH = ['bundle', 'minify', 'treeShaking', 'sourcemap', 'target', 'platform', 'format', 'mainFields'] as const;

/** serverless-esbuild's `custom.esbuild`, as esbuild options. */
function deploymentOptions(): { options: BuildOptions; ignored: string[] } {
  const raw = parse(readFileSync(resolve(PROJECT_ROOT, 'serverless.yml'), 'utf8'), {
    customTags: ['!GetAtt', '!Sub', '!Ref'].map((tag) => ({ tag, resolve: (v: string) => v })),
  }) as { custom?: { esbuild?: Record<string, unknown> } };
  const config = raw.custom?.esbuild ?? {};
  const options: Record<string, unknown> = {};
  const ignored: string[] = [];
  for (const [key, value] of Object.entries(config)) {
    if ((PASS_THROUGH as readonly string[]).includes(key)) options[key] = value;
    else if (key === 'outputFileExtension') options.outExtension = { '.js': String(value) };
    else if (key === 'exclude' || key === 'external')
      options.external = [...((options.external as string[]) ?? []), ...(value as string[])];
    else ignored.push(key);
  }
  return { options: options as BuildOptions, ignored };
}

interface Bundle {
  name: string;
  file: string;
  bytes: number;
  /** Bytes in the output per package (node_modules/<pkg>) or project directory. */
  parts: Map<string, number>;
  times: number[];
}

/** Which package or project part an esbuild input path belongs to. */
function partOf(input: string): string {
  const nm = input.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = input.slice(nm + 'node_modules/'.length);
    const [first, second] = rest.split('/');
    return first?.startsWith('@') ? `${first}/${second}` : (first ?? input);
  }
  const [top, sub] = input.replace(/^(\.\.\/)+/, '').split('/');
  return top === 'shared' || top === 'functions' ? `${top}/${sub}` : (top ?? input);
}

function partsOf(meta: Metafile): Map<string, number> {
  const parts = new Map<string, number>();
  for (const output of Object.values(meta.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const part = partOf(input);
      parts.set(part, (parts.get(part) ?? 0) + bytesInOutput);
    }
  }
  return parts;
}

async function buildOne(name: string, entry: string, outdir: string, options: BuildOptions): Promise<Bundle> {
  const result = await build({
    ...options,
    entryPoints: { handler: entry },
    outdir,
    absWorkingDir: PROJECT_ROOT,
    nodePaths: [resolve(PROJECT_ROOT, 'node_modules')],
    metafile: true,
    write: true,
    logLevel: 'silent',
  });
  const ext = options.outExtension?.['.js'] ?? '.js';
  const file = join(outdir, `handler${ext}`);
  return { name, file, bytes: statSync(file).size, parts: partsOf(result.metafile), times: [] };
}

function timeRequire(child: string, bundle: string): Promise<number> {
  return new Promise((done, fail) => {
    const proc = spawn(process.execPath, [child, bundle], { env: CHILD_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    proc.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    proc.on('error', fail);
    proc.on('close', (code) => {
      const ms = Number(out.trim().split('\n').pop());
      if (code === 0 && Number.isFinite(ms)) done(ms);
      else fail(new Error(`require(${bundle}) exited ${code}: ${err.trim().slice(0, 500)}`));
    });
  });
}

const kib = (bytes: number) => (bytes / 1024).toFixed(1);

/** The biggest parts of a bundle beyond what the baseline holds, by bytes. */
function beyondBaseline(bundle: Bundle, base: Bundle, top = 5): string {
  const extra = [...bundle.parts]
    .map(([part, bytes]) => [part, bytes - (base.parts.get(part) ?? 0)] as const)
    .filter(([, bytes]) => bytes > 0)
    .sort((a, b) => b[1] - a[1]);
  const total = extra.reduce((sum, [, bytes]) => sum + bytes, 0);
  const groups = new Map<string, number>();
  for (const [part, bytes] of extra) groups.set(groupOf(part), (groups.get(groupOf(part)) ?? 0) + bytes);
  return `${kib(total)} KiB beyond the baseline (${[...groups]
    .sort((a, b) => b[1] - a[1])
    .map(([group, bytes]) => `${group} ${kib(bytes)}`)
    .join(', ')}), biggest: ${extra
    .slice(0, top)
    .map(([part, bytes]) => `${part} ${kib(bytes)} KiB`)
    .join(', ')}`;
}

/** The kinds of bytes a bundle holds beyond the baseline: what a miss is made of. */
function groupOf(part: string): string {
  if (part.startsWith('shared/') || part.startsWith('functions/')) return 'own code';
  if (part.startsWith('@aws-sdk/') || part.startsWith('@smithy/')) return 'AWS SDK';
  if (part === 'valibot') return 'valibot';
  if (part.startsWith('@aws-lambda-powertools/') || part === '@middy/core') return 'Powertools + middy';
  return 'other';
}

export async function coldStart(): Promise<BenchSection> {
  const { options, ignored } = deploymentOptions();
  const tmp = mkdtempSync(join(tmpdir(), 'ami-lifecycle-cold-start-'));
  try {
    const baselineEntry = join(tmp, 'baseline.ts');
    writeFileSync(baselineEntry, BASELINE_SOURCE);
    const child = join(tmp, 'time-require.cjs');
    writeFileSync(child, CHILD_SOURCE);

    const functions = readServerless().functions;
    const [base, ...bundles] = await Promise.all([
      buildOne(BASELINE, baselineEntry, join(tmp, 'baseline'), options),
      ...functions.map((fn) => buildOne(fn.name, resolve(PROJECT_ROOT, fn.file), join(tmp, 'fn', fn.name), options)),
    ]);
    if (!base) throw new Error('no baseline bundle');
    const all = [base, ...bundles];

    // One untimed load of each first (page cache), then RUNS rounds, each round in a
    // rotated order so that no bundle always runs first or last.
    for (const bundle of all) await timeRequire(child, bundle.file);
    const started = performance.now();
    let runs = 0;
    for (let round = 0; round < MAX_RUNS; round++) {
      if (round >= MIN_RUNS && performance.now() - started > BUDGET_MS) break;
      runs++;
      for (let i = 0; i < all.length; i++) {
        const bundle = all[(i + round) % all.length]!;
        bundle.times.push(await timeRequire(child, bundle.file));
      }
    }

    const baseMs = median(base.times);
    // The init ratio is the median of each round's ratio to the baseline's time in the same
    // round (seconds apart): a drift of the machine's speed over the run cancels out.
    const roundRatios = (b: Bundle) => b.times.map((t, round) => t / base.times[round]!);
    const spread = (b: Bundle) => {
      const r = roundRatios(b);
      return `${quantile(r, 0.25).toFixed(2)}–${quantile(r, 0.75).toFixed(2)}`;
    };
    const rows = all.map((b) => {
      const ms = median(b.times);
      return [b.name, kib(b.bytes), ratio(b.bytes, base.bytes), ms.toFixed(1), `${median(roundRatios(b)).toFixed(2)}×`, spread(b)];
    });
    const targets: TargetCheck[] = bundles.flatMap((b) => {
      const ms = median(b.times);
      const initRatio = median(roundRatios(b));
      const sizeMet = b.bytes / base.bytes <= SIZE_TARGET;
      const initMet = initRatio <= INIT_TARGET;
      const contents = beyondBaseline(b, base);
      const size: TargetCheck = {
        name: `${b.name} bundle size / baseline`,
        target: `≤ ${SIZE_TARGET}×`,
        measured: ratio(b.bytes, base.bytes),
        met: sizeMet,
        ...(sizeMet
          ? {}
          : {
              note: `${kib(b.bytes)} KiB vs ${kib(base.bytes)} KiB, at most ${kib(base.bytes * (SIZE_TARGET - 1))} KiB beyond it; ${contents}`,
            }),
      };
      const init: TargetCheck = {
        name: `${b.name} init time / baseline`,
        target: `≤ ${INIT_TARGET}×`,
        // Two decimals would show 1.15× for a missed 1.153×.
        measured: `${initRatio.toFixed(!initMet && initRatio.toFixed(2) === INIT_TARGET.toFixed(2) ? 3 : 2)}×`,
        met: initMet,
        ...(initMet
          ? {}
          : {
              note: `${ms.toFixed(1)} ms vs ${baseMs.toFixed(1)} ms (median), per-round ratio ${spread(b)} between quartiles: more code to parse and run at load; ${contents}`,
            }),
      };
      return [size, init];
    });

    return {
      title: '1. Cold start',
      method:
        `Each function's bundle built with esbuild ${
          (await import('esbuild')).version
        } using serverless.yml's custom.esbuild (${JSON.stringify(options)})` +
        `${ignored.length ? `, ignoring serverless-esbuild-only keys ${ignored.join(', ')}` : ''}` +
        `, next to a baseline built the same way (a handler importing EC2Client and DescribeInstancesCommand); ` +
        `size is the minified .cjs (no source map); init time is the median of ${runs} require()s of the bundle, ` +
        `and its ratio the median over the rounds of its time over the baseline's in the same round (quartiles shown), ` +
        `each in a fresh \`node\` process (${process.version}, no flags: the NODE_OPTIONS=--enable-source-maps that deployment sets is not applied; handler not invoked), the bundles taken in rotating turns after one untimed load each.`,
      header: [
        'bundle',
        'size KiB',
        'size / baseline',
        'init ms (median)',
        'init / baseline (median of rounds)',
        'init / baseline, quartiles',
      ],
      rows,
      targets,
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
