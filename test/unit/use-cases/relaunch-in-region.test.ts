/**
 * The DR capture and the relaunch in another region (issue 17), against regions in memory: the
 * paths the integration test does not reach cheaply (a changed home capture, a crash between the
 * version and its tag, a template that is not ours, a token met with other parameters, a live DR
 * relaunch from an older copy, home unreachable without a DR capture, a bus that refuses).
 */
import { describe, expect, it } from 'vitest';
import type { InstanceSummary } from '../../../shared/domain/bake.js';
import type { ImageView } from '../../../shared/domain/image-status.js';
import { launchTemplateName, type RelaunchSpec, type StoredLaunchConfig } from '../../../shared/domain/launch.js';
import { TAG, type Tags } from '../../../shared/domain/tags.js';
import { syncDrCapture, type DrCaptureDeps } from '../../../shared/use-cases/dr-capture.js';
import type { AddressView, DrHomeEc2, DrRegionEc2, LaunchCapture, LaunchTemplateView } from '../../../shared/use-cases/ec2-ports.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import { relaunchInRegion, type DrRelaunchDeps } from '../../../shared/use-cases/relaunch-in-region.js';
import { InMemoryEventBus } from '../fakes/event-bus.js';
import { RecordingLog } from '../fakes/recording.js';

const STACK = 'ami-lifecycle-dev';
const HOME = 'us-east-1';
const R = 'eu-west-1';
const LINEAGE = 'i-0aaa000000000001';
const NAME = launchTemplateName(STACK, LINEAGE);

const homeConfig: StoredLaunchConfig = {
  instanceType: 't3.small',
  subnetId: 'subnet-0aaa1111',
  securityGroupIds: ['sg-0aaa1111'],
  keyName: 'ops',
  ebsOptimized: false,
  monitoring: false,
  tags: { Name: 'web-1' },
  userData: 'IyEvYmluL3No',
};

/** One region's EC2, in memory, counting its calls. */
class Region implements DrRegionEc2, DrHomeEc2 {
  templates = new Map<string, { id: string; tags: Tags; versions: Array<{ config: StoredLaunchConfig; description: string }> }>();
  images: ImageView[] = [];
  instances: InstanceSummary[] = [];
  addresses: AddressView[] = [];
  calls: string[] = [];
  launches: RelaunchSpec[] = [];
  /** Answers RunInstances with this error once. */
  runError?: AwsCallError;
  /** Fails every call: the region is down. */
  down = false;

  private call(name: string): void {
    if (this.down) throw new Error(`${name}: connect ECONNREFUSED`);
    this.calls.push(name);
  }

  async describeLaunchTemplate(ref: string): Promise<LaunchTemplateView | undefined> {
    this.call('DescribeLaunchTemplates');
    const t = this.templates.get(ref);
    return t
      ? { launchTemplateId: t.id, launchTemplateName: ref, defaultVersion: 1, latestVersion: t.versions.length, tags: t.tags }
      : undefined;
  }

  async readLaunchCapture(name: string): Promise<LaunchCapture | undefined> {
    this.call('DescribeLaunchTemplateVersions');
    return this.templates.get(name)?.versions.at(-1);
  }

  async saveLaunchConfig(name: string, config: StoredLaunchConfig, tags: Tags, description: string, revision: string): Promise<number> {
    this.call('SaveLaunchConfig');
    const full = `${description} (${revision})`;
    const t = this.templates.get(name);
    if (!t) {
      this.templates.set(name, { id: 'lt-0r', tags, versions: [{ config, description: full }] });
      return 1;
    }
    // As the gateway: a newest version of this revision is answered, not added again.
    if (t.versions.at(-1)?.description === full) return t.versions.length;
    t.versions.push({ config, description: full });
    return t.versions.length;
  }

  async tagResources(ids: string[], tags: Tags): Promise<void> {
    this.call('CreateTags');
    for (const t of this.templates.values()) if (ids.includes(t.id)) t.tags = { ...t.tags, ...tags };
  }

  async findLineageAddresses(): Promise<AddressView[]> {
    this.call('DescribeAddresses');
    return this.addresses;
  }

  async listLineageImages(): Promise<ImageView[]> {
    this.call('DescribeImages');
    return this.images;
  }

  async listLineageInstances(): Promise<InstanceSummary[]> {
    this.call('DescribeInstances');
    return this.instances;
  }

  async runInstance(spec: RelaunchSpec): Promise<string> {
    this.call('RunInstances');
    if (this.runError) {
      const error = this.runError;
      this.runError = undefined;
      throw error;
    }
    this.launches.push(spec);
    const id = `i-0dr${String(this.launches.length).padStart(13, '0')}`;
    this.instances.push({ instanceId: id, state: 'pending', tags: spec.tags, imageId: spec.imageId });
    return id;
  }

  async disableSourceDestCheck(): Promise<void> {
    this.call('ModifyInstanceAttribute');
  }
}

const copy = (imageId: string, creationDate: string): ImageView => ({
  imageId,
  name: imageId,
  state: 'available',
  creationDate,
  snapshotIds: [],
  sourceImageId: 'ami-0home',
  tags: {
    [TAG.managedBy]: STACK,
    [TAG.lineage]: LINEAGE,
    [TAG.status]: 'good',
    [TAG.sourceImage]: 'ami-0home',
    [TAG.sourceRegion]: HOME,
    [TAG.sourceInstance]: LINEAGE,
  },
});

function world() {
  const home = new Region();
  home.templates.set(NAME, {
    id: 'lt-0home',
    tags: { [TAG.managedBy]: STACK },
    versions: [{ config: homeConfig, description: 'captured at 2026-11-24T03:00:00.000Z (from i-0aaa, digest 0123456789abcdef)' }],
  });
  home.addresses = [{ allocationId: 'eipalloc-0a', publicIp: '203.0.113.5' }];
  const there = new Region();
  there.images = [copy('ami-0copy1', '2026-11-24T04:00:00.000Z')];
  const log = new RecordingLog();
  const events = new InMemoryEventBus();
  const capture: DrCaptureDeps = { managedBy: STACK, homeRegion: HOME, ec2: home, ec2In: () => there, log };
  const relaunch: DrRelaunchDeps = {
    managedBy: STACK,
    homeRegion: HOME,
    drRegions: { [R]: { subnetId: 'subnet-0e100001', securityGroupIds: ['sg-0e100001'] } },
    ec2: home,
    ec2In: () => there,
    events,
    log,
    now: () => new Date('2026-11-24T12:00:00Z'),
  };
  return { home, there, events, log, capture, relaunch };
}

describe('syncDrCapture', () => {
  it('writes a version only when the home capture’s digest changed, and tags it after', async () => {
    const w = world();
    expect(await syncDrCapture(w.capture, LINEAGE, R)).toMatchObject({ status: 'created', digest: '0123456789abcdef', version: 1 });
    expect(w.there.templates.get(NAME)!.tags).toMatchObject({
      [TAG.captureDigest]: '0123456789abcdef',
      [TAG.leftBehind]: expect.stringContaining('eip=203.0.113.5'),
    });

    w.there.calls = [];
    expect(await syncDrCapture(w.capture, LINEAGE, R)).toMatchObject({ status: 'unchanged' });
    expect(w.there.calls).toEqual(['DescribeLaunchTemplates']);

    // A new capture at home: a new version in R, then its digest on the template.
    w.home.templates.get(NAME)!.versions.push({
      config: { ...homeConfig, instanceType: 't3.large' },
      description: 'captured (from i-0aaa, digest fedcba9876543210)',
    });
    expect(await syncDrCapture(w.capture, LINEAGE, R)).toMatchObject({ status: 'updated', version: 2 });
    expect(w.there.templates.get(NAME)!.versions[1]!.config.instanceType).toBe('t3.large');
    expect(w.there.templates.get(NAME)!.tags[TAG.captureDigest]).toBe('fedcba9876543210');
  });

  it('after a crash between the version and its tag, finds the version and tags it, adding none', async () => {
    const w = world();
    await syncDrCapture(w.capture, LINEAGE, R);
    w.home.templates.get(NAME)!.versions.push({ config: homeConfig, description: 'captured (from i-0aaa, digest fedcba9876543210)' });
    const tag = w.there.tagResources.bind(w.there);
    w.there.tagResources = async () => {
      throw new Error('crash');
    };
    await expect(syncDrCapture(w.capture, LINEAGE, R)).rejects.toThrow('crash');
    w.there.tagResources = tag;
    expect(await syncDrCapture(w.capture, LINEAGE, R)).toMatchObject({ status: 'updated', version: 2 });
    expect(w.there.templates.get(NAME)!.versions).toHaveLength(2);
    expect(w.there.templates.get(NAME)!.tags[TAG.captureDigest]).toBe('fedcba9876543210');
  });

  it('never overwrites a template of that name it did not make, and copies nothing before a home capture exists', async () => {
    const w = world();
    w.there.templates.set(NAME, { id: 'lt-0theirs', tags: {}, versions: [] });
    expect(await syncDrCapture(w.capture, LINEAGE, R)).toMatchObject({ status: 'not-ours' });
    expect(w.there.calls).not.toContain('SaveLaunchConfig');
    const fresh = world();
    fresh.home.templates.clear();
    expect(await syncDrCapture(fresh.capture, LINEAGE, R)).toEqual({ lineage: LINEAGE, region: R, status: 'no-home-capture' });
  });
});

describe('relaunchInRegion', () => {
  it('answers the first launch when a rerun meets its token with other parameters', async () => {
    const w = world();
    await syncDrCapture(w.capture, LINEAGE, R);
    const first = await relaunchInRegion(w.relaunch, LINEAGE, R);
    expect(first).toMatchObject({ action: 'relaunched', resumed: false });
    // The listing missed it (eventual consistency), and the subnet changed: EC2 refuses the token.
    const listed = w.there.instances;
    w.there.instances = [];
    w.there.runError = new AwsCallError('IdempotentParameterMismatch', 'RunInstances', 'token used with other parameters', false);
    let reads = 0;
    w.there.listLineageInstances = async () => (reads++ === 0 ? [] : listed);
    const again = await relaunchInRegion(w.relaunch, LINEAGE, R, { subnetId: 'subnet-0e100002' });
    expect(again).toMatchObject({ action: 'relaunched', resumed: true, instanceId: (first as { instanceId: string }).instanceId });
    expect(w.there.launches).toHaveLength(1);
  });

  it('refuses a second machine when the lineage runs in R from an older copy', async () => {
    const w = world();
    await syncDrCapture(w.capture, LINEAGE, R);
    await relaunchInRegion(w.relaunch, LINEAGE, R);
    w.there.images.push(copy('ami-0copy2', '2026-11-25T04:00:00.000Z'));
    const outcome = await relaunchInRegion(w.relaunch, LINEAGE, R);
    expect(outcome).toMatchObject({
      action: 'refused',
      code: 'AlreadyRelaunched',
      reason: expect.stringMatching(/from ami-0copy1\): terminate it first/),
    });
    expect(w.there.launches).toHaveLength(1);
  });

  it('without a DR capture and with home down, launches nothing and says why', async () => {
    const w = world();
    w.home.down = true;
    const outcome = await relaunchInRegion(w.relaunch, LINEAGE, R);
    expect(outcome).toMatchObject({
      action: 'refused',
      code: 'NoCapture',
      reason: expect.stringMatching(/us-east-1 did not answer: DescribeLaunchTemplateVersions: connect ECONNREFUSED/),
    });
    expect(w.there.calls).not.toContain('RunInstances');
  });

  it('relaunches when the home bus refuses the event, with a warning, and turns a NAT’s check off', async () => {
    const w = world();
    w.home.templates.get(NAME)!.versions[0]!.config = { ...homeConfig, sourceDestCheck: false };
    await syncDrCapture(w.capture, LINEAGE, R);
    w.events.failAll('InternalException');
    const outcome = await relaunchInRegion(w.relaunch, LINEAGE, R);
    expect(outcome).toMatchObject({
      action: 'relaunched',
      warnings: ['InstanceRelaunched not published to the home bus: InternalException: refused: InternalException'],
    });
    expect(w.there.calls).toContain('ModifyInstanceAttribute');
    expect(w.log.at('warn').map((r) => r.message)).toContain('event not published to the home bus');
  });

  it('says there is no good copy, naming the look-alikes it will not use', async () => {
    const w = world();
    w.there.images = [{ ...copy('ami-0fake', '2026-11-24T04:00:00.000Z'), sourceImageId: 'ami-0other' }];
    const outcome = await relaunchInRegion(w.relaunch, LINEAGE, R);
    expect(outcome).toMatchObject({ action: 'refused', code: 'NoGoodCopy', notOurs: [{ imageId: 'ami-0fake' }] });
  });
});
