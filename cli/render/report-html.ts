/**
 * `report --html`: one self-contained HTML page (inline CSS and SVG, no script, nothing
 * fetched) with a timeline per lineage: images created (by status, and those the next
 * rotation deletes), relaunches, and, from an export of the service's events, past
 * bakes, rotations and recoveries. Every timeline also lists its events as plain text;
 * the styles are report.css, next to this file. Pure: the same input gives the same page.
 * Every interpolated string is escaped: names, tags and event details are user data.
 */
import * as v from 'valibot';
import { readFileSync } from 'node:fs';
import { isDetailType, PublishedEvent, readDetail } from '../../shared/domain/events.js';
import type { LineageStatus } from '../../shared/domain/fleet-status.js';
import type { RotationImage } from '../../shared/domain/retention.js';
import { TAG } from '../../shared/domain/tags.js';
import type { FleetView } from '../../shared/use-cases/inspect-fleet.js';
import { age, bytes } from './text.js';

export interface ReportInput {
  managedBy: string;
  generatedAt: Date;
  fleet: FleetView;
  /** Events the service published (e.g. exported from its bus), oldest first. */
  history?: ServiceEvent[];
}

/** One event as EventBridge delivers it, as it comes from the file: read by PublishedEvent and its type's schema. */
export interface ServiceEvent {
  'detail-type': string;
  time: string;
  detail: Record<string, unknown>;
}

// ---- escaping and formatting -------------------------------------------------------------

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text and attribute values alike. */
function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const valid = (d: Date | undefined): d is Date => d instanceof Date && Number.isFinite(d.getTime());
/** A creation date EC2 did not give comes through as the epoch: no time, not 1970. */
const known = (d: Date | undefined): Date | undefined => (valid(d) && d.getTime() > 0 ? d : undefined);
const human = (d: Date | undefined) => (valid(d) ? `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'time unknown');
const iso = (d: Date) => d.toISOString();

// ---- the events of a timeline ------------------------------------------------------------

const LANES = ['images', 'bakes', 'rotations', 'recovery'] as const;
type Lane = (typeof LANES)[number];
const LANE_LABEL: Record<Lane, string> = {
  images: 'images created',
  bakes: 'marked good / failed',
  rotations: 'rotated',
  recovery: 'relaunches',
};

type Shape = 'circle' | 'diamond' | 'cross' | 'square' | 'triangle' | 'bar';

interface TimelineEvent {
  time: Date | undefined;
  lane: Lane;
  shape: Shape;
  /** CSS classes, shared by the mark and the list item: kind first, then status and flags. */
  classes: string[];
  /** Overlay on the mark: the next rotation deletes it. */
  toDelete?: boolean;
  summary: string;
  details: string[];
  /** Merging a relaunch seen both in EC2 and in the history. */
  instanceId?: string;
}

const STATUS_CLASS = (status: string | undefined) => `status-${status ?? 'untagged'}`;

function imageEvent(image: RotationImage, deletion: { reasons: string[] } | undefined, deprecate: boolean): TimelineEvent {
  const status = image.status ?? 'untagged';
  const details = [`${image.name}`, `status ${status}, EC2 state ${image.state}${image.schedule ? `, schedule ${image.schedule}` : ''}`];
  if (image.deprecated) details.push('deprecated');
  if (deprecate) details.push('the next rotation deprecates it');
  if (deletion) details.push(`the next rotation deletes it: ${deletion.reasons.join('; ')}`);
  return {
    time: known(image.createdAt),
    lane: 'images',
    shape: 'circle',
    classes: ['image', STATUS_CLASS(image.status), ...(deletion ? ['to-delete'] : []), ...(image.deprecated ? ['deprecated'] : [])],
    toDelete: deletion !== undefined,
    summary: `image ${image.imageId} created (${status})${deletion ? ', deleted by the next rotation' : ''}`,
    details,
  };
}

function replacementEvent(r: LineageStatus['replacements'][number]): TimelineEvent {
  return {
    time: known(r.launchTime),
    lane: 'recovery',
    shape: 'triangle',
    classes: ['relaunch'],
    summary: `relaunch, generation ${r.generation}: ${r.instanceId} replaces ${r.replaces}`,
    details: [`${r.instanceId} is ${r.state}`],
    instanceId: r.instanceId,
  };
}

// ---- reading the history -----------------------------------------------------------------

/** Where a slot is, from the fields of a bake's event. */
const slotOf = (d: { schedule?: string | undefined; slot?: string | undefined }) =>
  [d.schedule ? `schedule ${d.schedule}` : '', d.slot ? `slot ${d.slot}` : ''].filter(Boolean).join(', ');
/** Why recovery did what it did: the trigger and the reason, or `otherwise`. */
const why = (d: { trigger: string; reason: string }, otherwise: string) =>
  [d.trigger ? `trigger ${d.trigger}` : '', d.reason].filter(Boolean).join(': ') || otherwise;

interface PlacedEvent {
  lineage: string | undefined;
  event: TimelineEvent;
}

interface HistoryRead {
  placed: PlacedEvent[];
  read: number;
  otherStacks: number;
  duplicates: number;
  unreadable: number;
}

/**
 * The history's events, each with its lineage (read from the event, else from the
 * instance it names) and at most once per dedupe key: delivery is at least once. Each
 * event is read by the schema the service publishes it with (shared/domain/events.ts):
 * one that does not match is unreadable, not guessed at.
 */
function readHistory(history: readonly ServiceEvent[], managedBy: string, lineageOfInstance: ReadonlyMap<string, string>): HistoryRead {
  const out: HistoryRead = { placed: [], read: history.length, otherStacks: 0, duplicates: 0, unreadable: 0 };
  const seen = new Set<string>();
  const once = (...key: unknown[]) => {
    const k = JSON.stringify(key);
    if (seen.has(k)) {
      out.duplicates++;
      return false;
    }
    seen.add(k);
    return true;
  };
  for (const raw of history) {
    const envelope = v.safeParse(PublishedEvent, raw);
    if (!envelope.success) {
      out.unreadable++;
      continue;
    }
    const { 'detail-type': type, time: at, detail } = envelope.output;
    if (detail.managedBy !== undefined && detail.managedBy !== managedBy) {
      out.otherStacks++;
      continue;
    }
    // A type this version does not publish (a newer one): not a timeline event.
    if (!isDetailType(type)) continue;
    const event = readDetail(type, detail);
    if (!event) {
      out.unreadable++;
      continue;
    }
    const time = known(at === undefined ? undefined : new Date(at));
    const place = (e: Omit<TimelineEvent, 'time'>, lineage: string | undefined) => out.placed.push({ lineage, event: { time, ...e } });
    const lineageOf = (lineage: string | undefined, instanceId?: string) =>
      lineage || (instanceId ? lineageOfInstance.get(instanceId) : undefined);

    switch (event.detailType) {
      case 'ImageBaked': {
        const d = event.detail;
        if (!once(type, d.imageId)) continue;
        place(
          {
            lane: 'bakes',
            shape: 'diamond',
            classes: ['baked', 'status-good'],
            summary: `image ${d.imageId} marked good`,
            details: [d.imageName, slotOf(d), `settled by ${d.settledBy}`].filter(Boolean),
          },
          lineageOf(d.lineage),
        );
        break;
      }
      case 'ImageBakeFailed': {
        const d = event.detail;
        if (!once(type, d.instanceId, d.schedule, d.slot)) continue;
        place(
          {
            lane: 'bakes',
            shape: 'cross',
            classes: ['bake-failed', 'status-failed'],
            summary: d.phase === 'create' || !d.imageId ? `bake of ${d.instanceId} refused (no image)` : `image ${d.imageId} failed`,
            details: [`${d.errorCode}: ${d.message}`, slotOf(d)].filter(Boolean),
          },
          lineageOf(d.lineage, d.instanceId),
        );
        break;
      }
      case 'ImagesRotated': {
        const d = event.detail;
        const failed = new Set(d.failures.map((f) => f.resourceId));
        for (const deletion of d.deletions) {
          const { imageId } = deletion;
          // Delivered twice, the same run's deletions come twice: once per run and image.
          if (!once(type, at, imageId)) continue;
          const outcome = d.dryRun
            ? 'would have been rotated (dry run)'
            : failed.has(imageId)
              ? 'rotation failed to delete it'
              : 'rotated (deleted)';
          place(
            {
              lane: 'rotations',
              shape: 'square',
              classes: ['rotated', d.dryRun ? 'dry-run' : failed.has(imageId) ? 'rotation-failed' : 'deleted'],
              // A destination region's copies (issue 17) say where they were.
              summary: `${d.sourceRegion && d.region ? `copy in ${d.region}: ` : ''}image ${imageId} ${outcome}`,
              details: [deletion.name, deletion.reason].filter(Boolean),
            },
            lineageOf(deletion.lineage),
          );
        }
        break;
      }
      case 'InstanceRelaunched': {
        const d = event.detail;
        if (!once(type, d.failedInstanceId)) continue;
        place(
          {
            lane: 'recovery',
            shape: 'triangle',
            classes: ['relaunch'],
            summary: `relaunch, generation ${d.generation}: ${d.newInstanceId} replaces ${d.failedInstanceId}`,
            details: [
              why(d, 'relaunched'),
              `from ${d.imageId}`,
              ...(d.markedBad ? [`image ${d.markedBad} marked bad`] : []),
              `failed instance ${d.failedInstance}`,
            ],
            ...(d.newInstanceId ? { instanceId: d.newInstanceId } : {}),
          },
          lineageOf(d.lineage),
        );
        break;
      }
      case 'RelaunchPlanned': {
        const d = event.detail;
        if (!once(type, d.failedInstanceId, '')) continue;
        const summary = `relaunch of ${d.failedInstanceId} planned (dry run) from ${d.imageId}`;
        place(recoveryEvent('planned', summary, [why(d, type)]), lineageOf(d.lineage));
        break;
      }
      case 'RecoverySkipped': {
        const d = event.detail;
        if (!once(type, d.instanceId, d.reason)) continue;
        place(recoveryEvent('skipped', `recovery of ${d.instanceId} skipped`, [why(d, type)]), lineageOf(d.lineage, d.instanceId));
        break;
      }
      case 'RecoveryGaveUp': {
        const d = event.detail;
        if (!once(type, d.instanceId, '')) continue;
        place(recoveryEvent('gave-up', `recovery of ${d.instanceId} gave up`, [why(d, type)]), lineageOf(d.lineage, d.instanceId));
        break;
      }
      case 'RecoveryFailed': {
        const d = event.detail;
        if (!once(type, d.instanceId, d.errorCode)) continue;
        const summary = `recovery of ${d.instanceId} failed at ${d.action}`;
        place(recoveryEvent('failed', summary, [`${d.errorCode}: ${d.message}`]), lineageOf(d.lineage, d.instanceId));
        break;
      }
      default:
        // BakeRequested and PolicyInvalid: not timeline events.
        break;
    }
  }
  return out;
}

/** A recovery event other than a relaunch: a bar on the recovery lane. */
function recoveryEvent(
  kind: 'planned' | 'skipped' | 'gave-up' | 'failed',
  summary: string,
  details: string[],
): Omit<TimelineEvent, 'time'> {
  return { lane: 'recovery', shape: 'bar', classes: ['recovery', kind], summary, details };
}

// ---- the SVG axis ------------------------------------------------------------------------

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const TICK_STEPS = [
  HOUR,
  3 * HOUR,
  6 * HOUR,
  12 * HOUR,
  DAY,
  2 * DAY,
  7 * DAY,
  14 * DAY,
  30 * DAY,
  91 * DAY,
  182 * DAY,
  365 * DAY,
  730 * DAY,
  1825 * DAY,
];
const WIDTH = 1000;
const LEFT = 150;
const RIGHT = 20;
const TOP = 14;
const LANE_HEIGHT = 30;
const AXIS_HEIGHT = 34;

function axisSvg(label: string, events: readonly TimelineEvent[], now: Date): string {
  const timed = events.filter((e): e is TimelineEvent & { time: Date } => e.time !== undefined);
  const times = [...timed.map((e) => e.time.getTime()), ...(valid(now) ? [now.getTime()] : [])];
  let t0 = times.length ? Math.min(...times) : 0;
  let t1 = times.length ? Math.max(...times) : HOUR;
  if (t1 - t0 < HOUR) {
    t0 -= HOUR;
    t1 += HOUR;
  }
  const pad = (t1 - t0) * 0.03;
  t0 -= pad;
  t1 += pad;
  const span = t1 - t0;
  const x = (t: number) => LEFT + ((t - t0) / span) * (WIDTH - LEFT - RIGHT);
  const laneY = (lane: Lane) => TOP + LANES.indexOf(lane) * LANE_HEIGHT + LANE_HEIGHT / 2;
  const axisY = TOP + LANES.length * LANE_HEIGHT + 4;
  const height = axisY + AXIS_HEIGHT;
  const f = (n: number) => (Math.round(n * 10) / 10).toString();

  const parts: string[] = [];
  for (const lane of LANES) {
    const y = laneY(lane);
    parts.push(`<text class="lane-label" x="${LEFT - 8}" y="${f(y + 4)}" text-anchor="end">${esc(LANE_LABEL[lane])}</text>`);
    parts.push(`<line class="lane" x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${f(y)}" y2="${f(y)}"/>`);
  }
  // Ticks: the smallest step that gives at most 8 of them, aligned on UTC.
  const step = TICK_STEPS.find((s) => span / s <= 8) ?? TICK_STEPS[TICK_STEPS.length - 1]!;
  parts.push(`<line class="axis" x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${axisY}" y2="${axisY}"/>`);
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
    const d = new Date(t);
    const text = step < DAY ? d.toISOString().slice(5, 16).replace('T', ' ') : d.toISOString().slice(0, 10);
    parts.push(
      `<line class="tick" x1="${f(x(t))}" x2="${f(x(t))}" y1="${TOP}" y2="${axisY + 5}"/>`,
      `<text class="tick-label" x="${f(x(t))}" y="${axisY + 18}" text-anchor="middle">${esc(text)}</text>`,
    );
  }
  if (valid(now)) {
    parts.push(
      `<g class="now"><title>report generated ${esc(human(now))}</title><line x1="${f(x(now.getTime()))}" x2="${f(x(now.getTime()))}" y1="${TOP - 6}" y2="${axisY}"/>` +
        `<text x="${f(x(now.getTime()))}" y="${TOP - 7}" text-anchor="end">now</text></g>`,
    );
  }
  for (const e of timed) {
    const cx = f(x(e.time.getTime()));
    const cy = laneY(e.lane);
    const tooltip = [`${human(e.time)}: ${e.summary}`, ...e.details].join('\n');
    parts.push(
      `<g class="${esc(['mark', ...e.classes].join(' '))}"><title>${esc(tooltip)}</title>${shape(e.shape, Number(cx), cy)}${
        e.toDelete
          ? `<circle class="delete-ring" cx="${cx}" cy="${cy}" r="10"/><path class="delete-x" d="M${f(Number(cx) - 7)},${cy - 7}L${f(Number(cx) + 7)},${cy + 7}M${f(Number(cx) + 7)},${cy - 7}L${f(Number(cx) - 7)},${cy + 7}"/>`
          : ''
      }</g>`,
    );
  }
  if (timed.length === 0) {
    parts.push(
      `<text class="empty" x="${f((LEFT + WIDTH - RIGHT) / 2)}" y="${f(TOP + (LANES.length * LANE_HEIGHT) / 2)}" text-anchor="middle">nothing to place on the time axis</text>`,
    );
  }
  return `<svg class="axis-svg" viewBox="0 0 ${WIDTH} ${height}" width="100%" role="img" aria-label="${esc(label)}" xmlns="http://www.w3.org/2000/svg">${parts.join('')}</svg>`;
}

function shape(kind: Shape, x: number, y: number): string {
  const p = (n: number) => (Math.round(n * 10) / 10).toString();
  switch (kind) {
    case 'circle':
      return `<circle class="shape" cx="${p(x)}" cy="${y}" r="6"/>`;
    case 'diamond':
      return `<path class="shape" d="M${p(x)},${y - 7}L${p(x + 7)},${y}L${p(x)},${y + 7}L${p(x - 7)},${y}Z"/>`;
    case 'cross':
      return `<path class="shape stroke" d="M${p(x - 6)},${y - 6}L${p(x + 6)},${y + 6}M${p(x + 6)},${y - 6}L${p(x - 6)},${y + 6}"/>`;
    case 'square':
      return `<rect class="shape" x="${p(x - 6)}" y="${y - 6}" width="12" height="12"/>`;
    case 'triangle':
      return `<path class="shape" d="M${p(x)},${y - 8}L${p(x + 7)},${y + 6}L${p(x - 7)},${y + 6}Z"/>`;
    case 'bar':
      return `<rect class="shape" x="${p(x - 2)}" y="${y - 9}" width="4" height="18"/>`;
  }
}

// ---- the page ----------------------------------------------------------------------------

/** Oldest first; events without a time last, in the order they came. */
const byTime = (a: TimelineEvent, b: TimelineEvent) => {
  if (!a.time || !b.time) return (a.time ? 0 : 1) - (b.time ? 0 : 1);
  return a.time.getTime() - b.time.getTime();
};

function eventList(events: readonly TimelineEvent[]): string {
  if (events.length === 0) return '<ol class="events"><li class="none">no events</li></ol>';
  const items = events.map(
    (e) =>
      `<li class="${esc(e.classes.join(' '))}">${e.time ? `<time datetime="${esc(iso(e.time))}">${esc(human(e.time))}</time>` : '<span class="no-time">time unknown</span>'} ` +
      `<span class="summary">${esc(e.summary)}</span>${e.details.length ? `<span class="details">${e.details.map((d) => `<span>${esc(d)}</span>`).join('')}</span>` : ''}</li>`,
  );
  return `<ol class="events">${items.join('')}</ol>`;
}

function anchor(lineage: string, index: number): string {
  return `lineage-${index}-${lineage.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

function timelineSection(l: LineageStatus, index: number, events: TimelineEvent[], input: ReportInput): string {
  const sorted = [...events].sort(byTime);
  const instance = l.instance ? `${l.instance.instanceId} (${l.instance.state})` : 'gone: no live instance';
  const statuses = Object.entries(l.byStatus)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([s, n]) => `<span class="badge status-${esc(s)}">${esc(n)} ${esc(s)}</span>`)
    .join(' ');
  const facts: Array<[string, string]> = [
    ['instance', esc(instance)],
    ['recover', esc(l.recover)],
    ['schedules', esc(l.schedules.join(', ') || 'none')],
    ['last good image', l.lastGood ? `${esc(l.lastGood.imageId)} (${esc(age(l.lastGood.ageHours))} old)` : 'none'],
    ['images', l.images === 0 ? 'none' : `${esc(l.images)} ${statuses}`],
    ['snapshots', esc(bytes(l.snapshotBytes))],
    [
      'next rotation',
      l.nextRotation.length
        ? `deletes ${esc(l.nextRotation.length)}: ${l.nextRotation.map((n) => esc(n.imageId)).join(', ')}`
        : 'deletes nothing',
    ],
  ];
  const problems = l.problems.length
    ? `<div class="problems" role="alert"><h3>${esc(l.problems.length)} problem${l.problems.length === 1 ? '' : 's'}</h3><ul>${l.problems.map((p) => `<li>${esc(p)}</li>`).join('')}</ul></div>`
    : '';
  const noImages =
    l.images === 0 ? '<p class="no-images">This lineage has no images (yet): nothing baked, or everything rotated away.</p>' : '';
  const label = `Timeline of lineage ${l.lineage}${l.name ? ` (${l.name})` : ''}`;
  return [
    `<section class="timeline${l.problems.length ? ' has-problems' : ''}" id="${esc(anchor(l.lineage, index))}" data-lineage="${esc(l.lineage)}">`,
    `<h2><span class="lineage">${esc(l.lineage)}</span>${l.name !== undefined ? ` <span class="name">${esc(l.name)}</span>` : ''}</h2>`,
    `<dl class="facts">${facts.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${v}</dd></div>`).join('')}</dl>`,
    problems,
    noImages,
    axisSvg(label, sorted, input.generatedAt),
    `<h3 class="visually-hidden">Events of ${esc(l.lineage)}, oldest first</h3>`,
    eventList(sorted),
    `</section>`,
  ].join('\n');
}

/** The page's styles (report.css, next to this module), read when the first page is rendered. */
let css: string | undefined;
const styles = () => (css ??= readFileSync(new URL('./report.css', import.meta.url), 'utf8'));

function legend(): string {
  const item = (classes: string, kind: Shape, text: string, ring = false) =>
    `<span><svg width="24" height="24" viewBox="0 0 24 24" aria-hidden="true"><g class="mark ${classes}">${shape(kind, 12, 12)}${
      ring ? '<circle class="delete-ring" cx="12" cy="12" r="10"/><path class="delete-x" d="M5,5L19,19M19,5L5,19"/>' : ''
    }</g></svg> ${esc(text)}</span>`;
  return `<div class="legend" aria-label="legend">${[
    item('image status-good', 'circle', 'image good'),
    item('image status-failed', 'circle', 'image failed'),
    item('image status-bad', 'circle', 'image bad'),
    item('image status-pending', 'circle', 'image pending'),
    item('image status-good', 'circle', 'deleted by the next rotation', true),
    item('baked status-good', 'diamond', 'marked good'),
    item('bake-failed', 'cross', 'bake failed'),
    item('rotated deleted', 'square', 'rotated'),
    item('relaunch', 'triangle', 'relaunch'),
    item('recovery', 'bar', 'other recovery event'),
  ].join('')}</div>`;
}

export function renderReport(input: ReportInput): string {
  const { fleet, managedBy } = input;
  const lineages = fleet.lineages;
  const inFleet = new Set(lineages.map((l) => l.lineage));

  // Events of each lineage: its images, its relaunches, and its share of the history.
  const eventsOf = new Map<string, TimelineEvent[]>(lineages.map((l) => [l.lineage, []]));
  const add = (lineage: string, e: TimelineEvent) => eventsOf.get(lineage)?.push(e);
  const deprecating = new Set(fleet.run.plan.decisions.filter((d) => d.deprecate).map((d) => d.imageId));
  for (const l of lineages) {
    const deletions = new Map(l.nextRotation.map((n) => [n.imageId, n]));
    for (const image of fleet.run.images)
      if (image.lineage === l.lineage) add(l.lineage, imageEvent(image, deletions.get(image.imageId), deprecating.has(image.imageId)));
    for (const r of l.replacements) add(l.lineage, replacementEvent(r));
  }

  const lineageOfInstance = new Map<string, string>();
  for (const i of fleet.run.instances) {
    const lineage = i.tags[TAG.lineage] ?? (i.tags[TAG.bake] !== undefined ? i.instanceId : undefined);
    if (lineage) lineageOfInstance.set(i.instanceId, lineage);
  }
  for (const l of lineages) {
    if (l.instance) lineageOfInstance.set(l.instance.instanceId, l.lineage);
    for (const r of l.replacements) lineageOfInstance.set(r.instanceId, l.lineage).set(r.replaces, l.lineage);
  }
  const history = input.history ? readHistory(input.history, managedBy, lineageOfInstance) : undefined;
  const elsewhere = new Map<string, TimelineEvent[]>();
  for (const { lineage, event } of history?.placed ?? []) {
    if (lineage === undefined || !inFleet.has(lineage)) {
      const key = lineage ?? '';
      elsewhere.set(key, [...(elsewhere.get(key) ?? []), event]);
      continue;
    }
    const events = eventsOf.get(lineage)!;
    // A relaunch EC2 still shows and the history reports is one relaunch: the history adds its why.
    const same =
      event.classes[0] === 'relaunch' && event.instanceId
        ? events.find((e) => e.classes[0] === 'relaunch' && e.instanceId === event.instanceId)
        : undefined;
    if (same) {
      same.details.push(...event.details);
      same.time ??= event.time;
      continue;
    }
    events.push(event);
  }

  // Header totals.
  const problems = lineages.reduce((n, l) => n + l.problems.length, 0);
  const allSnapshots = new Set(fleet.run.images.flatMap((i) => i.snapshotIds));
  const snapshotBytes = [...allSnapshots].reduce((sum, id) => sum + (fleet.run.snapshotSizes.get(id) ?? 0), 0);
  const toDelete = fleet.run.plan.decisions.filter((d) => d.action === 'delete').length;
  const unplaced = fleet.run.images.filter((i) => !i.lineage || !inFleet.has(i.lineage)).length;
  const total = (value: string | number, label: string, alert = false) =>
    `<li${alert ? ' class="alert"' : ''}><b>${esc(value)}</b>${esc(label)}</li>`;

  const notes: string[] = [];
  if (unplaced > 0) notes.push(`${unplaced} image(s) without a lineage of this report are counted but on no timeline.`);
  if (fleet.run.orphans.length > 0) notes.push(`${fleet.run.orphans.length} orphaned snapshot(s) will be swept by the next rotation.`);
  if (fleet.run.keptUnverified.length > 0) {
    const codes = [...new Set(fleet.run.keptUnverified.map((k) => k.errorCode))].join(', ');
    notes.push(`${fleet.run.keptUnverified.length} image(s) kept because the image reference check could not clear them (${codes}).`);
  }
  if (history) {
    notes.push(
      `History: ${history.read} event(s) read, ${history.placed.length} placed` +
        (history.duplicates ? `, ${history.duplicates} duplicate(s) dropped` : '') +
        (history.otherStacks ? `, ${history.otherStacks} of other stacks ignored` : '') +
        (history.unreadable ? `, ${history.unreadable} unreadable` : '') +
        '.',
    );
  } else {
    notes.push('No event history given: past bakes, rotations and recoveries are not shown (report --events FILE).');
  }

  const troubled = lineages.map((l, i) => ({ l, i })).filter(({ l }) => l.problems.length > 0);
  const problemSummary = troubled.length
    ? `<section class="all-problems" aria-labelledby="problems-heading"><h2 id="problems-heading">${esc(problems)} problem${problems === 1 ? '' : 's'}</h2><ul>${troubled
        .flatMap(({ l, i }) => l.problems.map((p) => `<li><a href="#${esc(anchor(l.lineage, i))}">${esc(l.lineage)}</a>: ${esc(p)}</li>`))
        .join('')}</ul></section>`
    : '';

  const other = [...elsewhere].sort(([a], [b]) => (a < b ? -1 : 1));
  const otherSection = other.length
    ? `<section class="other-history"><h2>History of lineages not in the fleet now</h2>${other
        .map(([lineage, events]) => `<h3>${lineage ? esc(lineage) : '(no lineage)'}</h3>${eventList([...events].sort(byTime))}`)
        .join('')}</section>`
    : '';

  const sections = lineages.length
    ? lineages.map((l, i) => timelineSection(l, i, eventsOf.get(l.lineage) ?? [], input)).join('\n')
    : '<p class="no-lineages">No lineages: no instance is opted in and no image of this stack exists.</p>';

  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="color-scheme" content="light dark">',
    `<title>${esc(`ami-lifecycle report: ${managedBy}, ${human(input.generatedAt)}`)}</title>`,
    `<style>\n${styles()}</style>`,
    '</head>',
    '<body>',
    '<header>',
    `<h1>ami-lifecycle: <span class="stack">${esc(managedBy)}</span></h1>`,
    `<p class="meta">Generated ${valid(input.generatedAt) ? `<time datetime="${esc(iso(input.generatedAt))}">${esc(human(input.generatedAt))}</time>` : 'at an unknown time'}. All times UTC.</p>`,
    `<ul class="totals">${[
      total(lineages.length, 'lineages'),
      total(fleet.run.images.length, 'images'),
      total(bytes(snapshotBytes), 'of snapshots'),
      total(toDelete, 'to delete next rotation'),
      total(problems, problems === 1 ? 'problem' : 'problems', problems > 0),
    ].join('')}</ul>`,
    notes.map((n) => `<p class="meta">${esc(n)}</p>`).join(''),
    legend(),
    '</header>',
    '<main>',
    problemSummary,
    sections,
    otherSection,
    '</main>',
    `<footer>Rendered by ami-lifecycle report. Hover a mark for its details; each timeline lists the same events below it.</footer>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
