/**
 * Section 6 of `npm run bench`: disaster-recovery copies (issue 17). 1,000 good images of 1,000
 * lineages in the home region name a second region (copy-to); the real copy function runs its
 * passes (the 15-minute sweep's event) against moto behind the harness's proxy, with the stage's
 * bound at AWS's limit (copyMaxConcurrent 300). Between passes the harness's image clock moves by
 * one copy's duration, so each copy started in a pass has finished by the next. Measured: the AWS
 * calls per copy (all of them, reads included), the most copies in flight at once, and the
 * simulated time until every copy is good, as a ratio to the bound's own: ceil(1000 / 300) copy
 * durations. Assumes the sweep runs at least once per copy duration (it runs every 15 minutes; a
 * copy takes minutes to hours).
 */
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { CreateImageCommand, DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { PROJECT_ROOT } from '../../cli/serverless-config.js';
import { TAG } from '../../shared/domain/tags.js';
import { assertNoApiViolations } from '../../test/harness/api-model/index.js';
import { requireNoDenials } from '../../test/harness/iam/report.js';
import { LocalCloud } from '../../test/harness/local-cloud.js';
import { ratio, runSectionScript, sectionInChild, type BenchSection } from './section.js';

const COPIES = 1000;
const BOUND = 300;
const COPY_MS = 30 * 60_000;
const DR = 'eu-west-1';
const TARGET_CALLS = 1.2;
/** The calls of the DR capture: the home capture's newest version, the region's template of that name. */
const DR_CAPTURE_ACTIONS = [
  'DescribeLaunchTemplateVersions',
  'DescribeLaunchTemplates',
  'DescribeAddresses',
  'CreateLaunchTemplate',
  'CreateLaunchTemplateVersion',
];
/** One read in each region per lineage whose copy turned good (dr-capture.ts): at most 2 a copy. */
const TARGET_CAPTURE_CALLS = 2;
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

async function measureCopies(): Promise<BenchSection> {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  const cloud = await LocalCloud.start({
    imagePending: { forMs: COPY_MS, clock: 'manual' },
    params: { copyMaxConcurrent: String(BOUND) },
  });
  const dr = new EC2Client({ endpoint: cloud.moto.endpoint, region: DR, credentials });
  const sweep = JSON.parse(readFileSync(`${PROJECT_ROOT}/events/copy-sweep.json`, 'utf8')) as Record<string, unknown>;
  const passes: Array<{ started: number; good: number; inFlight: number }> = [];
  let calls: Record<string, number> = {};
  let advances = 0;
  try {
    // 1,000 good images of their own lineages, made straight in moto, as the bakes leave them.
    const [instanceId] = await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly' });
    const managedBy = cloud.wiring.environment.MANAGED_BY!;
    for (let i = 0; i < COPIES; i += 25) {
      await Promise.all(
        Array.from({ length: Math.min(25, COPIES - i) }, (_, k) => {
          const lineage = `bench-${i + k}`;
          const tags = {
            [TAG.managedBy]: managedBy,
            [TAG.lineage]: lineage,
            [TAG.sourceInstance]: instanceId!,
            [TAG.schedule]: 'nightly',
            [TAG.slot]: '2026-11-26',
            [TAG.status]: 'good',
            [TAG.copyTo]: DR,
          };
          return cloud.ec2.send(
            new CreateImageCommand({
              InstanceId: instanceId,
              Name: `${lineage}-2026-11-26`,
              TagSpecifications: [{ ResourceType: 'image', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }],
            }),
          );
        }),
      );
    }
    const good = async () =>
      (
        await dr.send(
          new DescribeImagesCommand({
            Owners: ['self'],
            Filters: [
              { Name: `tag:${TAG.status}`, Values: ['good'] },
              { Name: 'tag-key', Values: [TAG.sourceImage] },
            ],
          }),
        )
      ).Images?.length ?? 0;

    cloud.proxy.resetCalls();
    let started = 0;
    for (let pass = 0; pass < 20; pass++) {
      await cloud.invokeBatch('copy', [{ ...sweep, id: `bench-sweep-${pass}` }]);
      const total = cloud.proxy.copies().length;
      passes.push({ started: total - started, good: await good(), inFlight: cloud.proxy.copiesInFlight(DR) });
      started = total;
      if (passes.at(-1)!.good === COPIES) break;
      cloud.proxy.advanceImageClock(COPY_MS);
      advances++;
    }
    calls = cloud.proxy.calls();
    assertNoApiViolations(cloud.proxy, (text) => process.stderr.write(`copies: ${text}\n`));
    requireNoDenials(cloud.iam, 'copies');
  } finally {
    dr.destroy();
    await cloud.stop();
  }

  const totalCalls = Object.values(calls).reduce((a, b) => a + b, 0);
  // The DR capture (dr-capture.ts), kept once a copy turns good, reads the home capture and the region's;
  // it is a job of its own beside the copy, counted apart. Here no lineage has a home capture: reads only.
  const captureCalls = DR_CAPTURE_ACTIONS.reduce((sum, a) => sum + (calls[a] ?? 0), 0);
  const perCopy = (totalCalls - captureCalls) / COPIES;
  const capturePerCopy = captureCalls / COPIES;
  const maxInFlight = Math.max(...passes.map((p) => p.inFlight));
  const boundTime = Math.ceil(COPIES / BOUND) * COPY_MS;
  const took = advances * COPY_MS;
  const done = passes.at(-1)?.good === COPIES;
  return {
    title: '6. Disaster-recovery copies',
    method:
      `${COPIES} good images of ${COPIES} lineages naming one other region; the copy function's passes (the sweep's event, real handler, ` +
      `IAM and API model checked) against moto behind the harness proxy, copyMaxConcurrent ${BOUND} (AWS's limit per destination region); ` +
      `between passes the harness image clock moves by one copy's duration (${COPY_MS / 60_000} min simulated).`,
    header: ['pass', 'copies started', 'copies good', 'in flight after the pass'],
    rows: [
      ...passes.map((p, i) => [String(i + 1), String(p.started), String(p.good), String(p.inFlight)]),
      [
        'calls',
        Object.entries(calls)
          .map(([a, n]) => `${a} ${n}`)
          .join(', '),
        '',
        `${totalCalls} in all`,
      ],
    ],
    targets: [
      {
        name: 'AWS calls per copy (reads, CopyImage, CreateTags, PutEvents)',
        target: `≤ ${TARGET_CALLS}`,
        measured: perCopy.toFixed(3),
        met: done && perCopy <= TARGET_CALLS,
        note: 'One CopyImage a copy; its good status and its event are batched per pass (100 ids a CreateTags, 10 events a PutEvents).',
      },
      {
        name: 'DR capture calls per copy turning good (the home capture, the template in the region)',
        target: `≤ ${TARGET_CAPTURE_CALLS}`,
        measured: capturePerCopy.toFixed(3),
        met: done && capturePerCopy <= TARGET_CAPTURE_CALLS,
        note: 'Two reads a lineage a night, in parallel; a write only when the home capture changed. Batching them per pass is left to do.',
      },
      {
        name: `time for ${COPIES} copies / ceil(${COPIES}/${BOUND}) copy durations`,
        target: '≤ 1.00×',
        measured: done ? ratio(took, boundTime) : 'not all copied',
        met: done && took <= boundTime,
        note: `Each pass fills every slot the bound leaves. ${advances} copy durations in all.`,
      },
      {
        name: 'copies in flight in the region, at most',
        target: `≤ ${BOUND}`,
        measured: String(maxInFlight),
        met: maxInFlight <= BOUND,
      },
    ],
  };
}

/** Section 6 of `npm run bench`, measured in a child process (see sectionInChild). */
export function copyThroughput(): Promise<BenchSection> {
  return sectionInChild(fileURLToPath(import.meta.url));
}

await runSectionScript(import.meta.url, measureCopies, copyThroughput);
