/**
 * Section 4 of `npm run bench`: retention planning. The pure planner `planRotation`
 * on synthetic accounts of 10,000, 100,000 and 1,000,000 images, each size in a
 * fresh Node process (so one size's garbage and heap growth never weigh on the
 * next): the input is built, GC is forced, then planRotation is timed while a
 * worker thread samples the process's RSS every millisecond (the planner is
 * synchronous, so the main thread cannot sample itself). Targets (issue 18): 100,000
 * images within 0.5 s; 1,000,000 within 2 s and 600 MB of RSS growth while planning.
 *
 * The account: lineages of 10 nightly images, one a night; per lineage ~3% have
 * a failed newest bake, ~5% a pending one, ~2% a `bad` image; 30% of lineages have
 * a live instance tagged `daily=7,weekly=4,monthly=12`, 10% lost their instance and
 * carry `7` as their last known policy on their images, the rest fall to the
 * default count 7; 20% of lineages have their oldest image in use (instance or
 * launch template); 1% of images belong to another stack.
 *
 * This file is also the child: `node --expose-gc --import tsx retention.ts --child N`.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Session } from 'node:inspector/promises';
import { planRotation, type RotationImage, type RotationInput } from '../../shared/domain/retention.js';
import type { Retention } from '../../shared/domain/tags.js';
import { seededRandom as random } from '../../test/harness/faults.js';
import { median, type BenchSection } from './section.js';

const STACK = 'ami-lifecycle-bench';
const PER_LINEAGE = 10;
const DAY = 86_400_000;
const NOW = new Date('2026-11-26T06:00:00Z');
const TIERS: Retention = { kind: 'tiers', tiers: { daily: 7, weekly: 4, monthly: 12 } };
const SIZES: Array<{ images: number; runs: number }> = [
  { images: 10_000, runs: 3 },
  { images: 100_000, runs: 3 },
  { images: 1_000_000, runs: 3 },
];
/** Issue 18: 100,000 images planned within 0.5 s; 1,000,000 within 2 s and 600 MB. */
const TARGET_100K_SECONDS = 0.5;
const TARGET_1M_SECONDS = 2;
const TARGET_1M_MB = 600;
/** The memory target set before issue 18, kept: 100,000 images planned in under 256 MB. */
const TARGET_100K_MB = 256;

/** What one child process reports. */
interface ChildResult {
  images: number;
  decisions: number;
  deletes: number;
  lineages: number;
  buildMs: number;
  planMs: number;
  /** RSS after building the input and a forced GC: the planner's starting point. */
  rssBeforeMb: number;
  /** Highest RSS sampled while planning. */
  rssPeakMb: number;
  /** Lifetime maximum RSS of the process (kernel's figure), input building included. */
  maxRssMb: number;
  heapBeforeMb: number;
  /** Heap after planning and a forced GC, input and plan both still referenced. */
  heapAfterMb: number;
  /** The same input planned a second time in the process (code compiled), after the measurements. */
  replanMs: number;
  /** With --profile: self time of the planning window by function, biggest first (ms). */
  profile?: Array<[string, number]>;
}

// ---------------------------------------------------------------------------
// The child: build the input, plan, report
// ---------------------------------------------------------------------------

const hex = (n: number, width = 17) => n.toString(16).padStart(width, '0');

export function syntheticInput(images: number): RotationInput {
  const rand = random(images);
  const lineageCount = Math.ceil(images / PER_LINEAGE);
  const list: RotationImage[] = [];
  const instancePolicies = new Map<string, Retention>();
  const inUse = new Map<string, readonly string[]>();
  for (let l = 0; l < lineageCount; l++) {
    const lineage = `i-${hex(l)}`;
    const policy = rand();
    const tiered = policy < 0.3;
    const lost = !tiered && policy < 0.4; // instance gone: the last known policy is on the images
    if (tiered) instancePolicies.set(lineage, TIERS);
    const newest = rand();
    const newestStatus = newest < 0.03 ? 'failed' : newest < 0.08 ? 'pending' : 'good';
    const badNight = rand() < 0.02 ? Math.floor(rand() * PER_LINEAGE) : -1;
    const foreign = rand() < 0.01;
    const n = Math.min(PER_LINEAGE, images - l * PER_LINEAGE);
    for (let night = 0; night < n; night++) {
      const i = l * PER_LINEAGE + night;
      const createdAt = new Date(NOW.getTime() - (PER_LINEAGE - night) * DAY + 3_600_000 * 2);
      const status = night === PER_LINEAGE - 1 ? newestStatus : night === badNight ? 'bad' : 'good';
      const state = status === 'pending' ? 'pending' : status === 'failed' ? 'failed' : 'available';
      list.push({
        imageId: `ami-${hex(i)}`,
        name: `${STACK}/${lineage}/nightly/${createdAt.toISOString().slice(0, 10)}`,
        managedBy: foreign && night === 0 ? 'someone-else' : STACK,
        lineage,
        schedule: 'nightly',
        status,
        state,
        createdAt,
        retainTag: tiered ? 'daily=7,weekly=4,monthly=12' : lost ? '7' : undefined,
        snapshotIds: [`snap-${hex(i)}`],
        deprecated: false,
      });
    }
    const use = rand();
    if (use < 0.1) inUse.set(`ami-${hex(l * PER_LINEAGE)}`, [`instance i-${hex(l + 0x100000)}`]);
    else if (use < 0.2) inUse.set(`ami-${hex(l * PER_LINEAGE + 1)}`, [`launch template lt-${hex(l)} version 3`]);
  }
  return {
    managedBy: STACK,
    now: NOW,
    timeZone: 'Europe/Paris',
    images: list,
    instancePolicies,
    defaultRetention: { kind: 'count', count: 7 },
    inUse,
    failedGraceDays: 3,
    deprecateAfterDays: 5,
  };
}

const MB = 1024 * 1024;
const mb = (bytes: number) => bytes / MB;

/** Samples process RSS from another thread while the main thread is busy. */
const SAMPLER = `
const { parentPort } = require('node:worker_threads');
let peak = 0;
let on = false;
parentPort.on('message', (m) => {
  if (m === 'start') { peak = process.memoryUsage.rss(); on = true; parentPort.postMessage('started'); }
  else if (m === 'stop') { on = false; parentPort.postMessage(peak); }
  else if (m === 'exit') process.exit(0);
});
setInterval(() => { if (on) peak = Math.max(peak, process.memoryUsage.rss()); }, 1);
`;

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
}

/** Self time by function (`name file:line`), biggest first. */
function selfTimes(profile: CpuProfile): Array<[string, number]> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)?.callFrame;
    if (!frame) return;
    const key =
      `${frame.functionName || '(anonymous)'} ${frame.url.split('/').slice(-2).join('/')}${frame.url ? `:${frame.lineNumber + 1}` : ''}`.trim();
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, 8);
}

async function child(images: number, profile: boolean): Promise<ChildResult> {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
  const sampler = new Worker(SAMPLER, { eval: true });
  const ask = <T>(message: string) =>
    new Promise<T>((res) => {
      sampler.once('message', (m: T) => res(m));
      sampler.postMessage(message);
    });

  const b0 = performance.now();
  let input: RotationInput | undefined = syntheticInput(images);
  const buildMs = performance.now() - b0;
  gc();
  gc();
  const rssBefore = process.memoryUsage.rss();
  const heapBefore = process.memoryUsage().heapUsed;

  const session = profile ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
  }
  await ask<string>('start');
  const t0 = performance.now();
  const plan = planRotation(input);
  const planMs = performance.now() - t0;
  const cpu = session ? ((await session.post('Profiler.stop')).profile as unknown as CpuProfile) : undefined;
  session?.disconnect();
  // Let the sampler take one more reading with the plan and its garbage still in memory.
  await new Promise((r) => setTimeout(r, 5));
  const rssPeak = Math.max(await ask<number>('stop'), process.memoryUsage.rss());

  gc();
  gc();
  const heapAfter = process.memoryUsage().heapUsed; // the input still held: what the plan itself keeps
  // The same input planned again in this process, its code now compiled: how much of the
  // first plan's time is the first run's (JIT, first allocations), not the work.
  const t1 = performance.now();
  planRotation(input);
  const replanMs = performance.now() - t1;
  input = undefined;
  sampler.postMessage('exit');
  return {
    images,
    decisions: plan.decisions.length,
    deletes: plan.decisions.filter((d) => d.action === 'delete').length,
    lineages: plan.lineages.length,
    buildMs,
    planMs,
    replanMs,
    rssBeforeMb: mb(rssBefore),
    rssPeakMb: mb(rssPeak),
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    heapBeforeMb: mb(heapBefore),
    heapAfterMb: mb(heapAfter),
    ...(cpu ? { profile: selfTimes(cpu) } : {}),
  };
}

// ---------------------------------------------------------------------------
// The parent: one fresh process per run
// ---------------------------------------------------------------------------

const SELF = fileURLToPath(import.meta.url);
const ROOT = resolve(SELF, '../../..');

function runChild(images: number, profile = false): Promise<ChildResult> {
  return new Promise((res, rej) => {
    const proc = spawn(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', SELF, '--child', String(images), ...(profile ? ['--profile'] : [])],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    proc.once('error', rej);
    proc.once('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return rej(new Error(`retention child for ${images} images exited ${code}: ${out}`));
      try {
        res(JSON.parse(line) as ChildResult);
      } catch {
        rej(new Error(`retention child for ${images} images printed no result: ${out}`));
      }
    });
  });
}

const fmtMs = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
const fmtMb = (v: number) => `${v.toFixed(0)} MB`;

export async function retentionPlanning(): Promise<BenchSection> {
  const rows: string[][] = [];
  const bySize = new Map<
    number,
    { planMs: number; replanMs: number; growthMb: number; peakMb: number; maxRssMb: number; heldMb: number }
  >();
  for (const { images, runs } of SIZES) {
    const results: ChildResult[] = [];
    for (let r = 0; r < runs; r++) results.push(await runChild(images));
    const planMs = median(results.map((x) => x.planMs));
    const growthMb = median(results.map((x) => x.rssPeakMb - x.rssBeforeMb));
    const peakMb = median(results.map((x) => x.rssPeakMb));
    const maxRssMb = median(results.map((x) => x.maxRssMb));
    const replanMs = median(results.map((x) => x.replanMs));
    const heldMb = median(results.map((x) => x.heapAfterMb - x.heapBeforeMb));
    const buildMs = median(results.map((x) => x.buildMs));
    const first = results[0]!;
    bySize.set(images, { planMs, replanMs, growthMb, peakMb, maxRssMb, heldMb });
    rows.push([
      images.toLocaleString('en-US'),
      `${first.lineages.toLocaleString('en-US')} / ${first.deletes.toLocaleString('en-US')}`,
      String(runs),
      fmtMs(buildMs),
      runs > 1
        ? `${fmtMs(planMs)} (${fmtMs(Math.min(...results.map((x) => x.planMs)))}–${fmtMs(Math.max(...results.map((x) => x.planMs)))})`
        : fmtMs(planMs),
      `${((planMs * 1000) / images).toFixed(2)} µs`,
      fmtMs(replanMs),
      fmtMb(median(results.map((x) => x.rssBeforeMb))),
      fmtMb(growthMb),
      fmtMb(peakMb),
      fmtMb(maxRssMb),
      fmtMb(heldMb),
    ]);
  }

  // One more 100k run under the sampling profiler (not timed): where the planner's time goes.
  const profiled = await runChild(100_000, true);
  const profile = (profiled.profile ?? []).filter(([name]) => !name.includes('node:inspector') && !name.startsWith('child '));
  const total = profile.reduce((sum, [, ms]) => sum + ms, 0) || 1;
  const where = profile
    .slice(0, 4)
    .map(([name, ms]) => `${name.replace(/:\d+$/, '')} ${((100 * ms) / total).toFixed(0)}%`)
    .join(', ');

  const at100k = bySize.get(100_000)!;
  const at1m = bySize.get(1_000_000)!;
  const firstRun = (at: { planMs: number; replanMs: number }) =>
    `the same input planned again in the process takes ${fmtMs(at.replanMs)}, so ${at.replanMs < at.planMs ? "part of it is the first run's (JIT tiers, first allocations)" : 'it is the work, not the first run'}. `;
  const timeTarget = (name: string, at: { planMs: number; replanMs: number }, seconds: number, why: string) => {
    const met = at.planMs <= seconds * 1000;
    return {
      name,
      target: `≤ ${seconds} s`,
      measured: fmtMs(at.planMs),
      met,
      note: `${met ? '' : `over by ${fmtMs(at.planMs - seconds * 1000)}; ${firstRun(at)}`}${why}`,
    };
  };
  const memoryNote = (at: { maxRssMb: number; heldMb: number }) =>
    `growth = peak RSS while planning − RSS with the input built (sampled every 1 ms); heap the finished plan holds: ${fmtMb(at.heldMb)}; ` +
    `whole process, input building included: ${fmtMb(at.maxRssMb)}`;
  return {
    title: '4. Retention planning',
    method:
      'planRotation (pure) on synthetic accounts: lineages of 10 nightly images (3% failed / 5% pending newest bake, 2% with a bad image), ' +
      '30% of lineages on an instance policy daily=7,weekly=4,monthly=12, 10% on a last known count 7 read from their images, the rest on the default count 7, ' +
      '20% with an image in use, 1% of lineages with an image of another stack; each size in a fresh Node process (--expose-gc), ' +
      'median of 3 runs. Plan time: planRotation alone, the input built beforehand. Memory: RSS growth while planning = the highest RSS ' +
      'sampled every 1 ms from a worker thread while planning − RSS with the input built and garbage collected (what planning adds to the ' +
      'process); heap held by the plan = heap used after planning and a forced GC − before, input and plan both still referenced.',
    header: [
      'images',
      'lineages / deletes',
      'runs',
      'build input',
      'plan time (min–max)',
      'per image',
      'same input planned again in the process',
      'RSS with input',
      'RSS growth while planning',
      'peak RSS planning',
      'process max RSS',
      'heap held by the plan',
    ],
    rows,
    targets: [
      timeTarget(
        'plan time, 100,000 images',
        at100k,
        TARGET_100K_SECONDS,
        `Self time while planning 100k (sampling profiler, one extra run): ${where}.`,
      ),
      timeTarget(
        'plan time, 1,000,000 images',
        at1m,
        TARGET_1M_SECONDS,
        'One pass gathers the lineages; each is sorted once and read through scratch lists; nothing is made per image but its decision. ' +
          "The largest part left is the first lookup of each image id (rule 3's in-use map): the SDK's XML parser hands ids over as " +
          "concatenated (cons) strings, which V8 flattens on their first hash, as this input's ids are.",
      ),
      {
        name: 'memory of planning, 1,000,000 images',
        target: `≤ ${TARGET_1M_MB} MB`,
        measured: `${fmtMb(at1m.growthMb)} growth (peak RSS ${fmtMb(at1m.peakMb)} with the input), plan holds ${fmtMb(at1m.heldMb)} of heap`,
        met: at1m.growthMb <= TARGET_1M_MB,
        note: memoryNote(at1m),
      },
      {
        name: 'memory of planning, 100,000 images',
        target: `< ${TARGET_100K_MB} MB`,
        measured: `${fmtMb(at100k.growthMb)} growth (peak RSS ${fmtMb(at100k.peakMb)} with the input), plan holds ${fmtMb(at100k.heldMb)} of heap`,
        met: at100k.growthMb < TARGET_100K_MB,
        note: memoryNote(at100k),
      },
    ],
  };
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const at = process.argv.indexOf('--child');
  if (at >= 0) {
    const result = await child(Number(process.argv[at + 1]), process.argv.includes('--profile'));
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    console.log(JSON.stringify(await retentionPlanning(), null, 2));
  }
}
