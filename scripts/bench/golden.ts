/**
 * Section 8 of `npm run bench`: the golden-image paths (issues 15 and 16), their AWS calls per
 * image. Instances with verify=boot and two promotion targets each (an SSM parameter and a
 * promotable launch template of their own) are baked by the real handlers against moto behind the
 * harness's proxy; the calls are counted in two phases: the verification (from the verify
 * function's requests until every image is good: test instance, status checks, its one-time
 * schedules, the test instance ended), then the promotion (the promote function handed each
 * image's ImageBaked). Two batches, one after the other, of SMALL then LARGE images: a path whose
 * calls per image grow with the batch would show it.
 */
import { fileURLToPath } from 'node:url';
import { CreateLaunchTemplateCommand, CreateTagsCommand, DescribeImagesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { TAG, tagRecord } from '../../shared/domain/tags.js';
import { assertNoApiViolations } from '../../test/harness/api-model/index.js';
import { requireNoDenials } from '../../test/harness/iam/report.js';
import type { LocalCloud } from '../../test/harness/local-cloud.js';
import { startVerificationCloud } from '../../test/harness/verification-cloud.js';
import { runSectionScript, sectionInChild, type BenchSection } from './section.js';

const SMALL = 10;
const LARGE = 40;
const MINUTE = 60_000;
/** Calls per image may grow at most this much from the small batch to the large one. */
const GROWTH = 1.05;

interface Phase {
  calls: Record<string, number>;
  total: number;
}

interface Batch {
  images: number;
  good: number;
  promoted: number;
  verification: Phase;
  promotion: Phase;
}

const phase = (cloud: LocalCloud): Phase => {
  const calls = cloud.proxy.calls();
  return { calls, total: Object.values(calls).reduce((a, b) => a + b, 0) };
};

/** One batch: `n` instances baked, their images verified, then promoted; the calls of each phase. */
async function batch(cloud: LocalCloud, n: number, label: string): Promise<Batch> {
  const lineages: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = `${label}-${i}`;
    await cloud.ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: `lt-${name}`,
        LaunchTemplateData: { ImageId: 'ami-0123456789abcdef0', InstanceType: 't3.micro' },
        TagSpecifications: [{ ResourceType: 'launch-template', Tags: [{ Key: TAG.promotable, Value: 'true' }] }],
      }),
    );
    const [instanceId] = await cloud.launch(1, { [TAG.bake]: 'nightly', [TAG.verify]: 'boot' });
    await cloud.ec2.send(
      new CreateTagsCommand({
        Resources: [instanceId!],
        Tags: [{ Key: TAG.promote, Value: `ssm:/ami-lifecycle/bench/${name},lt:lt-${name}` }],
      }),
    );
    lineages.push(instanceId!);
  }

  // The night: bake, build, settle `verifying`; the verification requests wait in the verify function's queue.
  await cloud.fireSchedule('nightly', new Date());
  cloud.setClock(undefined);
  await cloud.deliver();
  await cloud.finishImageBuilds();
  await cloud.announceImageStates();
  const held: Array<{ functionName: string; event: unknown }> = [];
  for (const d of await cloud.drain()) {
    if (d.functionName === 'imageState') await cloud.invoke(d.functionName, d.event);
    else held.push(d);
  }
  held.push(...(await cloud.drain()));

  // Verification: the requests, then every look the verify function schedules, until all are done.
  cloud.proxy.resetCalls();
  for (let round = 0; round < 10; round++) {
    const requests = held.filter((d) => d.functionName === 'verify');
    const rest = held.filter((d) => d.functionName !== 'verify');
    held.length = 0;
    held.push(...rest);
    for (const d of requests) await cloud.invoke(d.functionName, d.event);
    await cloud.fireDueSchedules(new Date(Date.now() + 30 * MINUTE));
    const more = await cloud.drain();
    held.push(...more);
    if (!more.some((d) => d.functionName === 'verify')) break;
  }
  const verification = phase(cloud);
  const images = await imagesOf(cloud, lineages);
  const good = images.filter((i) => tagRecord(i.Tags)[TAG.status] === 'good').length;

  // Promotion: each good image's ImageBaked, handed to the promote function (the copy function's are not: section 6).
  cloud.proxy.resetCalls();
  for (const d of held.filter((x) => x.functionName === 'promote')) await cloud.invoke(d.functionName, d.event);
  const promotion = phase(cloud);
  const promoted = (await imagesOf(cloud, lineages)).filter((i) => (tagRecord(i.Tags)[TAG.promoted] ?? '').split(',').length === 2).length;

  // The sources end, so the next batch's night bakes only its own.
  await cloud.ec2.send(new TerminateInstancesCommand({ InstanceIds: lineages }));
  return { images: n, good, promoted, verification, promotion };
}

async function imagesOf(cloud: LocalCloud, sources: string[]) {
  const { Images = [] } = await cloud.ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: `tag:${TAG.sourceInstance}`, Values: sources }] }),
  );
  return Images;
}

async function measureGolden(): Promise<BenchSection> {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  // verifyMaxConcurrent at its maximum: every image of a batch is verified at once.
  const { cloud, moto } = await startVerificationCloud({ verifyMaxConcurrent: '100' });
  const batches: Batch[] = [];
  try {
    batches.push(await batch(cloud, SMALL, 'small'));
    batches.push(await batch(cloud, LARGE, 'large'));
    assertNoApiViolations(cloud.proxy, (text) => process.stderr.write(`golden: ${text}\n`));
    requireNoDenials(cloud.iam, 'golden');
  } finally {
    await cloud.stop();
    await moto.stop();
  }

  const per = (p: Phase, n: number) => p.total / n;
  const actions = (key: 'verification' | 'promotion') =>
    [...new Set(batches.flatMap((b) => Object.keys(b[key].calls)))]
      .sort()
      .map((action) => [
        `${key}: ${action}`,
        ...batches.flatMap((b) => [String(b[key].calls[action] ?? 0), ((b[key].calls[action] ?? 0) / b.images).toFixed(3)]),
      ]);
  const [small, large] = batches as [Batch, Batch];
  const growth = (key: 'verification' | 'promotion') => per(large[key], large.images) / per(small[key], small.images);
  const allDone = batches.every((b) => b.good === b.images && b.promoted === b.images);
  return {
    title: '8. Verification and promotion',
    method:
      `Instances with verify=boot and two promotion targets each (an SSM parameter, a promotable launch template), baked by the real ` +
      `handlers against moto behind the harness proxy (IAM and API model checked), verifyMaxConcurrent 100; calls counted from the ` +
      `verification requests until every image is good (test instance, status checks, its one-time schedules, the instance ended), then ` +
      `for the promote function handed each image's ImageBaked. A batch of ${SMALL}, then one of ${LARGE}.`,
    header: ['call', `N=${SMALL}`, 'per image', `N=${LARGE}`, 'per image'],
    rows: [
      ...actions('verification'),
      ['verification: all calls', ...batches.flatMap((b) => [String(b.verification.total), per(b.verification, b.images).toFixed(3)])],
      ...actions('promotion'),
      ['promotion: all calls', ...batches.flatMap((b) => [String(b.promotion.total), per(b.promotion, b.images).toFixed(3)])],
      ['images good / promoted to both targets', ...batches.flatMap((b) => [`${b.good} / ${b.promoted}`, ''])],
    ],
    targets: [
      {
        name: `verification calls per image, N=${LARGE} / N=${SMALL}`,
        target: `≤ ${GROWTH.toFixed(2)}×`,
        measured: `${growth('verification').toFixed(2)}× (${per(large.verification, LARGE).toFixed(2)} vs ${per(small.verification, SMALL).toFixed(2)})`,
        met: allDone && growth('verification') <= GROWTH,
        note: 'Each image has its own test instance, its own looks and its own end; the reads are per verification, not per fleet.',
      },
      {
        name: `promotion calls per image (2 targets), N=${LARGE} / N=${SMALL}`,
        target: `≤ ${GROWTH.toFixed(2)}×`,
        measured: `${growth('promotion').toFixed(2)}× (${per(large.promotion, LARGE).toFixed(2)} vs ${per(small.promotion, SMALL).toFixed(2)})`,
        met: allDone && growth('promotion') <= GROWTH,
        note: 'One ImageBaked, one invocation: each target is read, written and recorded for that image alone.',
      },
      {
        name: 'images verified good and promoted to both targets',
        target: 'all',
        measured: batches.map((b) => `${b.good}/${b.images} good, ${b.promoted}/${b.images} promoted`).join('; '),
        met: allDone,
      },
    ],
  };
}

/** Section 8 of `npm run bench`, measured in a child process (see sectionInChild). */
export function goldenPaths(): Promise<BenchSection> {
  return sectionInChild(fileURLToPath(import.meta.url));
}

await runSectionScript(import.meta.url, measureGolden, goldenPaths);
