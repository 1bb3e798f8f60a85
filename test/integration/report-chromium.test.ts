/**
 * The HTML report as a browser sees it: rendered to a file, opened by Debian's headless
 * Chromium, and checked on the DOM Chromium builds from it (--dump-dom). Chromium is
 * required, not optional: without it this test fails and says how to install it.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { renderReport, type ServiceEvent } from '../../cli/render/report-html.js';
import { TAG } from '../../shared/domain/tags.js';
import { published } from '../fixtures/events.js';
import { fleetFixture } from '../fixtures/fleet.js';

const run = promisify(execFile);
const NOW = new Date('2026-11-26T12:00:00Z');
const STACK = 'ami-lifecycle-chromium';
const { image, instance, view, hoursAgo } = fleetFixture(STACK, NOW, { launchHours: 200 });
const LINEAGES = ['api', 'batch', 'web'];

/** The chromium binary on PATH, if any. */
function findChromium(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir || '.', 'chromium');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** api: healthy, one image to rotate; batch: relaunched, a failed image; web: no images, a hostile Name, its instance gone. */
function report(): string {
  const images = [
    image('ami-0a0000000000001', 'api', 58),
    image('ami-0a0000000000002', 'api', 34),
    image('ami-0a0000000000003', 'api', 10),
    image('ami-0b0000000000001', 'batch', 100, 'failed'),
    image('ami-0b0000000000002', 'batch', 20),
  ];
  const instances = [
    instance('i-0a000000000000001', { [TAG.bake]: 'nightly', [TAG.lineage]: 'api', Name: 'api-1' }),
    instance('i-0b000000000000001', { [TAG.bake]: 'nightly', [TAG.lineage]: 'batch', [TAG.replacedBy]: 'i-0b000000000000002' }, 'stopped'),
    instance(
      'i-0b000000000000002',
      {
        [TAG.bake]: 'nightly',
        [TAG.lineage]: 'batch',
        [TAG.replaces]: 'i-0b000000000000001',
        [TAG.generation]: '2',
        [TAG.recover]: 'always',
      },
      'running',
      6,
    ),
    instance(
      'i-0c000000000000001',
      { [TAG.bake]: 'nightly', [TAG.lineage]: 'web', Name: '<script>document.title="owned"</script>' },
      'stopping',
      1,
    ),
  ];
  const history: ServiceEvent[] = [
    published(STACK, 'ImageBaked', hoursAgo(9.9), { imageId: 'ami-0a0000000000003', lineage: 'api' }),
    published(STACK, 'ImagesRotated', hoursAgo(30), {
      deletions: [{ imageId: 'ami-0a0000000000000', name: 'old', lineage: 'api', reason: 'not kept' }],
    }),
    published(STACK, 'InstanceRelaunched', hoursAgo(6), {
      lineage: 'batch',
      failedInstanceId: 'i-0b000000000000001',
      newInstanceId: 'i-0b000000000000002',
      imageId: 'ami-0b0000000000002',
      trigger: 'state',
      reason: 'stopped',
      generation: 2,
    }),
  ];
  return renderReport({ managedBy: STACK, generatedAt: NOW, fleet: view(images, instances, { snapshotBytes: 8 * 2 ** 30 }), history });
}

describe('the HTML report in headless Chromium', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ami-lifecycle-report-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('builds one timeline per lineage, each with its SVG axis and its list of events', { timeout: 90_000 }, async () => {
    // Prepare
    const chromium = findChromium();
    if (!chromium) {
      throw new Error(
        'chromium is not on PATH: this test opens the report in headless Chromium. Install it: apt-get install -y chromium (or run .ci/run, which does)',
      );
    }
    const file = join(dir, 'report.html');
    writeFileSync(file, report());

    // Act
    const { stdout } = await run(
      chromium,
      ['--headless', '--no-sandbox', '--disable-gpu', `--user-data-dir=${join(dir, 'profile')}`, '--dump-dom', pathToFileURL(file).href],
      { timeout: 60_000, maxBuffer: 32 * 2 ** 20 },
    );

    // Assess
    const dom = stdout;
    expect(dom, 'Chromium dumped no document').toMatch(/<html[\s>]/);
    const sections = [...dom.matchAll(/<section ([^>]*)>([\s\S]*?)<\/section>/g)]
      .map((m) => ({ attributes: m[1]!, body: m[2]! }))
      .filter((s) => /\bclass="timeline(?: [^"]*)?"/.test(s.attributes));
    expect(sections).toHaveLength(3);
    expect(sections.map((s) => /data-lineage="([^"]*)"/.exec(s.attributes)?.[1])).toEqual(LINEAGES);
    for (const s of sections) {
      expect(s.body).toMatch(/<svg[\s>]/);
      expect(s.body).toContain('<ol class="events">');
    }
    // The marks made it into the DOM as SVG, and the hostile Name stayed text.
    const api = sections[0]!.body;
    expect(api.match(/<g class="mark image status-good to-delete">/g)).toHaveLength(1);
    expect(api).toContain('<g class="mark rotated deleted">');
    expect(sections[1]!.body).toContain('<g class="mark relaunch">');
    expect(sections[2]!.body).toContain('This lineage has no images');
    expect(dom).toContain('&lt;script&gt;document.title="owned"&lt;/script&gt;');
    expect(dom).not.toMatch(/<script/i);
  });
});
