/**
 * Sharing against moto (issue 16): the rotate function's sharing step gives each lineage's good
 * images the launch permissions its instance's ami-lifecycle:share names (and the snapshots'
 * createVolumePermission with share-snapshots=true), takes back names removed from the tag,
 * refuses `all`, and removes public access from any image of the stack. moto keeps launch
 * permissions (accounts, organization and OU ARNs) and snapshot permissions as given and filters
 * on is-public; the harness adds block public access for AMIs (python/sitecustomize.py).
 * Another account's launch of a shared image cannot be emulated: docs/sharing.md says how to
 * check it on a real account.
 */
import { describe, expect, it } from 'vitest';
import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeImageAttributeCommand,
  DescribeImagesCommand,
  DescribeSnapshotAttributeCommand,
  DisableImageBlockPublicAccessCommand,
  ModifyImageAttributeCommand,
  type Image,
} from '@aws-sdk/client-ec2';
import { tagRecord } from '../../shared/domain/tags.js';
import type { RotationRunReport } from '../../shared/use-cases/share-images.js';
import { cloudPerFile } from '../harness/cloud-per-file.js';

const NIGHT = new Date('2026-11-26T03:00:00Z');
const A = '111122223333';
const B = '444455556666';
const ORG = 'arn:aws:organizations::111122223333:organization/o-abcdefghij';
const OU = 'arn:aws:organizations::111122223333:ou/o-abcdefghij/ou-ab12-cdefgh12';

const cloud = cloudPerFile({ env: { POWERTOOLS_LOG_LEVEL: 'SILENT' } });

/** One baked, good image of an instance tagged as given. */
async function bakedWith(tags: Record<string, string>): Promise<{ instanceId: string; image: Image }> {
  const [instanceId] = await cloud.launch(1, { Name: 'web', 'ami-lifecycle:bake': 'nightly', ...tags });
  await cloud.bakeCycle('nightly', NIGHT);
  const { Images = [] } = await cloud.ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:ami-lifecycle:source-instance', Values: [instanceId!] }] }),
  );
  expect(Images).toHaveLength(1);
  expect(tagRecord(Images[0]!.Tags)['ami-lifecycle:status']).toBe('good');
  return { instanceId: instanceId!, image: Images[0]! };
}

async function launchPermissions(imageId: string): Promise<string[]> {
  const out = await cloud.ec2.send(new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: 'launchPermission' }));
  return (out.LaunchPermissions ?? []).map((p) => p.UserId ?? p.OrganizationArn ?? p.OrganizationalUnitArn ?? `group:${p.Group}`).sort();
}

async function snapshotPermissions(image: Image): Promise<string[][]> {
  const out: string[][] = [];
  for (const m of image.BlockDeviceMappings ?? []) {
    const a = await cloud.ec2.send(
      new DescribeSnapshotAttributeCommand({ SnapshotId: m.Ebs!.SnapshotId!, Attribute: 'createVolumePermission' }),
    );
    out.push((a.CreateVolumePermissions ?? []).map((p) => p.UserId ?? `group:${p.Group}`).sort());
  }
  return out;
}

const tag = (id: string, tags: Record<string, string>) =>
  cloud.ec2.send(new CreateTagsCommand({ Resources: [id], Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }));
const rotate = async () => (await cloud.invoke('rotate', { trigger: 'schedule' })) as RotationRunReport;

describe('sharing on the rotation schedule', () => {
  it('shares a good image with accounts, an organization and an OU, then takes back a name removed from the tag', async () => {
    // Prepare
    const { instanceId, image } = await bakedWith({ 'ami-lifecycle:share': `${A},${B},${ORG},${OU}` });

    // Act
    const first = await rotate();

    // Assess
    expect(await launchPermissions(image.ImageId!)).toEqual([A, B, ORG, OU].sort());
    expect(first.sharing).toMatchObject({ planned: 1, shared: 1, failures: [] });
    // Not asked for: the snapshots stay the account's own.
    expect(await snapshotPermissions(image)).toEqual([[]]);

    await tag(instanceId, { 'ami-lifecycle:share': `${B},${OU}` });
    const second = await rotate();
    expect(await launchPermissions(image.ImageId!)).toEqual([B, OU].sort());
    expect(second.sharing).toMatchObject({ shared: 1 });

    // The tag removed: everything it shared goes.
    await cloud.ec2.send(new DeleteTagsCommand({ Resources: [instanceId], Tags: [{ Key: 'ami-lifecycle:share' }] }));
    await rotate();
    expect(await launchPermissions(image.ImageId!)).toEqual([]);
  });

  it('shares the snapshots with the accounts (never the organization) with share-snapshots=true, and stops when it goes', async () => {
    const { instanceId, image } = await bakedWith({ 'ami-lifecycle:share': `${A},${ORG}`, 'ami-lifecycle:share-snapshots': 'true' });

    await rotate();
    expect(await snapshotPermissions(image)).toEqual([[A]]);
    expect(await launchPermissions(image.ImageId!)).toEqual([A, ORG].sort());

    await tag(instanceId, { 'ami-lifecycle:share-snapshots': 'false' });
    await rotate();
    expect(await snapshotPermissions(image)).toEqual([[]]);
    expect(await launchPermissions(image.ImageId!)).toEqual([A, ORG].sort());
  });

  it('refuses all with PolicyInvalid, and changes nothing of what the images are shared with', async () => {
    const { instanceId, image } = await bakedWith({ 'ami-lifecycle:share': A });
    await rotate();
    const before = await cloud.ec2.send(new DescribeImagesCommand({ ImageIds: [image.ImageId!] }));
    await tag(instanceId, { 'ami-lifecycle:share': `${B},all` });
    cloud.proxy.resetCalls();

    const report = await rotate();

    expect(await launchPermissions(image.ImageId!)).toEqual([A]);
    const after = await cloud.ec2.send(new DescribeImagesCommand({ ImageIds: [image.ImageId!] }));
    expect(after.Images![0]!.Tags).toEqual(before.Images![0]!.Tags);
    expect(cloud.proxy.calls().ModifyImageAttribute ?? 0).toBe(0);
    expect(report.sharing.policyInvalid).toBe(1);
    const invalid = cloud.published('PolicyInvalid').map((e) => e.detail);
    expect(invalid).toEqual([
      expect.objectContaining({
        instanceId,
        schedule: 'rotate',
        bakeSkipped: false,
        problems: [expect.objectContaining({ tag: 'ami-lifecycle:share', value: `${B},all` })],
      }),
    ]);
  });

  it('finds an image a person made public, removes the public permission, keeps its shares, and says so', async () => {
    const { image } = await bakedWith({ 'ami-lifecycle:share': A });
    await rotate();
    // Block public access is on in a new account: a person turns it off, then makes the image public.
    await expect(
      cloud.ec2.send(new ModifyImageAttributeCommand({ ImageId: image.ImageId!, LaunchPermission: { Add: [{ Group: 'all' }] } })),
    ).rejects.toMatchObject({ name: 'OperationNotPermitted' });
    await cloud.ec2.send(new DisableImageBlockPublicAccessCommand({}));
    await cloud.ec2.send(new ModifyImageAttributeCommand({ ImageId: image.ImageId!, LaunchPermission: { Add: [{ Group: 'all' }] } }));
    expect(await launchPermissions(image.ImageId!)).toEqual([A, 'group:all']);

    const report = await rotate();

    expect(await launchPermissions(image.ImageId!)).toEqual([A]);
    expect(report.sharing.public).toEqual({ found: 1, revoked: [image.ImageId], notOurs: [] });
    expect(cloud.published('ImagePublicAccessRevoked').map((e) => e.detail)).toEqual([
      expect.objectContaining({ imageId: image.ImageId, imageName: image.Name, lineage: expect.any(String) }),
    ]);
  });

  it('a duplicate run changes nothing and makes no call per image', async () => {
    await bakedWith({ 'ami-lifecycle:share': `${A},${ORG}`, 'ami-lifecycle:share-snapshots': 'true' });
    await rotate();
    cloud.proxy.resetCalls();

    const report = await rotate();

    expect(report.sharing).toMatchObject({ planned: 0, shared: 0, unchanged: 1 });
    const calls = cloud.proxy.calls();
    for (const action of ['DescribeImageAttribute', 'ModifyImageAttribute', 'DescribeSnapshotAttribute', 'ModifySnapshotAttribute']) {
      expect(calls[action] ?? 0, action).toBe(0);
    }
  });
});
