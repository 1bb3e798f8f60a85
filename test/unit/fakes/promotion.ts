/**
 * In-memory promotion targets for the use-case tests of promote-image.ts and promotion-operator.ts:
 * the EC2 slice (images, lineage instances, launch templates and their versions), SSM parameters
 * with their history, and Auto Scaling groups with their refreshes. They answer as the gateways
 * do against AWS where it matters: a ClientToken answers its first version, a refresh while one
 * runs is answered `inProgress`, a failure a test plants is thrown as an AwsCallError.
 */
import type { InstanceSummary } from '../../../shared/domain/bake.js';
import type { ImageView } from '../../../shared/domain/image-status.js';
import type { TargetRevision } from '../../../shared/domain/promotion.js';
import type { Tags } from '../../../shared/domain/tags.js';
import type { LaunchTemplateView, PromoteEc2 } from '../../../shared/use-cases/ec2-ports.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import type { GroupPort, GroupView, ParameterPort, ParameterValue, RefreshPreferences } from '../../../shared/use-cases/ports.js';

interface FakeTemplate {
  id: string;
  name: string;
  tags: Tags;
  defaultVersion: number;
  versions: Array<{ version: number; imageId: string | undefined; token?: string }>;
}

export class FakePromotionWorld implements PromoteEc2, ParameterPort, GroupPort {
  images = new Map<string, ImageView>();
  instances: InstanceSummary[] = [];
  templates: FakeTemplate[] = [];
  parameters = new Map<string, Array<{ value: string; dataType: string }>>();
  groups = new Map<string, GroupView & { refreshes: string[]; running: boolean }>();
  /** Every mutating call, in order, as `Action target`. */
  calls: string[] = [];
  /** The lineages whose instances were read (DescribeInstances), in order. */
  lineageReads: string[] = [];
  /** Action -> the error it throws from now on. */
  private failures = new Map<string, AwsCallError>();

  fail(action: string, code: string, retryable = false): void {
    this.failures.set(action, new AwsCallError(code, action, `${code} (planted)`, retryable));
  }

  private check(action: string): void {
    const e = this.failures.get(action);
    if (e) throw e;
  }

  template(name: string, imageId: string | undefined, tags: Tags = { 'ami-lifecycle:promotable': 'true' }): FakeTemplate {
    const t: FakeTemplate = {
      id: `lt-${String(this.templates.length + 1).padStart(17, '0')}`,
      name,
      tags,
      defaultVersion: 1,
      versions: [{ version: 1, imageId }],
    };
    this.templates.push(t);
    return t;
  }

  // ---- PromoteEc2 ------------------------------------------------------------------------

  async describeImage(imageId: string): Promise<ImageView | undefined> {
    return this.images.get(imageId);
  }
  async listLineageInstances(lineage: string): Promise<InstanceSummary[]> {
    this.lineageReads.push(lineage);
    return this.instances.filter((i) => i.tags['ami-lifecycle:lineage'] === lineage);
  }
  async listLineageImages(managedBy: string, lineage: string): Promise<ImageView[]> {
    return [...this.images.values()].filter(
      (i) => i.tags['ami-lifecycle:managed-by'] === managedBy && i.tags['ami-lifecycle:lineage'] === lineage,
    );
  }
  async *listPromoteCandidates(): AsyncIterable<InstanceSummary[]> {
    yield this.instances.filter((i) => i.tags['ami-lifecycle:promote'] !== undefined && i.state !== 'terminated');
  }
  async tagResources(resourceIds: string[], tags: Tags): Promise<void> {
    this.check('CreateTags');
    this.calls.push(`CreateTags ${resourceIds.join(',')} ${JSON.stringify(tags)}`);
    for (const id of resourceIds) {
      const image = this.images.get(id);
      if (image) this.images.set(id, { ...image, tags: { ...image.tags, ...tags } });
    }
  }
  private find(ref: string): FakeTemplate | undefined {
    return this.templates.find((t) => t.id === ref || t.name === ref);
  }
  async describeLaunchTemplate(ref: string): Promise<LaunchTemplateView | undefined> {
    const t = this.find(ref);
    if (!t) return undefined;
    return {
      launchTemplateId: t.id,
      launchTemplateName: t.name,
      defaultVersion: t.defaultVersion,
      latestVersion: Math.max(...t.versions.map((v) => v.version)),
      tags: t.tags,
    };
  }
  async launchTemplateVersions(id: string, min: number, max: number) {
    const t = this.find(id)!;
    return t.versions
      .filter((v) => v.version >= min && v.version <= max)
      .map(({ version, imageId }) => ({ version, imageId }))
      .sort((a, b) => b.version - a.version);
  }
  async createImageVersion(id: string, sourceVersion: number, imageId: string, clientToken: string): Promise<number> {
    this.check('CreateLaunchTemplateVersion');
    const t = this.find(id)!;
    const again = t.versions.find((v) => v.token === clientToken);
    if (again) return again.version;
    if (!t.versions.some((v) => v.version === sourceVersion))
      throw new AwsCallError('InvalidLaunchTemplateVersion', 'CreateLaunchTemplateVersion', 'no such version', false);
    const version = Math.max(...t.versions.map((v) => v.version)) + 1;
    t.versions.push({ version, imageId, token: clientToken });
    this.calls.push(`CreateLaunchTemplateVersion ${t.name} ${version}`);
    return version;
  }
  async setDefaultVersion(id: string, version: number): Promise<void> {
    this.check('ModifyLaunchTemplate');
    this.find(id)!.defaultVersion = version;
    this.calls.push(`ModifyLaunchTemplate ${this.find(id)!.name} ${version}`);
  }

  // ---- ParameterPort ---------------------------------------------------------------------

  async getParameter(name: string): Promise<ParameterValue | undefined> {
    const history = this.parameters.get(name);
    const last = history?.at(-1);
    return last ? { value: last.value, version: history!.length, dataType: last.dataType } : undefined;
  }
  async putImageParameter(name: string, imageId: string): Promise<number> {
    this.check('PutParameter');
    const history = this.parameters.get(name) ?? [];
    history.push({ value: imageId, dataType: 'aws:ec2:image' });
    this.parameters.set(name, history);
    this.calls.push(`PutParameter ${name} ${imageId}`);
    return history.length;
  }
  async parameterHistory(name: string): Promise<TargetRevision[]> {
    return (this.parameters.get(name) ?? []).map((p, i) => ({ version: i + 1, imageId: p.value }));
  }

  // ---- GroupPort -------------------------------------------------------------------------

  async describeGroup(name: string): Promise<GroupView | undefined> {
    return this.groups.get(name);
  }
  async startInstanceRefresh(name: string, _preferences: RefreshPreferences): Promise<{ refreshId: string } | { inProgress: string }> {
    this.check('StartInstanceRefresh');
    const g = this.groups.get(name)!;
    if (g.running) return { inProgress: 'an active instance refresh already exists' };
    g.running = true;
    g.refreshes.push(`refresh-${g.refreshes.length + 1}`);
    this.calls.push(`StartInstanceRefresh ${name}`);
    return { refreshId: g.refreshes.at(-1)! };
  }
}
