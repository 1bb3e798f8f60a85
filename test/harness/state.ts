/**
 * Test harness: the whole state of a LocalCloud's account in a canonical form,
 * so that two runs (a clean one and one under faults, crashes or duplicated
 * events) can be compared with one toEqual.
 *
 * AWS ids differ from run to run, so every id is replaced by a label derived from
 * what it is: instances by the names the test gave them (and replacements by the
 * instance they replace), images by their name, snapshots by their image and
 * device, launch templates by their name. Ids nothing explains (an extra instance,
 * an orphaned snapshot) are numbered in a deterministic order instead, so they
 * still show up as a difference.
 */
import {
  paginateDescribeImages,
  paginateDescribeInstances,
  paginateDescribeLaunchTemplates,
  paginateDescribeSnapshots,
  DescribeLaunchTemplateVersionsCommand,
  type EC2Client,
  type Image,
  type Instance,
  type LaunchTemplate,
  type LaunchTemplateVersion,
  type Snapshot,
  type Tag,
} from '@aws-sdk/client-ec2';
import type { RecordedEvent } from './proxy/put-events.js';

/** The account moto gives the dummy credentials. */
const MOTO_ACCOUNT = '123456789012';

const ID = /\b(?:i|ami|snap|lt|vol|eni|eipalloc|subnet|sg|vpc|igw|rtb|acl)-[0-9a-f]{8,17}\b/g;

export interface CanonicalImage {
  name: string;
  state: string;
  creationDate: string | undefined;
  deprecationTime: string | undefined;
  sourceInstanceId: string | undefined;
  tags: Record<string, string>;
  snapshots: Array<{ device: string; snapshot: string }>;
}

export interface CanonicalSnapshot {
  snapshot: string;
  state: string | undefined;
  volumeSize: number | undefined;
  tags: Record<string, string>;
}

export interface CanonicalInstance {
  instance: string;
  state: string | undefined;
  image: string | undefined;
  instanceType: string | undefined;
  tags: Record<string, string>;
}

export interface CanonicalLaunchTemplate {
  name: string;
  tags: Record<string, string>;
  defaultVersion: number | undefined;
  latestVersion: number | undefined;
  /** Every version still there, oldest first, with its data (ids labelled). */
  versions: Array<{ version: number | undefined; description: string | undefined; data: unknown }>;
}

export interface CloudState {
  images: CanonicalImage[];
  snapshots: CanonicalSnapshot[];
  instances: CanonicalInstance[];
  launchTemplates: CanonicalLaunchTemplate[];
}

const tagsOf = (tags: Tag[] | undefined): Record<string, string> =>
  Object.fromEntries([...(tags ?? [])].map((t) => [t.Key ?? '', t.Value ?? '']).sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0)));

/** Every item of every page, in order. */
export async function all<P, T>(pages: AsyncIterable<P>, pick: (page: P) => T[] | undefined): Promise<T[]> {
  const out: T[] = [];
  for await (const page of pages) out.push(...(pick(page) ?? []));
  return out;
}

/**
 * Labels for AWS ids, learned from every state read and every event seen, so that
 * a state read after a rotation still names the images it deleted in the events.
 * One Labels per run: two runs that did the same things get the same labels.
 */
export class Labels {
  private readonly labels: Map<string, string>;
  private readonly counters = new Map<string, number>();

  private readonly mask: ReadonlyArray<readonly [RegExp, string]>;

  /**
   * `names` labels the instances the test launched: { [instanceId]: 'web-1' }.
   * `mask` rewrites what legitimately differs between two runs in every string of a
   * state or event (e.g. a real-time timestamp): [pattern (global), replacement].
   */
  constructor(names: Record<string, string>, options: { mask?: ReadonlyArray<readonly [RegExp, string]> } = {}) {
    this.labels = new Map(Object.entries(names));
    this.mask = options.mask ?? [];
  }

  /** A deep copy of the value with every AWS id in its strings replaced by its label, then masked. */
  private canonicalStrings<T>(value: T): T {
    const rewrite = (text: string) =>
      this.mask.reduce(
        (t, [re, by]) => t.replace(re, by),
        text.replace(ID, (id) => this.of(id)),
      );
    return JSON.parse(JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? rewrite(v) : v))) as T;
  }

  /** Adds names for instances launched later. */
  name(names: Record<string, string>): void {
    for (const [id, label] of Object.entries(names)) this.labels.set(id, label);
  }

  /** The label of an id; an id nothing explains is numbered (`snap#1`) in the order it is met. */
  of(id: string): string {
    let l = this.labels.get(id);
    if (l === undefined) {
      const prefix = id.slice(0, id.indexOf('-'));
      const n = (this.counters.get(prefix) ?? 0) + 1;
      this.counters.set(prefix, n);
      l = `${prefix}#${n}`;
      this.labels.set(id, l);
    }
    return l;
  }

  private known(text: string): string {
    return text.replace(ID, (id) => this.labels.get(id) ?? id);
  }

  private learnImage(imageId: string, name: string, mappings: Array<{ device: string; snapshotId: string }> = []): void {
    const label = `image(${this.known(name || imageId)})`;
    if (!this.labels.has(imageId)) this.labels.set(imageId, label);
    for (const m of mappings) if (!this.labels.has(m.snapshotId)) this.labels.set(m.snapshotId, `snapshot(${label}${m.device})`);
  }

  /**
   * Reads every image and snapshot the account owns, every instance (terminated
   * ones too, while EC2 still lists them) and every launch template with its
   * versions, straight from moto (not through the proxy: nothing is counted, no
   * fault applies), with every id labelled.
   */
  async state(ec2: EC2Client, account = MOTO_ACCOUNT): Promise<CloudState> {
    const [images, allSnapshots, instances, templates] = await Promise.all([
      all(paginateDescribeImages({ client: ec2 }, { Owners: ['self'], IncludeDisabled: true }), (p) => p.Images),
      all(paginateDescribeSnapshots({ client: ec2 }, { OwnerIds: ['self'] }), (p) => p.Snapshots),
      all(paginateDescribeInstances({ client: ec2 }, {}), (p) => (p.Reservations ?? []).flatMap((r) => r.Instances ?? [])),
      // moto answers 15 templates unless asked for more, and gives no NextToken: ask for all at once.
      all(paginateDescribeLaunchTemplates({ client: ec2 }, { MaxResults: 1000 }), (p) => p.LaunchTemplates),
    ]);
    // moto lists the snapshots behind its built-in AMIs (owned by other accounts) as the caller's own.
    const snapshots = allSnapshots.filter((s) => s.OwnerId === account);
    const versions = new Map<string, LaunchTemplateVersion[]>();
    for (const t of templates) {
      // moto answers 15 versions unless asked for more.
      const { LaunchTemplateVersions = [] } = await ec2.send(
        new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: t.LaunchTemplateId!, MaxResults: 1000 }),
      );
      versions.set(
        t.LaunchTemplateId!,
        [...LaunchTemplateVersions].sort((a, b) => (a.VersionNumber ?? 0) - (b.VersionNumber ?? 0)),
      );
    }
    return this.canonical({ images, snapshots, instances, templates, versions });
  }

  private canonical(raw: Raw): CloudState {
    // Replacements, named after the instance they replace (in launch order when several);
    // a replacement of a replacement once its predecessor has a label.
    const byReplaced = new Map<string, Instance[]>();
    for (const i of raw.instances) {
      const replaces = tagsOf(i.Tags)['ami-lifecycle:replaces'];
      if (replaces === undefined || this.labels.has(i.InstanceId!)) continue;
      byReplaced.set(replaces, [...(byReplaced.get(replaces) ?? []), i]);
    }
    for (let pass = 0; pass < 10 && byReplaced.size > 0; pass++) {
      for (const [replaced, list] of byReplaced) {
        if (!this.labels.has(replaced)) continue;
        const sorted = [...list].sort((a, b) => (a.LaunchTime?.getTime() ?? 0) - (b.LaunchTime?.getTime() ?? 0));
        for (const [n, i] of sorted.entries())
          this.labels.set(i.InstanceId!, `replacement-of(${this.labels.get(replaced)})${n > 0 ? `#${n + 1}` : ''}`);
        byReplaced.delete(replaced);
      }
    }
    for (const image of raw.images) {
      this.learnImage(
        image.ImageId!,
        image.Name ?? '',
        (image.BlockDeviceMappings ?? []).flatMap((m) =>
          m.Ebs?.SnapshotId ? [{ device: m.DeviceName ?? '', snapshotId: m.Ebs.SnapshotId }] : [],
        ),
      );
    }
    for (const t of raw.templates) {
      if (!this.labels.has(t.LaunchTemplateId!))
        this.labels.set(t.LaunchTemplateId!, `launch-template(${this.known(t.LaunchTemplateName ?? '')})`);
    }

    // Unexplained ids are numbered in a deterministic order (by what is known of them), then
    // everything is sorted by its label.
    const byKey = <T>(items: T[], key: (t: T) => string) => [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    const unexplained = <T>(items: T[], id: (t: T) => string, what: (t: T) => unknown) =>
      byKey(
        items.filter((t) => !this.labels.has(id(t))),
        (t) => this.known(JSON.stringify(what(t))),
      ).forEach((t) => {
        this.of(id(t));
      });
    unexplained(
      raw.images,
      (i) => i.ImageId!,
      (i) => [i.Name, tagsOf(i.Tags)],
    );
    unexplained(
      raw.instances,
      (i) => i.InstanceId!,
      (i) => tagsOf(i.Tags),
    );
    unexplained(
      raw.snapshots,
      (s) => s.SnapshotId!,
      (s) => [tagsOf(s.Tags), s.Description],
    );

    const images: CanonicalImage[] = byKey(raw.images, (i) => this.of(i.ImageId!)).map((i) => ({
      name: i.Name ?? '',
      state: i.State ?? '',
      creationDate: i.CreationDate,
      deprecationTime: i.DeprecationTime,
      sourceInstanceId: i.SourceInstanceId,
      tags: tagsOf(i.Tags),
      snapshots: (i.BlockDeviceMappings ?? []).flatMap((m) =>
        m.Ebs?.SnapshotId ? [{ device: m.DeviceName ?? '', snapshot: m.Ebs.SnapshotId }] : [],
      ),
    }));
    const instances: CanonicalInstance[] = byKey(raw.instances, (i) => this.of(i.InstanceId!)).map((i) => ({
      instance: i.InstanceId!,
      state: i.State?.Name,
      image: i.ImageId,
      instanceType: i.InstanceType,
      tags: tagsOf(i.Tags),
    }));
    const snapshots: CanonicalSnapshot[] = byKey(raw.snapshots, (s) => this.of(s.SnapshotId!)).map((s) => ({
      snapshot: s.SnapshotId!,
      state: s.State,
      volumeSize: s.VolumeSize,
      tags: tagsOf(s.Tags),
    }));
    // By the name as labelled: a lineage's name may hold an instance id.
    const launchTemplates: CanonicalLaunchTemplate[] = byKey(raw.templates, (t) => this.known(t.LaunchTemplateName ?? '')).map((t) => ({
      name: t.LaunchTemplateName ?? '',
      tags: tagsOf(t.Tags),
      defaultVersion: t.DefaultVersionNumber,
      latestVersion: t.LatestVersionNumber,
      versions: (raw.versions.get(t.LaunchTemplateId!) ?? []).map((v) => ({
        version: v.VersionNumber,
        description: v.VersionDescription,
        data: v.LaunchTemplateData,
      })),
    }));
    return this.canonicalStrings({ images, snapshots, instances, launchTemplates });
  }

  /**
   * The service's published events with ids labelled (images also by the names
   * the events give them: ImageBaked's imageName, a rotation's deletions) and
   * volatile fields (event times, seconds measured) dropped, sorted: a multiset
   * to compare with toEqual.
   */
  events(events: RecordedEvent[]): CanonicalEvent[] {
    const visit = (value: unknown): void => {
      if (Array.isArray(value)) {
        for (const item of value) visit(item);
        return;
      }
      if (value === null || typeof value !== 'object') return;
      const o = value as Record<string, unknown>;
      const name = o.imageName ?? o.name;
      if (typeof o.imageId === 'string' && typeof name === 'string') this.learnImage(o.imageId, name);
      Object.values(o).forEach(visit);
    };
    for (const e of events) visit(e.detail);
    const strip = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(strip);
      if (value !== null && typeof value === 'object') {
        return Object.fromEntries(
          Object.entries(value as Record<string, unknown>)
            .filter(([k]) => !VOLATILE.has(k))
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
            .map(([k, v]) => [k, strip(v)]),
        );
      }
      return value;
    };
    const out = this.canonicalStrings(
      events.map((e) => ({ detailType: e['detail-type'], detail: strip(e.detail) as Record<string, unknown> })),
    );
    const text = (e: CanonicalEvent) => JSON.stringify(e);
    return out.sort((a, b) => (text(a) < text(b) ? -1 : text(a) > text(b) ? 1 : 0));
  }
}

/** The distinct events of a multiset (for at-least-once comparisons). */
export function distinct(events: CanonicalEvent[]): CanonicalEvent[] {
  const seen = new Set<string>();
  return events.filter((e) => {
    const key = JSON.stringify(e);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

interface Raw {
  images: Image[];
  snapshots: Snapshot[];
  instances: Instance[];
  templates: LaunchTemplate[];
  versions: Map<string, LaunchTemplateVersion[]>;
}

/** A published event without what differs between equal runs (event times, seconds measured). */
export interface CanonicalEvent {
  detailType: string;
  detail: Record<string, unknown>;
}

const VOLATILE = new Set(['secondsToLaunch', 'time']);
