/**
 * Launch templates: a lineage's captured configuration (saved as the newest version, idempotent
 * per revision, its history bounded; read back by recovery, verification and the DR capture), and
 * promotion's new versions of the operator's templates.
 */
import { createHash } from 'node:crypto';
import {
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  DeleteLaunchTemplateVersionsCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeLaunchTemplatesCommand,
  ModifyLaunchTemplateCommand,
  paginateDescribeLaunchTemplateVersions,
  type LaunchTemplateVersion,
} from '@aws-sdk/client-ec2';
import type { StoredLaunchConfig } from '../../domain/launch.js';
import { tagRecord, type Tags } from '../../domain/tags.js';
import type { LaunchCapture, LaunchTemplateView } from '../../use-cases/ec2-ports.js';
import { fromTemplateData, toTagList, toTemplateData } from '../ec2-mappers.js';
import { call, pages, toAwsCallError } from '../errors.js';
import { callOr, type Ec2Context } from './common.js';

const TEMPLATE_NOT_FOUND = new Set(['InvalidLaunchTemplateName.NotFoundException', 'InvalidLaunchTemplateId.NotFound']);
/** Captured versions kept per launch template besides the first (which EC2 keeps as the default). */
const KEEP_TEMPLATE_VERSIONS = 10;

export async function saveLaunchConfig(
  ec2: Ec2Context,
  name: string,
  config: StoredLaunchConfig,
  tags: Tags,
  description: string,
  revision: string,
): Promise<number> {
  const LaunchTemplateData = toTemplateData(config);
  // The revision closes the description (EC2 takes 255 characters), so a cut never loses it.
  const marker = ` (${revision})`;
  const VersionDescription = `${description.slice(0, 255 - marker.length)}${marker}`;
  try {
    const created = await ec2.client.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: name,
        VersionDescription,
        LaunchTemplateData,
        TagSpecifications: [{ ResourceType: 'launch-template', Tags: toTagList(tags) }],
      }),
    );
    return created.LaunchTemplate?.LatestVersionNumber ?? 1;
  } catch (error) {
    const mapped = toAwsCallError('CreateLaunchTemplate', error);
    if (mapped.code !== 'InvalidLaunchTemplateName.AlreadyExistsException') throw mapped;
  }
  // A retry after a crash, or a duplicate of the bake, finds its own revision newest:
  // answer it rather than add an identical one (the instance's captured tag, which
  // would have skipped the capture, is written only after this).
  const latest = await latestTemplateVersion(ec2, name);
  if (latest?.VersionNumber && latest.VersionDescription?.endsWith(marker)) return latest.VersionNumber;
  // Two copies of one bake running at once both get here: the same token (AWS keeps
  // it for the request's parameters) makes the second answer the first's version.
  const ClientToken = createHash('sha256').update(`${name}\u0000${VersionDescription}`).digest('hex').slice(0, 64);
  const out = await call('CreateLaunchTemplateVersion', () =>
    ec2.client.send(
      new CreateLaunchTemplateVersionCommand({ LaunchTemplateName: name, VersionDescription, LaunchTemplateData, ClientToken }),
    ),
  );
  const version = out.LaunchTemplateVersion?.VersionNumber ?? 1;
  // Bounded history: drop the version that fell out of the window (the first stays: it is the default).
  const stale = version - KEEP_TEMPLATE_VERSIONS;
  if (stale > 1) {
    await call('DeleteLaunchTemplateVersions', () =>
      ec2.client.send(new DeleteLaunchTemplateVersionsCommand({ LaunchTemplateName: name, Versions: [String(stale)] })),
    );
  }
  return version;
}

async function latestTemplateVersion(ec2: Ec2Context, name: string): Promise<LaunchTemplateVersion | undefined> {
  const describe = () => ec2.client.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: name, Versions: ['$Latest'] }));
  const out = await callOr('DescribeLaunchTemplateVersions', describe, TEMPLATE_NOT_FOUND, undefined);
  return out?.LaunchTemplateVersions?.[0];
}

export async function readLaunchCapture(ec2: Ec2Context, name: string): Promise<LaunchCapture | undefined> {
  const latest = await latestTemplateVersion(ec2, name);
  const config = latest?.LaunchTemplateData ? fromTemplateData(latest.LaunchTemplateData) : undefined;
  return config ? { config, description: latest?.VersionDescription ?? '' } : undefined;
}

export async function readLaunchConfig(ec2: Ec2Context, name: string): Promise<StoredLaunchConfig | undefined> {
  const data = (await latestTemplateVersion(ec2, name))?.LaunchTemplateData;
  return data ? fromTemplateData(data) : undefined;
}

export async function describeLaunchTemplate(ec2: Ec2Context, ref: string): Promise<LaunchTemplateView | undefined> {
  const byId = /^lt-[0-9a-f]+$/.test(ref);
  const describe = () =>
    ec2.client.send(new DescribeLaunchTemplatesCommand(byId ? { LaunchTemplateIds: [ref] } : { LaunchTemplateNames: [ref] }));
  // A name that does not exist is an error, an id that does not exist too (EC2 answers either NotFound code).
  const out = await callOr(
    'DescribeLaunchTemplates',
    describe,
    new Set([...TEMPLATE_NOT_FOUND, 'InvalidLaunchTemplateId.Malformed']),
    undefined,
  );
  const t = out?.LaunchTemplates?.[0];
  if (!t?.LaunchTemplateId) return undefined;
  return {
    launchTemplateId: t.LaunchTemplateId,
    launchTemplateName: t.LaunchTemplateName ?? '',
    defaultVersion: t.DefaultVersionNumber ?? 1,
    latestVersion: t.LatestVersionNumber ?? 1,
    tags: tagRecord(t.Tags),
  };
}

export async function launchTemplateVersions(
  ec2: Ec2Context,
  launchTemplateId: string,
  minVersion: number,
  maxVersion: number,
): Promise<Array<{ version: number; imageId: string | undefined }>> {
  const out: Array<{ version: number; imageId: string | undefined }> = [];
  const request = { LaunchTemplateId: launchTemplateId, MinVersion: String(minVersion), MaxVersion: String(maxVersion) };
  const paged = paginateDescribeLaunchTemplateVersions({ client: ec2.client, pageSize: 200 }, request);
  for await (const page of pages('DescribeLaunchTemplateVersions', paged, (p) =>
    (p.LaunchTemplateVersions ?? []).map((v) => ({ version: v.VersionNumber ?? 0, imageId: v.LaunchTemplateData?.ImageId })),
  )) {
    out.push(...page);
  }
  // EC2 promises no order: newest first.
  return out.sort((a, b) => b.version - a.version);
}

export async function createImageVersion(
  ec2: Ec2Context,
  launchTemplateId: string,
  sourceVersion: number,
  imageId: string,
  clientToken: string,
  description: string,
): Promise<number> {
  const out = await call('CreateLaunchTemplateVersion', () =>
    ec2.client.send(
      new CreateLaunchTemplateVersionCommand({
        LaunchTemplateId: launchTemplateId,
        SourceVersion: String(sourceVersion),
        LaunchTemplateData: { ImageId: imageId },
        VersionDescription: description.slice(0, 255),
        ClientToken: clientToken,
      }),
    ),
  );
  return out.LaunchTemplateVersion?.VersionNumber ?? 0;
}

export async function setDefaultVersion(ec2: Ec2Context, launchTemplateId: string, version: number): Promise<void> {
  await call('ModifyLaunchTemplate', () =>
    ec2.client.send(new ModifyLaunchTemplateCommand({ LaunchTemplateId: launchTemplateId, DefaultVersion: String(version) })),
  );
}
