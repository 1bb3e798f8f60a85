/**
 * `ami-lifecycle`: the operator CLI. Read-only commands (status, plan, report,
 * doctor) only describe; bake and relaunch go through the same use cases as the
 * scheduled and event-driven paths. Exit codes: see cli/errors.ts.
 */
import * as v from 'valibot';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { Command, CommanderError } from 'commander';
import { inspectFleet, inspectRegion } from '../shared/use-cases/inspect-fleet.js';
import { bakeOnDemand, markGood, relaunchManually, type OnDemandBake } from '../shared/use-cases/operator-actions.js';
import { newestPromotable, promoteImage, type TargetOutcome } from '../shared/use-cases/promote-image.js';
import { promotionHoldings, rollbackLineage, type TargetHolding } from '../shared/use-cases/promotion-operator.js';
import { REGION_PATTERN, RetentionSpec, TAG } from '../shared/domain/tags.js';
import { DEFAULT_SNAPSHOT_PRICE_PER_GB_MONTH, parseAge, parseTagFilters, type StaleFilters } from '../shared/domain/stale.js';
import { adoptImages, adoptionPlan, findStaleImages, type StaleRun } from '../shared/use-cases/stale-images.js';
import { relaunchInRegion } from '../shared/use-cases/relaunch-in-region.js';
import { createContext, type CliContext, type GlobalOptions } from './context.js';
import { doctorExitCode, doctorSettings, doctorText, runDoctor } from './doctor/doctor.js';
import { EXIT, explain } from './errors.js';
import { renderReport, type ServiceEvent } from './render/report-html.js';
import { planText, recoveryPointsTable, staleSummary, staleTable, statusTable, table } from './render/text.js';
import { publicAccessView, type PublicAccessView } from './public-access.js';

const out = (text: string) => process.stdout.write(`${text}\n`);

/** Whether the account blocks public sharing of AMIs in the region; a refused read is said, never fatal to status. */
async function readPublicAccess(ctx: CliContext): Promise<PublicAccessView> {
  try {
    return publicAccessView(ctx.region, await ctx.deployment().imageBlockPublicAccess());
  } catch (error) {
    const code = (error as { name?: string }).name ?? 'Error';
    if (['CredentialsProviderError', 'ECONNREFUSED', 'TimeoutError'].includes(code)) throw error;
    return publicAccessView(ctx.region, { error: code });
  }
}
const json = (value: unknown) => out(JSON.stringify(value, null, 2));

export function buildProgram(): Command {
  const program = new Command('ami-lifecycle')
    .description('See what ami-lifecycle has done and will do in an AWS account (or an emulator), and bake or relaunch by hand')
    .option('-s, --stage <stage>', 'the deployed stage: its settings are read from serverless.yml', 'dev')
    .option('-r, --region <region>', 'AWS region (default: AWS_REGION, else the one serverless.yml names)')
    .option('-p, --profile <profile>', 'a named profile of your AWS config')
    .option('-e, --endpoint <url>', 'send every AWS call to this endpoint, e.g. http://127.0.0.1:5000 for moto')
    .option('-v, --verbose', 'log what the service does, on stderr')
    .option('-q, --quiet', 'no progress lines on stderr')
    .showHelpAfterError()
    // Global options go before the command (as every example in docs/cli.md has them): an option
    // after it is the command's own, so that `status --region <dr-region>` names the region whose
    // recovery points it shows, not the region the CLI works in.
    .enablePositionalOptions()
    .exitOverride()
    .addHelpText(
      'after',
      `
Exit codes: ${EXIT.ok} done; ${EXIT.failed} failed (or partly); ${EXIT.usage} usage; ${EXIT.credentials} no usable credentials;
${EXIT.unreachable} endpoint did not answer; ${EXIT.unknown} unknown instance or lineage.`,
    );

  /** Runs a command with its context, turning errors into a message and an exit code. */
  const run =
    <A extends unknown[]>(fn: (ctx: CliContext, ...args: A) => Promise<number>) =>
    async (...args: A) => {
      const options = program.opts<GlobalOptions>();
      let region = options.region ?? 'unknown';
      try {
        const ctx = createContext(options);
        region = ctx.region;
        process.exitCode = await fn(ctx, ...args);
      } catch (error) {
        if (error instanceof CommanderError) {
          process.stderr.write(`error: ${error.message}\n`);
          process.exitCode = EXIT.usage;
          return;
        }
        const { code, message } = explain(error, { endpoint: options.endpoint, region });
        process.stderr.write(`error: ${message}\n`);
        process.exitCode = code;
      }
    };

  program
    .command('status')
    .description('one row per lineage: instance, schedules, recover mode, last good image, images, snapshot size, next rotation, problems')
    .option('--region <dr-region>', "each lineage's newest good copy in this destination region, its age, and the stale ones")
    .option('--json', 'print JSON for scripts')
    .action(
      run(async (ctx, opts: { json?: boolean; region?: string }) => {
        if (opts.region !== undefined) return regionStatus(ctx, opts.region, opts.json ?? false);
        ctx.progress(`reading images, instances, launch templates and snapshots of ${ctx.deps.managedBy} in ${ctx.region}...`);
        const view = await inspectFleet(ctx.deps, ctx.schedulePeriods);
        const publicAccess = await readPublicAccess(ctx);
        // What each promotion target holds (the lineages whose instances carry ami-lifecycle:promote).
        const promotions = await promotionHoldings(ctx.promotion());
        if (opts.json) {
          json({
            managedBy: ctx.deps.managedBy,
            generatedAt: view.run.now,
            lineages: view.lineages,
            promotions,
            imageBlockPublicAccess: publicAccess,
          });
        } else {
          out(statusTable(view.lineages));
          if (promotions.length > 0)
            out(
              `\npromotion targets\n${table(['lineage', 'target', 'holds', 'version', 'newest good', 'note'], promotions.map(holdingRow))}`,
            );
          out(`\nAMI block public access: ${publicAccess.summary}${publicAccess.fix ? `\n  turn it on: ${publicAccess.fix}` : ''}`);
        }
        return EXIT.ok;
      }),
    );

  program
    .command('plan')
    .description('what the next rotation would keep and delete, and why; changes nothing')
    .option('--json', 'print JSON for scripts')
    .action(
      run(async (ctx, opts: { json?: boolean }) => {
        ctx.progress(`planning the rotation of ${ctx.deps.managedBy} in ${ctx.region}...`);
        const view = await inspectFleet(ctx.deps, ctx.schedulePeriods);
        if (opts.json) {
          json({
            managedBy: ctx.deps.managedBy,
            generatedAt: view.run.now,
            lineages: view.run.plan.lineages,
            decisions: view.run.plan.decisions,
            orphanSnapshots: view.run.orphans,
            referencesChecked: view.run.referencesChecked,
            keptUnverified: view.run.keptUnverified,
          });
        } else out(planText(view.run));
        return EXIT.ok;
      }),
    );

  /** The filters `stale` and `adopt` share (docs/stale-images.md). */
  const staleFilters = (command: Command) =>
    command
      .option('--older-than <age>', 'created, and last launched, at least this long ago: 90d, 12w', '90d')
      .option('--name <pattern>', "the image name, with * and ? as EC2's name filter reads them, e.g. 'packer-*'")
      .option('--tag <key=value>', 'a tag the image carries (repeat for more)', (v: string, all: string[]) => [...all, v], [] as string[])
      .option('--include-shared', 'images shared with other accounts may be candidates (a public image never is)')
      .option(
        '--price <usd>',
        "snapshot storage, USD per GB-month (default: the stage parameter snapshotPricePerGbMonth, else 0.05, AWS's standard-tier price, as for us-east-1)",
      );

  /** Reads the account and decides, for `stale` and `adopt`. */
  const readStale = async (ctx: CliContext, opts: StaleOptionsGiven): Promise<StaleRun> => {
    let filters: StaleFilters;
    try {
      filters = {
        olderThanDays: parseAge(opts.olderThan),
        name: opts.name,
        tags: parseTagFilters(opts.tag),
        includeShared: opts.includeShared ?? false,
      };
    } catch (error) {
      throw new CommanderError(EXIT.usage, 'usage', (error as Error).message);
    }
    const price = Number(opts.price ?? ctx.wiring.params.snapshotPricePerGbMonth ?? DEFAULT_SNAPSHOT_PRICE_PER_GB_MONTH);
    if (!Number.isFinite(price) || price < 0) throw new CommanderError(EXIT.usage, 'usage', `'${opts.price}' is not a price per GB-month`);
    ctx.progress(`reading every image the account owns in ${ctx.region}, and what uses each...`);
    const run = await findStaleImages({ filters, pricePerGbMonth: price }, ctx.stale());
    ctx.progress(
      `per-image calls: ${run.calls.describeImageReferences} DescribeImageReferences (10 images a call), ${run.calls.describeImageAttribute} DescribeImageAttribute launchPermission (one per would-be candidate)`,
    );
    return run;
  };

  staleFilters(
    program
      .command('stale')
      .description(
        'every AMI the account owns in the region, what uses each one, and the unused ones (candidates for adopt); changes nothing',
      ),
  )
    .option('--all', 'list every owned image, not only those the filters match')
    .option('--json', 'print JSON for scripts')
    .action(
      run(async (ctx, opts: StaleOptionsGiven & { all?: boolean; json?: boolean }) => {
        const { report, calls } = await readStale(ctx, opts);
        const shown = report.entries.filter((e) => opts.all || e.matches);
        if (opts.json) {
          json({ managedBy: ctx.deps.managedBy, region: ctx.region, generatedAt: ctx.deps.now(), ...report, entries: shown, calls });
          return EXIT.ok;
        }
        out(staleTable(shown));
        out(`\n${staleSummary(report.entries.length, shown.length, report)}`);
        return EXIT.ok;
      }),
    );

  staleFilters(
    program
      .command('adopt')
      .description(
        "tag the unused images the filters match (and their snapshots) as this stack's, so that rotation handles them; deletes nothing",
      ),
  )
    .option('--retain <retention>', 'their retention: a count, an age or tiers, as the retain tag takes it (default: the stage default)')
    .option('--lineage <lineage>', 'the lineage they join (default: adopted/<the name without its numbered suffix>)')
    .option('--dry-run', 'show the plan, tag nothing')
    .option('--yes', 'tag without asking')
    .option('--json', 'print JSON for scripts')
    .action(
      run(async (ctx, opts: StaleOptionsGiven & { retain?: string; lineage?: string; dryRun?: boolean; yes?: boolean; json?: boolean }) => {
        if (opts.retain !== undefined && !v.safeParse(RetentionSpec, opts.retain).success) {
          throw new CommanderError(EXIT.usage, 'usage', `'${opts.retain}' is not a retention (7, 14d, daily=7,weekly=4)`);
        }
        const staleRun = await readStale(ctx, opts);
        let steps: ReturnType<typeof adoptionPlan>;
        try {
          steps = adoptionPlan(staleRun, { lineage: opts.lineage, retain: opts.retain?.trim() }, ctx.deps);
        } catch (error) {
          throw new CommanderError(EXIT.usage, 'usage', (error as Error).message);
        }
        const dryRun = opts.dryRun ?? false;
        if (!opts.json) {
          out(
            steps.length === 0
              ? 'nothing to adopt: no unused image matches the filters'
              : table(
                  ['image', 'name', 'lineage', 'snapshots'],
                  steps.map((s) => [s.imageId, s.name, s.lineage, String(s.snapshotIds.length)]),
                ),
          );
          if (steps.length > 0) out(`\n${staleSummary(staleRun.report.entries.length, steps.length, staleRun.report)}`);
        }
        if (steps.length > 0 && !dryRun && !opts.yes) {
          if (!process.stdin.isTTY) throw new CommanderError(EXIT.usage, 'usage', 'not a terminal: give --yes to adopt without a prompt');
          const prompt = createInterface({ input: process.stdin, output: process.stderr });
          const answer = await prompt.question(`tag these ${steps.length} image(s) and their snapshots as ${ctx.deps.managedBy}'s? [y/N] `);
          prompt.close();
          if (!/^y(es)?$/i.test(answer.trim())) {
            out('nothing tagged');
            return EXIT.ok;
          }
        }
        const result = await adoptImages(steps, dryRun, ctx.stale());
        if (opts.json) json(result);
        else if (dryRun) out('dry run: nothing tagged');
        else {
          out(`adopted ${result.adopted.length} image(s); the next rotation handles them under their lineage's retention`);
          for (const f of result.failures) out(`  ${f.imageId}: ${f.errorCode}: ${f.message}`);
        }
        return result.failures.length > 0 ? EXIT.failed : EXIT.ok;
      }),
    );

  program
    .command('bake')
    .description('bake instances now, into the current slot of their schedule (the scheduled path: same names, same idempotency)')
    .argument('[instance-ids...]', 'instances to bake')
    .option('--all', 'every opted-in instance')
    .option('--schedule <name>', 'the schedule to bake for (default: the first one the instance is tagged with)')
    .option('--json', 'print JSON for scripts')
    .action(
      run(async (ctx, ids: string[], opts: { all?: boolean; schedule?: string; json?: boolean }) => {
        if (Boolean(opts.all) === ids.length > 0) throw new CommanderError(EXIT.usage, 'usage', 'give instance ids or --all (not both)');
        const results = await bakeOnDemand(opts.all ? 'all' : ids, ctx.deps, {
          schedule: opts.schedule,
          schedulePeriods: ctx.schedulePeriods,
          progress: (done, total) => ctx.progress(`baked ${done}/${total}`),
        });
        if (opts.json) json(results);
        else out(table(['instance', 'result', 'detail'], results.map(bakeRow)));
        if (results.some((r) => 'status' in r && r.status === 'not-found')) return EXIT.unknown;
        // Skipped or refused is not done: only created or already baked counts.
        return results.every((r) => 'outcome' in r && r.outcome.status !== 'failed') ? EXIT.ok : EXIT.failed;
      }),
    );

  program
    .command('relaunch')
    .description(
      "relaunch an instance (or a lineage's current instance) from the newest good image, as recovery would; " +
        'with --region, relaunch a lineage in that disaster-recovery region from its newest good copy there',
    )
    .argument('<target>', 'an instance id or a lineage (with --region: a lineage)')
    .option('--region <dr-region>', 'relaunch the lineage in this disaster-recovery region, from its newest good copy there')
    .option('--dry-run', 'plan the relaunch and publish RelaunchPlanned, launch nothing')
    .option('--force', 'relaunch even an instance whose capacity another service owns (an Auto Scaling group, a fleet, Karpenter)')
    .option('--subnet <subnet>', "with --region: the subnet to launch into (overrides the stage's drRegions map)")
    .option('--security-groups <ids>', 'with --region: comma list of security groups (overrides the map)')
    .option('--json', 'print JSON for scripts')
    .action(
      run(
        async (
          ctx,
          target: string,
          opts: { region?: string; dryRun?: boolean; force?: boolean; json?: boolean; subnet?: string; securityGroups?: string },
        ) => {
          if (opts.region !== undefined && opts.region !== ctx.region) return relaunchInDrRegion(ctx, target, opts.region, opts);
          if (opts.subnet || opts.securityGroups)
            throw new CommanderError(
              EXIT.usage,
              'usage',
              '--subnet and --security-groups go with --region <a region other than the stack’s>',
            );
          const deps = { ...ctx.deps, recovery: { ...ctx.deps.recovery, dryRun: opts.dryRun ?? ctx.deps.recovery.dryRun } };
          ctx.progress(`${deps.recovery.dryRun ? 'planning' : 'running'} the relaunch of ${target}...`);
          const outcome = await relaunchManually(target, deps, { force: opts.force ?? false });
          if (opts.json) json(outcome);
          else if (outcome.action === 'relaunched')
            out(
              `relaunched ${outcome.instanceId} as ${outcome.replacementId} from ${outcome.imageId}${outcome.resumed ? ' (launched earlier; finished now)' : ''}`,
            );
          else if (outcome.action === 'planned')
            out(`would relaunch ${outcome.instanceId} from ${outcome.imageId} (dry run: nothing launched)`);
          else out(`not relaunched (${outcome.action}): ${outcome.reason}`);
          return outcome.action === 'relaunched' || outcome.action === 'planned' ? EXIT.ok : EXIT.failed;
        },
      ),
    );

  program
    .command('mark-good')
    .description('clear a wrong bad mark: the image (of this stack, marked bad by recovery) and its snapshots become good again')
    .argument('<image>', 'an image id')
    .action(
      run(async (ctx, imageId: string) => {
        const marked = await markGood(imageId, ctx.deps);
        out(
          `${marked.imageId} is good again${marked.lineage ? ` (lineage ${marked.lineage})` : ''}: recovery may launch from it, rotation counts it`,
        );
        return EXIT.ok;
      }),
    );

  program
    .command('promote')
    .description("promote a lineage's newest good image (or the one given) into the targets its instances name in ami-lifecycle:promote")
    .argument('<lineage>', 'the lineage')
    .option('--image <ami>', 'this good image of the lineage rather than its newest')
    .option('--target <target>', 'only this target, as the tag spells it (ssm:/path, lt:<template>, asg:<group>)')
    .option('--json', 'print JSON for scripts')
    .action(
      run(async (ctx, lineage: string, opts: { image?: string; target?: string; json?: boolean }) => {
        const deps = ctx.promotion();
        const imageId = opts.image ?? (await newestPromotable(lineage, deps))?.imageId;
        if (!imageId) {
          process.stderr.write(`error: the lineage ${lineage} has no good image of ${deps.managedBy} to promote\n`);
          return EXIT.unknown;
        }
        // An image of another lineage would go into that lineage's targets: refused before anything changes.
        const of = (await deps.ec2.describeImage(imageId))?.tags[TAG.lineage];
        if (of !== undefined && of !== lineage) {
          process.stderr.write(`error: ${imageId} is of the lineage ${of}, not ${lineage}\n`);
          return EXIT.usage;
        }
        const report = await promoteImage(imageId, deps, 'manual', opts.target ? [opts.target] : undefined);
        if (opts.json) json(report);
        else if (report.skipped) out(`${imageId} not promoted: ${report.skipped}`);
        else out(table(['target', 'result', 'version', 'detail'], report.targets.map(outcomeRow)));
        if (report.skipped && report.targets.length === 0) return report.lineage ? EXIT.failed : EXIT.unknown;
        return report.targets.some((t) => t.outcome === 'failed') ? EXIT.failed : EXIT.ok;
      }),
    );

  program
    .command('rollback')
    .description("take the lineage's promotion targets back to the image each held before; the image left is marked bad")
    .argument('<lineage>', 'the lineage')
    .option('--target <target>', 'only this target, as the tag spells it (ssm:/path, lt:<template>, asg:<group>)')
    .option('--json', 'print JSON for scripts')
    .action(
      run(async (ctx, lineage: string, opts: { target?: string; json?: boolean }) => {
        const outcomes = await rollbackLineage(lineage, ctx.promotion(), opts.target);
        if (opts.json) json(outcomes);
        else if (outcomes.length === 0) out(`the lineage ${lineage} names no promotion target`);
        else out(table(['target', 'result', 'version', 'detail'], outcomes.map(outcomeRow)));
        if (outcomes.length === 0) return EXIT.unknown;
        return outcomes.every((o) => o.outcome === 'rolled-back') ? EXIT.ok : EXIT.failed;
      }),
    );

  program
    .command('report')
    .description('write a self-contained HTML page with a timeline per lineage')
    .requiredOption('--html <file>', 'the page to write')
    .option(
      '--events <file>',
      "the service's published events as JSON lines (e.g. from an archive or the sandbox), for past rotations and relaunches",
    )
    .action(
      run(async (ctx, opts: { html: string; events?: string }) => {
        ctx.progress(`reading ${ctx.deps.managedBy} in ${ctx.region}...`);
        const view = await inspectFleet(ctx.deps, ctx.schedulePeriods);
        const history = opts.events ? readEvents(opts.events) : undefined;
        writeFileSync(
          opts.html,
          renderReport({ managedBy: ctx.deps.managedBy, generatedAt: view.run.now, fleet: view, ...(history ? { history } : {}) }),
        );
        out(`wrote ${opts.html}: ${view.lineages.length} lineage(s)`);
        return EXIT.ok;
      }),
    );

  program
    .command('doctor')
    .description(
      "check the deployed stack on the account: each function's permissions (simulated against its role), Lambda concurrency, AMI block public access, EBS encryption, rules, schedules and dead-letter queues",
    )
    .option('--json', 'print JSON for scripts')
    .action(
      run(async (ctx, opts: { json?: boolean }) => {
        const report = await runDoctor(ctx.deployment(), doctorSettings(ctx.wiring, ctx.region), ctx.progress);
        if (opts.json) json(report);
        else out(doctorText(report));
        return doctorExitCode(report);
      }),
    );

  return program;
}

/** `relaunch <lineage> --region R`: from the newest good copy in R (shared/use-cases/relaunch-in-region.ts). */
async function relaunchInDrRegion(
  ctx: CliContext,
  lineage: string,
  region: string,
  opts: { dryRun?: boolean; force?: boolean; json?: boolean; subnet?: string; securityGroups?: string },
): Promise<number> {
  // A lineage is named after its first instance (i-...): the positional is read as a lineage, whatever it looks like.
  if (!REGION_PATTERN.test(region)) throw new CommanderError(EXIT.usage, 'usage', `--region ${region} is not a region name`);
  const securityGroupIds = opts.securityGroups
    ?.split(',')
    .map((g) => g.trim())
    .filter(Boolean);
  ctx.progress(`${opts.dryRun ? 'planning' : 'running'} the relaunch of ${lineage} in ${region} (home: ${ctx.region})...`);
  const outcome = await relaunchInRegion(ctx.dr(), lineage, region, {
    subnetId: opts.subnet,
    securityGroupIds,
    dryRun: opts.dryRun ?? false,
  });
  if (opts.json) json(outcome);
  else if (outcome.action === 'refused') out(`not relaunched (${outcome.code}): ${outcome.reason}`);
  else {
    const did =
      outcome.action === 'planned'
        ? `would relaunch ${lineage} in ${region} from the copy ${outcome.imageId} (dry run: nothing launched)`
        : `relaunched ${lineage} in ${region} as ${outcome.instanceId} from the copy ${outcome.imageId}${outcome.resumed ? ' (launched earlier: the same instance)' : ''}`;
    out(
      `${did}\n  into ${outcome.subnetId} with ${outcome.securityGroupIds.join(', ')}; configuration: the ${outcome.capture === 'dr' ? 'DR' : 'home'} capture`,
    );
    if (outcome.notFollowed.length > 0) out(`could not follow:\n${outcome.notFollowed.map((n) => `  - ${n}`).join('\n')}`);
    for (const w of outcome.warnings) process.stderr.write(`warning: ${w}\n`);
  }
  if (outcome.action !== 'refused') return EXIT.ok;
  if (outcome.code === 'NoGoodCopy') return EXIT.unknown;
  return outcome.code === 'NoSubnet' || outcome.code === 'NoSecurityGroups' ? EXIT.usage : EXIT.failed;
}

/** `status --region R`: the recovery points of the copies in R (docs/disaster-recovery.md). */
async function regionStatus(ctx: CliContext, region: string, asJson: boolean): Promise<number> {
  if (!REGION_PATTERN.test(region)) throw new CommanderError(EXIT.usage, 'usage', `--region ${region}: not a region, e.g. eu-west-1`);
  if (region === ctx.region) {
    throw new CommanderError(
      EXIT.usage,
      'usage',
      `--region ${region} is the home region: copies are in other regions (plain status shows it)`,
    );
  }
  ctx.progress(`reading the images of ${ctx.deps.managedBy} in ${ctx.region} and its copies in ${region}...`);
  const view = await inspectRegion(
    region,
    { managedBy: ctx.deps.managedBy, now: ctx.deps.now, ec2: ctx.deps.ec2, homeRegion: ctx.region, ec2In: ctx.ec2In },
    ctx.schedulePeriods,
  );
  if (asJson)
    json({
      managedBy: ctx.deps.managedBy,
      generatedAt: view.now,
      region: view.region,
      homeRegion: view.homeRegion,
      lineages: view.lineages,
    });
  else out(recoveryPointsTable(view));
  return EXIT.ok;
}

interface StaleOptionsGiven {
  olderThan: string;
  name?: string;
  tag: string[];
  includeShared?: boolean;
  price?: string;
}

function outcomeRow(o: TargetOutcome): string[] {
  const detail = [
    o.to ? `now ${o.to}` : '',
    o.previousImageId ? `was ${o.previousImageId}` : '',
    o.detail ?? '',
    o.refresh ? `refresh: ${o.refresh}` : '',
  ];
  return [o.target, o.outcome, o.version === undefined ? '' : String(o.version), detail.filter(Boolean).join('; ')];
}

function holdingRow(h: TargetHolding): string[] {
  const note = h.error ?? (h.newestGood && h.imageId !== h.newestGood ? 'behind the newest good image' : '');
  return [h.lineage, h.target, h.imageId ?? '', h.version === undefined ? '' : String(h.version), h.newestGood ?? '', note];
}

function bakeRow(r: OnDemandBake): string[] {
  if ('outcome' in r) {
    const o = r.outcome;
    if (o.status === 'failed') return [r.instanceId, 'failed', `${o.errorCode}: ${o.message}`];
    return [r.instanceId, o.status, `${o.imageId} ${o.imageName}`];
  }
  return [r.instanceId, r.status, r.reason];
}

function readEvents(file: string): ServiceEvent[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as ServiceEvent);
}

export async function main(argv: string[] = process.argv): Promise<number> {
  process.exitCode = undefined;
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are answers, not errors; anything else commander refused is usage.
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    throw error;
  }
  return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
}
