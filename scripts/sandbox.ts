/**
 * `npm start`: the service running locally against moto. Starts moto on a free
 * loopback port, seeds a small demo fleet, and drives the real handlers through
 * the wiring declared in serverless.yml for a few simulated nights, printing
 * what happened. Nothing here reaches AWS.
 *
 *   npm start -- --nights 3 --fleet 6
 */
import { Command, InvalidArgumentError } from 'commander';
import { DescribeImagesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { LocalCloud, type Delivery } from '../test/harness/local-cloud.js';
import { TAG, tagRecord } from '../shared/domain/tags.js';

const positive = (max: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`a whole number from 1 to ${max}`);
  return n;
};

const program = new Command('sandbox')
  .description('Run ami-lifecycle locally against moto and print what it does')
  .option('--nights <n>', 'simulated nights to run', positive(30), 2)
  .option('--fleet <n>', 'opted-in demo instances (besides one untagged and one with a bad tag)', positive(50), 4)
  .option('--start <date>', 'first simulated night (UTC date)', '2026-11-26')
  .parse();
const options = program.opts<{ nights: number; fleet: number; start: string }>();

const say = (line = '') => process.stdout.write(`${line}\n`);
const ok = (d: Delivery) => !d.error && (d.result as { status?: string } | undefined)?.status !== 'rejected';

async function main(): Promise<void> {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  const cloud = await LocalCloud.start({ stage: 'dev' });
  const managedBy = cloud.wiring.environment.MANAGED_BY!;
  try {
    say(`ami-lifecycle sandbox: moto at ${cloud.moto.endpoint}, stack ${managedBy}`);
    say(`wiring from serverless.yml: ${cloud.wiring.functions.map((f) => f.name).join(', ')}; bus ${cloud.wiring.eventBusName}`);
    say();

    // The demo fleet: opted-in web servers, one weekly database, one untagged and one mis-tagged.
    const fleet = new Map<string, string>();
    const label = async (name: string, count: number, tags: Record<string, string>) => {
      const ids = await cloud.launch(count, { Name: name, ...tags });
      ids.forEach((id, i) => fleet.set(id, count > 1 ? `${name}-${i + 1}` : name));
      return ids;
    };
    await label('web', Math.max(1, options.fleet - 1), { [TAG.bake]: 'nightly' });
    await label('db', 1, { [TAG.bake]: 'nightly,weekly', [TAG.reboot]: 'true' });
    await label('scratch', 1, {});
    await label('typo', 1, { [TAG.bake]: 'nightly', [TAG.reboot]: 'yes please' });
    const stopped = (await label('batch', 1, { [TAG.bake]: 'nightly' }))[0]!;
    await cloud.ec2.send(new StopInstancesCommand({ InstanceIds: [stopped] }));
    say(`fleet: ${fleet.size} instances`);
    for (const [id, name] of fleet) say(`  ${id}  ${name}`);

    const first = new Date(`${options.start}T03:00:00Z`);
    if (Number.isNaN(first.getTime())) throw new Error(`--start: not a date: ${options.start}`);
    for (let night = 0; night < options.nights; night++) {
      const at = new Date(first.getTime() + night * 86_400_000);
      say();
      say(`== night ${night + 1}: ${at.toISOString()} — the nightly schedule fires`);
      const report = (await cloud.fireSchedule('nightly', at)) as {
        slot: string;
        bakeRequested: number;
        skipped: Record<string, number>;
        policyInvalid: number;
        reconcile: { pendingSeen?: number; good?: number };
      };
      say(
        `   slot ${report.slot}: ${report.bakeRequested} bake requests, skipped ${JSON.stringify(report.skipped)}, ` +
          `reconcile settled ${report.reconcile.good ?? 0} of ${report.reconcile.pendingSeen ?? 0} pending`,
      );
      for (const e of cloud.published('PolicyInvalid').filter((e) => e.detail.slot === report.slot)) {
        const problems = e.detail.problems as Array<{ tag: string; value: string; reason: string }>;
        say(`   PolicyInvalid ${e.detail.instanceId} (${fleet.get(String(e.detail.instanceId))}): ${problems.map((p) => `${p.tag}='${p.value}': ${p.reason}`).join('; ')}`);
      }
      for (const d of await cloud.deliver()) {
        const r = d.result as { status: string; imageId?: string; imageName?: string; errorCode?: string };
        say(`   ${d.function}: ${r.status} ${r.imageId ?? ''} ${r.imageName ?? r.errorCode ?? ''}${ok(d) ? '' : `  ${d.error ?? ''}`}`);
      }
      if (night === 0) {
        // AWS delivers at least once: the same request again must change nothing.
        const again = cloud.published('BakeRequested').find((e) => e.detail.slot === report.slot)!;
        await cloud.putEvent({ source: again.source, detailType: again['detail-type'], detail: again.detail, bus: cloud.wiring.eventBusName });
        const [dup] = await cloud.deliver();
        say(`   duplicate BakeRequested for ${again.detail.instanceId}: ${(dup?.result as { status: string }).status}`);
      }
      if (night === 0 && options.nights > 1) {
        // Those events are best effort: lose them tonight, and the next run settles the images.
        say('   EC2 AMI State Change events lost tonight: the next scheduled run reconciles');
        continue;
      }
      const announced = await cloud.announceImageStates();
      const settled = await cloud.deliver();
      const good = settled.filter((d) => (d.result as { kind: string }).kind === 'good').length;
      say(`   EC2 AMI State Change x${announced} -> ${good} images marked good, ${settled.length - good} already settled`);
    }

    say();
    say('== images by lineage');
    const { Images = [] } = await cloud.ec2.send(
      new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: `tag:${TAG.managedBy}`, Values: [managedBy] }] }),
    );
    const byLineage = new Map<string, Array<{ slot: string; status: string; id: string }>>();
    for (const image of Images) {
      const t = tagRecord(image.Tags);
      const list = byLineage.get(t[TAG.lineage] ?? '?') ?? [];
      list.push({ slot: t[TAG.slot] ?? '', status: t[TAG.status] ?? '', id: image.ImageId ?? '' });
      byLineage.set(t[TAG.lineage] ?? '?', list);
    }
    say(`   ${'lineage'.padEnd(22)} ${'name'.padEnd(8)} images  statuses`);
    for (const [lineage, images] of [...byLineage].sort()) {
      images.sort((a, b) => a.slot.localeCompare(b.slot));
      say(`   ${lineage.padEnd(22)} ${(fleet.get(lineage) ?? '').padEnd(8)} ${String(images.length).padEnd(7)} ${images.map((i) => `${i.slot}:${i.status}`).join(' ')}`);
    }
    const events = cloud.published();
    const counts = events.reduce<Record<string, number>>((acc, e) => ({ ...acc, [e['detail-type']]: (acc[e['detail-type']] ?? 0) + 1 }), {});
    say();
    say(`events published: ${JSON.stringify(counts)}`);
    say(`AWS calls made by the service: ${JSON.stringify(cloud.proxy.calls())}`);
  } finally {
    await cloud.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`sandbox failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
