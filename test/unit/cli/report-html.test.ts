import { describe, expect, it } from 'vitest';
import { renderReport, type ReportInput, type ServiceEvent } from '../../../cli/render/report-html.js';
import { TAG } from '../../../shared/domain/tags.js';
import type { FleetView } from '../../../shared/use-cases/inspect-fleet.js';
import { summariseFleet } from '../../../shared/domain/fleet-status.js';
import type { DetailType } from '../../../shared/domain/events.js';
import { published, type Detail } from '../../fixtures/events.js';
import { fleetFixture } from '../../fixtures/fleet.js';

const NOW = new Date('2026-11-26T12:00:00Z');
const STACK = 'ami-lifecycle-test';
const { image, instance, view, hoursAgo } = fleetFixture(STACK, NOW);
const XSS = '<script>alert("pwned")</script>';

const WEB_1 = 'i-0aaaaaaaaaaaaaaaa';
const DB_OLD = 'i-0cccccccccccccccc';
const DB_NEW = 'i-0dddddddddddddddd';
const SPARE = 'i-0eeeeeeeeeeeeeeee';

/** Three lineages: web (healthy, one image to rotate, a hostile Name), db (relaunched once), spare (no images). */
function fleet(): FleetView {
  const images = [
    image('ami-0aeb00000000003', 'web', 10),
    image('ami-0aeb00000000002', 'web', 34),
    image('ami-0aeb00000000001', 'web', 58),
    image('ami-0aeb0000000000f', 'web', 100, 'failed'),
    image('ami-0db000000000001', 'db', 30, 'bad'),
    image('ami-0db000000000002', 'db', 3, 'pending'),
  ];
  const instances = [
    instance(WEB_1, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web', [TAG.recover]: 'on-failure', Name: XSS }),
    instance(DB_OLD, { [TAG.bake]: 'nightly', [TAG.lineage]: 'db', [TAG.replacedBy]: DB_NEW, Name: 'db-1' }, 'stopped', 200),
    instance(
      DB_NEW,
      { [TAG.bake]: 'nightly', [TAG.lineage]: 'db', [TAG.replaces]: DB_OLD, [TAG.generation]: '2', [TAG.recover]: 'always', Name: 'db-1' },
      'running',
      20,
    ),
    instance(SPARE, { [TAG.bake]: 'nightly', [TAG.lineage]: 'spare', Name: 'spare' }, 'running', 2),
  ];
  return view(images, instances);
}

/** An event of this stack, `hours` ago, as the service publishes it: the schema's required fields, then `detail`. */
const event = <K extends DetailType>(type: K, hours: number, detail: Partial<Detail<K>> = {}): ServiceEvent =>
  published(STACK, type, hoursAgo(hours), detail);

const input = (overrides: Partial<ReportInput> = {}): ReportInput => ({ managedBy: STACK, generatedAt: NOW, fleet: fleet(), ...overrides });

/** Each timeline section's lineage and inner HTML. Sections do not nest. */
function timelines(html: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of html.matchAll(/<section class="timeline[^"]*"[^>]*data-lineage="([^"]*)"[^>]*>([\s\S]*?)<\/section>/g))
    out.set(m[1]!, m[2]!);
  return out;
}

/** The marks of a section: their classes and tooltip text (escaped, so free of '<'). */
function marks(section: string): Array<{ classes: string[]; title: string }> {
  return [...section.matchAll(/<g class="mark ([^"]*)"><title>([^<]*)<\/title>/g)].map((m) => ({
    classes: m[1]!.split(' '),
    title: m[2]!,
  }));
}

const markOf = (section: string, text: string) => marks(section).filter((m) => m.title.includes(text));

describe('renderReport', () => {
  it('is a complete HTML document with a header of totals', () => {
    // Act
    const html = renderReport(input());

    // Assess
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toMatch(
      /<html lang="en">[\s\S]*<head>[\s\S]*<title>[^<]+<\/title>[\s\S]*<\/head>[\s\S]*<body>[\s\S]*<\/body>\s*<\/html>\s*$/,
    );
    expect(html).toContain('<meta charset="utf-8">');
    expect(html).toContain(`<span class="stack">${STACK}</span>`);
    expect(html).toContain('datetime="2026-11-26T12:00:00.000Z"');
    expect(html).toMatch(/<b>3<\/b>lineages/);
    expect(html).toMatch(/<b>6<\/b>images/);
    expect(html).toMatch(/<b>6\.0 GiB<\/b>of snapshots/);
    // Self-contained: nothing fetched, nothing run.
    expect(html).not.toMatch(/<(script|link|img|iframe)\b/i);
    expect(html).not.toMatch(/\b(src|href)="(?!#)/);
  });

  it('draws one timeline per lineage, with an SVG axis and a plain list of events', () => {
    // Act
    const html = renderReport(input());

    // Assess
    const sections = timelines(html);
    expect([...sections.keys()]).toEqual(['db', 'spare', 'web']);
    expect(html.match(/<section class="timeline/g)).toHaveLength(3);
    for (const body of sections.values()) {
      expect(body).toMatch(/<svg [^>]*role="img"/);
      expect(body).toContain('<ol class="events">');
    }
    expect(sections.get('db')).toContain(`${DB_NEW} (running)`);
    expect(sections.get('db')).toMatch(/<dt>recover<\/dt><dd>always<\/dd>/);
    expect(sections.get('web')).toMatch(/<dt>schedules<\/dt><dd>nightly<\/dd>/);
  });

  it('marks every image by status, and those the next rotation deletes', () => {
    // Act
    const web = timelines(renderReport(input())).get('web')!;
    const db = timelines(renderReport(input())).get('db')!;

    // Assess
    const images = marks(web).filter((m) => m.classes.includes('image'));
    expect(images).toHaveLength(4);
    expect(markOf(web, 'ami-0aeb00000000003')[0]!.classes).toEqual(['image', 'status-good']);
    // Beyond the two newest good ones, and failed beyond the 3 d grace: both go next rotation.
    expect(markOf(web, 'ami-0aeb00000000001')[0]!.classes).toEqual(['image', 'status-good', 'to-delete']);
    expect(markOf(web, 'ami-0aeb00000000001')[0]!.title).toContain('the next rotation deletes it: not kept by');
    expect(markOf(web, 'ami-0aeb0000000000f')[0]!.classes).toEqual(['image', 'status-failed', 'to-delete']);
    expect(markOf(db, 'ami-0db000000000001')[0]!.classes).toEqual(['image', 'status-bad']);
    expect(markOf(db, 'ami-0db000000000002')[0]!.classes).toEqual(['image', 'status-pending']);
    // The list says the same, oldest first, with machine-readable times.
    const items = [...web.matchAll(/<li class="([^"]*)"><time datetime="([^"]+)">/g)].map((m) => ({ classes: m[1]!, time: m[2]! }));
    expect(items.map((i) => i.time)).toEqual([...items.map((i) => i.time)].sort());
    expect(items.filter((i) => i.classes.includes('to-delete'))).toHaveLength(2);
  });

  it('marks relaunches at their launch time, with their generation', () => {
    // Act
    const db = timelines(renderReport(input())).get('db')!;

    // Assess
    const relaunches = marks(db).filter((m) => m.classes.includes('relaunch'));
    expect(relaunches).toHaveLength(1);
    expect(relaunches[0]!.title).toContain(
      '2026-11-25 16:00 UTC: relaunch, generation 2: i-0dddddddddddddddd replaces i-0cccccccccccccccc',
    );
    expect(marks(timelines(renderReport(input())).get('web')!).filter((m) => m.classes.includes('relaunch'))).toHaveLength(0);
  });

  it('places each history event in its own lineage, once, and ignores other stacks', () => {
    // Prepare
    const baked = event('ImageBaked', 9.9, {
      imageId: 'ami-0aeb00000000003',
      imageName: 'n',
      lineage: 'web',
      schedule: 'nightly',
      slot: 's',
      settledBy: 'event',
    });
    const history = [
      event('ImagesRotated', 40, {
        dryRun: false,
        deletions: [
          { imageId: 'ami-0aeb00000000000', name: 'old web', lineage: 'web', reason: 'not kept' },
          { imageId: 'ami-0db000000000000', name: 'old db', lineage: 'db', reason: 'not kept' },
        ],
        failures: [{ resourceId: 'ami-0db000000000000', action: 'DeregisterImage', errorCode: 'X', message: 'm' }],
      }),
      // Issue 17: the same run's copies in a destination region, one event for that region.
      event('ImagesRotated', 40, {
        region: 'eu-west-1',
        sourceRegion: 'us-east-1',
        dryRun: false,
        deletions: [{ imageId: 'ami-0aeb00000000c01', name: 'old web', lineage: 'web', reason: 'not kept' }],
        failures: [],
      }),
      event('ImageBakeFailed', 29, {
        phase: 'build',
        instanceId: DB_OLD,
        imageId: 'ami-0db000000000001',
        errorCode: 'Client.Foo',
        message: 'disk',
      }),
      event('InstanceRelaunched', 19.9, {
        lineage: 'db',
        failedInstanceId: DB_OLD,
        newInstanceId: DB_NEW,
        imageId: 'ami-0db000000000001',
        trigger: 'state',
        reason: 'instance stopped',
        generation: 2,
      }),
      baked,
      baked, // at least once: delivered twice
      event('InstanceRelaunched', 5, {
        lineage: 'gone',
        failedInstanceId: 'i-01',
        newInstanceId: 'i-02',
        imageId: 'ami-1',
        trigger: 'alarm',
        reason: 'x',
        generation: 1,
      }),
      // Another stack's, ignored whatever its shape.
      {
        'detail-type': 'ImageBaked',
        time: hoursAgo(5).toISOString(),
        detail: { managedBy: 'someone-else', imageId: 'ami-0other', lineage: 'web' },
      },
      event('BakeRequested', 11, { instanceId: WEB_1, lineage: 'web' }),
    ];

    // Act
    const html = renderReport(input({ history }));

    // Assess
    const sections = timelines(html);
    const web = sections.get('web')!;
    const db = sections.get('db')!;
    expect(markOf(web, 'ami-0aeb00000000003 marked good')).toEqual([expect.objectContaining({ classes: ['baked', 'status-good'] })]);
    expect(markOf(web, 'ami-0aeb00000000000')).toEqual([expect.objectContaining({ classes: ['rotated', 'deleted'] })]);
    expect(markOf(web, 'ami-0aeb00000000000')[0]!.title).toMatch(/^2026-11-24 20:00 UTC: image ami-0aeb00000000000 rotated \(deleted\)/);
    expect(markOf(db, 'ami-0db000000000000')).toEqual([expect.objectContaining({ classes: ['rotated', 'rotation-failed'] })]);
    expect(markOf(web, 'ami-0aeb00000000c01')[0]!.title).toContain('copy in eu-west-1: image ami-0aeb00000000c01 rotated (deleted)');
    // A failed bake without a lineage is placed by its instance.
    expect(markOf(db, 'ami-0db000000000001 failed')).toEqual([expect.objectContaining({ classes: ['bake-failed', 'status-failed'] })]);
    // The relaunch EC2 shows and the one the history reports are one, with the history's why.
    const relaunches = marks(db).filter((m) => m.classes.includes('relaunch'));
    expect(relaunches).toHaveLength(1);
    expect(relaunches[0]!.title).toContain('trigger state: instance stopped');
    expect(web).not.toContain('ami-0other');
    expect(web).not.toContain('db');
    expect(sections.get('spare')).not.toContain('class="mark baked');
    // A lineage gone from the fleet keeps its history, outside the timelines.
    expect(html).toMatch(/<section class="other-history">[\s\S]*<h3>gone<\/h3>[\s\S]*i-02 replaces i-01/);
    expect(html).toContain('History: 9 event(s) read, 7 placed, 1 duplicate(s) dropped, 1 of other stacks ignored.');
  });

  it('renders user data as text: a <script> Name tag cannot run', () => {
    // Prepare
    const hostile = '"><svg onload=alert(1)>';
    const stack = `${STACK}</title><script>x()</script>`;
    const history = [
      event('ImageBakeFailed', 2, { managedBy: stack, phase: 'create', instanceId: WEB_1, errorCode: XSS, message: hostile }),
    ];

    // Act
    const html = renderReport(input({ history, managedBy: stack }));

    // Assess
    expect(html).toContain('&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;');
    expect(html).toContain('&quot;&gt;&lt;svg onload=alert(1)&gt;');
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toContain('onload=alert(1)>');
    // Every <title> is the page's or a mark's tooltip: none came in with the data.
    expect(html.match(/<title>/g)).toHaveLength(1 + (html.match(/<g class="[^"]*"><title>/g)?.length ?? 0));
    expect(timelines(html).get('web')).toContain(`<span class="name">&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;</span>`);
    expect(markOf(timelines(html).get('web')!, 'bake of i-0aaaaaaaaaaaaaaaa refused')).toHaveLength(1);
    expect(html).toContain('&lt;/title&gt;&lt;script&gt;x()&lt;/script&gt;');
  });

  it('gives a lineage without images its timeline, and says so', () => {
    // Act
    const spare = timelines(renderReport(input())).get('spare')!;

    // Assess
    expect(spare).toContain('This lineage has no images');
    expect(spare).toContain('<svg');
    expect(spare).toContain('nothing to place on the time axis');
    expect(spare).toContain('<ol class="events"><li class="none">no events</li></ol>');
  });

  it('lists problems prominently, in the header and in their lineage', () => {
    // Prepare: the web instance is gone.
    const view = fleet();
    const withoutWeb = { ...view, run: { ...view.run, instances: view.run.instances.filter((i) => i.instanceId !== WEB_1) } };
    const lineages = summariseFleet({
      now: NOW,
      images: withoutWeb.run.images,
      instances: withoutWeb.run.instances,
      plan: withoutWeb.run.plan,
      snapshotSizes: withoutWeb.run.snapshotSizes,
      knownSchedules: ['nightly'],
      schedulePeriods: { nightly: 'day' },
    });

    // Act
    const html = renderReport(input({ fleet: { ...withoutWeb, lineages } }));

    // Assess
    // Another lineage of the fixture holds an image recovery marked bad: a problem of its own.
    expect(html).toMatch(/<li class="alert"><b>2<\/b>problems<\/li>/);
    expect(html).toMatch(/marked bad by recovery/);
    expect(html).toMatch(/<section class="all-problems"[\s\S]*<a href="#lineage-2-web">web<\/a>: instance gone/);
    expect(html).toMatch(/<section class="timeline has-problems" id="lineage-2-web" data-lineage="web">/);
    expect(timelines(html).get('web')).toMatch(/<div class="problems" role="alert"><h3>1 problem<\/h3><ul><li>instance gone/);
  });

  it('survives an empty fleet and unreadable history: an event its schema refuses is counted, never guessed at', () => {
    // Prepare: no detail at all, and an ImageBaked of this stack that is not one (no image id, a number for a lineage)
    const view = fleet();
    const empty: FleetView = {
      run: { ...view.run, images: [], instances: [], plan: { decisions: [], lineages: [], stamps: [] } },
      lineages: [],
    };
    const junk = [
      { 'detail-type': 'ImageBaked', time: 'yesterday', detail: null } as unknown as ServiceEvent,
      { 'detail-type': 'ImageBaked', time: hoursAgo(1).toISOString(), detail: { managedBy: STACK, lineage: 42 } },
    ];

    // Act
    const html = renderReport(input({ fleet: empty, history: junk, generatedAt: new Date(Number.NaN) }));

    // Assess
    expect(html).toContain('No lineages');
    expect(html).toContain('History: 2 event(s) read, 0 placed, 2 unreadable.');
    expect(html).not.toContain('section class="timeline');
  });
});
