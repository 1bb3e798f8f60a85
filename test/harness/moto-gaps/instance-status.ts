/**
 * Moto gap: moto's DescribeInstanceStatus answers every running instance `ok`, with its
 * reachability check `passed`, and ignores the status filters. EC2 reports two checks per running
 * instance, each a summary status and a `reachability` detail (API reference, InstanceStatus,
 * InstanceStatusSummary, InstanceStatusDetails:
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_InstanceStatusSummary.html,
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_InstanceStatusDetails.html):
 *
 * - SystemStatus: "impaired functionality that stems from issues related to the systems that
 *   support an instance"; InstanceStatus: "issues internal to the instance". Status `ok |
 *   impaired | insufficient-data | not-applicable | initializing`; the reachability detail
 *   `passed | failed | insufficient-data | initializing`, with ImpairedSince, "the time when a
 *   status check failed".
 * - A test stages a check with `proxy.setInstanceStatus(id, { system, instance })`: the answer
 *   for that running instance says so, its detail `failed` for `impaired` (ImpairedSince: when it
 *   was staged, on the proxy's clock), `passed` for `ok`, else the same word.
 * - "By default, only running instances are described, unless you specifically indicate to
 *   return the status of all instances" (IncludeAllInstances; API reference,
 *   DescribeInstanceStatus, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstanceStatus.html).
 *   moto does that, and answers `not-applicable` for an instance that is not running: a staged
 *   status never applies to one (checks run on running instances only).
 * - Filters `instance-status.status`, `instance-status.reachability`, `system-status.status`,
 *   `system-status.reachability` and `availability-zone` (same page) are applied here to the
 *   answer as reported; `event.*` filters match nothing, since moto schedules no events.
 * TEST-ONLY.
 */
import type { Interceptor } from '../proxy/chain.js';
import { bufferBody, isEc2Action } from '../proxy/request.js';

/** A status check's summary, as DescribeInstanceStatus reports it for a running instance. */
export type CheckStatus = 'ok' | 'impaired' | 'insufficient-data' | 'initializing';

/** The checks a test stages for an instance; a check left out is reported as moto has it (`ok`). */
export interface StagedInstanceStatus {
  system?: CheckStatus;
  instance?: CheckStatus;
}

interface Staged {
  status: CheckStatus;
  /** When it became impaired (ImpairedSince). */
  since: Date;
}

const DETAIL: Record<CheckStatus, string> = {
  ok: 'passed',
  impaired: 'failed',
  'insufficient-data': 'insufficient-data',
  initializing: 'initializing',
};

/** Filters this link applies itself: name -> what an item's answer reads for it. */
const FILTERS: Record<string, (item: string) => string | undefined> = {
  'instance-status.status': (item) => checkOf(item, 'instanceStatus')?.status,
  'instance-status.reachability': (item) => checkOf(item, 'instanceStatus')?.reachability,
  'system-status.status': (item) => checkOf(item, 'systemStatus')?.status,
  'system-status.reachability': (item) => checkOf(item, 'systemStatus')?.reachability,
  'availability-zone': (item) => /<availabilityZone>([^<]*)<\/availabilityZone>/.exec(item)?.[1],
};

export class InstanceStatuses {
  /** Instance id -> check -> its staged status. */
  private readonly staged = new Map<string, { system?: Staged; instance?: Staged }>();

  constructor(private readonly clock: () => Date = () => new Date()) {}

  /** Stages checks of an instance (merged with those staged before; an impaired check keeps its ImpairedSince). */
  set(instanceId: string, checks: StagedInstanceStatus): void {
    const now = this.clock();
    const current = this.staged.get(instanceId) ?? {};
    for (const check of ['system', 'instance'] as const) {
      const status = checks[check];
      if (status === undefined) continue;
      const before = current[check];
      current[check] = { status, since: before?.status === status ? before.since : now };
    }
    this.staged.set(instanceId, current);
  }

  /** Forgets what was staged for one instance, or for every instance. */
  clear(instanceId?: string): void {
    if (instanceId === undefined) this.staged.clear();
    else this.staged.delete(instanceId);
  }

  readonly interceptor: Interceptor = async (request, next) => {
    if (!isEc2Action(request, 'DescribeInstanceStatus') || request.form?.get('DryRun') === 'true') return next(request);
    const filters = filtersOf(request.form!);
    if (this.staged.size === 0 && filters.length === 0) return next(request);
    const response = await next(request);
    if (response.status !== 200) return response;
    const xml = (await bufferBody(response.body)).toString('utf8');
    const set = /<instanceStatusSet>([\s\S]*)<\/instanceStatusSet>/.exec(xml);
    if (!set) return { ...response, body: Buffer.from(xml, 'utf8') };
    const items = topLevelItems(set[1]!)
      .map((item) => this.rewrite(item))
      .filter((item) => filters.every((f) => f.matches(item)));
    const body = xml.replace(set[0], `<instanceStatusSet>${items.join('')}</instanceStatusSet>`);
    const headers = { ...response.headers };
    delete headers['content-length'];
    return { ...response, headers, body: Buffer.from(body, 'utf8') };
  };

  /** One instance's item with its staged checks, when it is running. */
  private rewrite(item: string): string {
    const id = /<instanceId>([^<]+)<\/instanceId>/.exec(item)?.[1];
    const staged = id === undefined ? undefined : this.staged.get(id);
    if (staged === undefined || !/<instanceState><code>16<\/code>/.test(item)) return item;
    let out = item;
    for (const [check, tag] of [
      ['system', 'systemStatus'],
      ['instance', 'instanceStatus'],
    ] as const) {
      const s = staged[check];
      if (s === undefined) continue;
      const impaired = s.status === 'impaired' ? `<impairedSince>${s.since.toISOString()}</impairedSince>` : '';
      const summary =
        `<${tag}><details><item><name>reachability</name><status>${DETAIL[s.status]}</status>${impaired}</item></details>` +
        `<status>${s.status}</status></${tag}>`;
      out = out.replace(new RegExp(`<${tag}>[\\s\\S]*?</${tag}>`), summary);
    }
    return out;
  }
}

/** A check's summary status and reachability detail, as an item reports them. */
function checkOf(item: string, tag: 'instanceStatus' | 'systemStatus'): { status?: string; reachability?: string } | undefined {
  const summary = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(item)?.[1];
  if (summary === undefined) return undefined;
  const reachability = /<item><name>reachability<\/name><status>([^<]*)<\/status>/.exec(summary)?.[1];
  const status = /<status>([^<]*)<\/status>(?![\s\S]*<status>)/.exec(summary)?.[1];
  return { ...(status !== undefined ? { status } : {}), ...(reachability !== undefined ? { reachability } : {}) };
}

/** The filters of the request this link applies: each, whether an item matches one of its values. */
function filtersOf(form: URLSearchParams): Array<{ matches: (item: string) => boolean }> {
  const out: Array<{ matches: (item: string) => boolean }> = [];
  for (let i = 1; ; i++) {
    const name = form.get(`Filter.${i}.Name`);
    if (name === null) return out;
    const values: string[] = [];
    for (let j = 1; form.has(`Filter.${i}.Value.${j}`); j++) values.push(form.get(`Filter.${i}.Value.${j}`)!);
    if (name.startsWith('event.')) out.push({ matches: () => false });
    const read = FILTERS[name];
    if (read) out.push({ matches: (item) => values.includes(read(item) ?? '') });
  }
}

/** The `<item>` elements directly inside a set, whole, in order. */
function topLevelItems(set: string): string[] {
  const items: string[] = [];
  const tag = /<(\/?)item>/g;
  let depth = 0;
  let start = 0;
  for (let m = tag.exec(set); m !== null; m = tag.exec(set)) {
    if (m[1] === '') {
      if (depth === 0) start = m.index;
      depth++;
    } else {
      depth--;
      if (depth === 0) items.push(set.slice(start, m.index + m[0].length));
    }
  }
  return items;
}
