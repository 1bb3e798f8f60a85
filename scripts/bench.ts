/**
 * `npm run bench`: measures each part of the lifecycle, as ratios against a baseline
 * and the physical limit measured in the same run, prints the tables and writes
 * BENCHMARKS.md (the tables, the machine, the command to reproduce).
 *
 *   npm run bench                 # every section
 *   npm run bench -- --only 1,4   # some sections
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { Command } from 'commander';
import type { BenchSection } from './bench/section.js';

type Runner = () => Promise<BenchSection>;

const SECTIONS: Array<[number, string, () => Promise<Runner>]> = [
  [1, 'cold start', async () => (await import('./bench/cold-start.js')).coldStart],
  [2, 'API economy', async () => (await import('./bench/api-economy.js')).apiEconomy],
  [3, 'a night at EC2\u2019s token buckets', async () => (await import('./bench/throughput.js')).throughput],
  [4, 'retention planning', async () => (await import('./bench/retention.js')).retentionPlanning],
  [5, 'recovery', async () => (await import('./bench/recovery.js')).recoveryLatency],
  [6, 'disaster-recovery copies', async () => (await import('./bench/copies.js')).copyThroughput],
  [7, 'stale images', async () => (await import('./bench/stale.js')).staleImages],
  [8, 'verification and promotion', async () => (await import('./bench/golden.js')).goldenPaths],
];

const opts = new Command('bench')
  .option('--only <list>', 'comma list of section numbers', (v) => v.split(',').map(Number))
  .option('--out <file>', 'where to write the report', 'BENCHMARKS.md')
  .parse()
  .opts<{ only?: number[]; out: string }>();

function markdownTable(header: string[], rows: string[][]): string {
  const esc = (c: string) => c.replaceAll('|', '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

function render(section: BenchSection): string {
  const targets = section.targets.map((t) => [t.name, t.target, t.measured, t.met ? 'met' : 'MISSED', t.note ?? '']);
  return [
    `## ${section.title}`,
    '',
    section.method,
    '',
    markdownTable(section.header, section.rows),
    '',
    markdownTable(['target', 'wanted', 'measured', 'verdict', 'note'], targets),
    '',
  ].join('\n');
}

const machine = () => {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, ${process.platform}/${process.arch}`;
};

const started = performance.now();
const parts: string[] = [];
for (const [n, name, load] of SECTIONS) {
  if (opts.only && !opts.only.includes(n)) continue;
  process.stderr.write(`--- ${n}. ${name}\n`);
  const section = await (await load())();
  const text = render(section);
  process.stdout.write(`${text}\n`);
  parts.push(text);
}
const header = [
  '# Benchmarks',
  '',
  `Machine: ${machine()}. Run on ${new Date().toISOString().slice(0, 10)} in ${((performance.now() - started) / 1000).toFixed(0)} s.`,
  '',
  'Reproduce: `npm run bench` (writes this file; `npm run bench -- --only 1,4` for some sections). Figures are ratios measured in one run against a baseline or a physical limit measured in the same run; absolute times are for orientation only. A missed target says why; targets are never lowered.',
  '',
].join('\n');
writeFileSync(opts.out, `${header}\n${parts.join('\n')}`);
process.stderr.write(`wrote ${opts.out}\n`);
