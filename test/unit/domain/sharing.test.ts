import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { ImageView } from '../../../shared/domain/image-status.js';
import {
  appliedDigest,
  launchEntries,
  lineageSharing,
  NO_SHARING,
  permissionChange,
  planSharing,
  readSharing,
  sharingDigest,
  type Sharing,
} from '../../../shared/domain/sharing.js';
import { MAX_SHARE_TARGETS, parseInstancePolicy, ShareSpec, TAG } from '../../../shared/domain/tags.js';

const STACK = 'ami-lifecycle-test';
const ACCOUNT = '111122223333';
const OTHER = '444455556666';
const ORG = 'arn:aws:organizations::111122223333:organization/o-abcdefghij';
const OU = 'arn:aws:organizations::111122223333:ou/o-abcdefghij/ou-ab12-cdefgh12';
const account = (n: number) => String(100000000000 + n);

const image = (n: number, tags: Record<string, string> = {}, more: Partial<ImageView> = {}): ImageView => ({
  imageId: `ami-${n.toString(16).padStart(17, '0')}`,
  name: `img-${n}`,
  state: 'available',
  tags: { [TAG.managedBy]: STACK, [TAG.lineage]: 'web', [TAG.status]: 'good', [TAG.sourceInstance]: 'i-0aaaaaaaaaaaaaaa1', ...tags },
  snapshotIds: [`snap-${n}`],
  sourceInstanceId: 'i-0aaaaaaaaaaaaaaa1',
  ...more,
});
const web = (tags: Record<string, string>) => ({ instanceId: 'i-0aaaaaaaaaaaaaaa1', tags: { [TAG.lineage]: 'web', ...tags } });

describe('ShareSpec: the share tag', () => {
  it('reads account ids, organization and OU ARNs, sorted into their kinds, repeats dropped', () => {
    const parsed = v.parse(ShareSpec, ` ${OU}, ${OTHER},${ORG}, ${ACCOUNT}, ${OTHER} `);
    expect(parsed).toEqual({ accounts: [ACCOUNT, OTHER], organizations: [ORG], units: [OU] });
  });

  it("reads '' and 'none' as shared with nobody", () => {
    expect(v.parse(ShareSpec, '')).toEqual({ accounts: [], organizations: [], units: [] });
    expect(v.parse(ShareSpec, ' NONE ')).toEqual({ accounts: [], organizations: [], units: [] });
  });

  it('reads the ARNs of the other partitions (aws-cn, aws-us-gov)', () => {
    const cn = 'arn:aws-cn:organizations::111122223333:organization/o-abcdefghij';
    expect(v.parse(ShareSpec, cn).organizations).toEqual([cn]);
  });

  it.each([
    ['all', /'all' would make the images public/],
    [`${ACCOUNT},all`, /'all' would make the images public/],
    [`${ACCOUNT}, ALL`, /'all' would make the images public/],
    ['12345', /not an account id .*'12345'/],
    ['1111-2222-3333', /'1111-2222-3333'/],
    ['o-abcdefghij', /'o-abcdefghij'/],
    ['arn:aws:organizations::111122223333:organization/o-abc', /organization\/o-abc'/],
    ['arn:aws:organizations::111122223333:ou/o-abcdefghij/ou-1', /ou-1'/],
    [`${ACCOUNT},,${OTHER}`, /an empty entry/],
  ])('refuses %j, saying which entry', (value, reason) => {
    const parsed = v.safeParse(ShareSpec, value);
    expect(parsed.success).toBe(false);
    expect(parsed.issues![0]!.message).toMatch(reason);
  });

  it(`takes ${MAX_SHARE_TARGETS} entities (the AMI sharing quota) and refuses one more`, () => {
    const at = Array.from({ length: MAX_SHARE_TARGETS }, (_, i) => account(i)).join(',');
    expect(v.parse(ShareSpec, at).accounts).toHaveLength(MAX_SHARE_TARGETS);
    const past = v.safeParse(ShareSpec, `${at},${account(MAX_SHARE_TARGETS)}`);
    expect(past.success).toBe(false);
    expect(past.issues![0]!.message).toMatch(/at most 1000 entities/);
  });

  it('is reported by parseInstancePolicy without stopping the bake', () => {
    const policy = parseInstancePolicy({ [TAG.bake]: 'nightly', [TAG.share]: 'all', [TAG.shareSnapshots]: 'yes' }, ['nightly']);
    expect(policy.bakeable).toBe(true);
    expect(policy.problems.map((p) => p.tag)).toEqual([TAG.share, TAG.shareSnapshots]);
  });
});

describe('readSharing and lineageSharing', () => {
  it('shares snapshots with the accounts only, and only with share-snapshots=true', () => {
    const tags = { [TAG.share]: `${ACCOUNT},${ORG},${OU}` };
    expect(readSharing(tags)).toEqual({ sharing: { targets: v.parse(ShareSpec, tags[TAG.share]), snapshotAccounts: [] } });
    expect(readSharing({ ...tags, [TAG.shareSnapshots]: 'true' })).toMatchObject({ sharing: { snapshotAccounts: [ACCOUNT] } });
  });

  it('keeps what is applied when the lineage has no live instance', () => {
    expect(lineageSharing([])).toEqual({ kind: 'keep', reason: 'no live instance of the lineage', invalid: [] });
  });

  it('keeps what is applied when two live instances disagree', () => {
    const d = lineageSharing([web({ [TAG.share]: ACCOUNT }), { instanceId: 'i-0bbbbbbbbbbbbbbb1', tags: { [TAG.share]: OTHER } }]);
    expect(d.kind).toBe('keep');
  });

  it('keeps what is applied, and names the instance and tag, when a tag cannot be read', () => {
    const d = lineageSharing([web({ [TAG.share]: `${ACCOUNT},all` })]);
    expect(d).toMatchObject({ kind: 'keep', invalid: [{ instanceId: 'i-0aaaaaaaaaaaaaaa1', problems: [{ tag: TAG.share }] }] });
  });

  it('reads an instance without sharing tags as shared with nobody', () => {
    expect(lineageSharing([web({})])).toEqual({ kind: 'set', sharing: NO_SHARING, digest: sharingDigest(NO_SHARING) });
  });
});

describe('sharingDigest and appliedDigest', () => {
  it('digests equal sets alike, whatever their order, and different sets apart', () => {
    const a: Sharing = { targets: { accounts: [ACCOUNT, OTHER], organizations: [ORG], units: [] }, snapshotAccounts: [] };
    const b: Sharing = { targets: { accounts: [OTHER, ACCOUNT], organizations: [ORG], units: [] }, snapshotAccounts: [] };
    expect(sharingDigest(a)).toBe(sharingDigest(b));
    expect(sharingDigest(a)).toMatch(/^[0-9a-f]{16}$/);
    expect(sharingDigest({ ...a, snapshotAccounts: [ACCOUNT, OTHER] })).not.toBe(sharingDigest(a));
  });

  it('counts an image without the shared tag as never shared', () => {
    expect(appliedDigest({})).toBe(sharingDigest(NO_SHARING));
  });
});

describe('permissionChange', () => {
  it('adds what is missing and removes what is no longer asked for', () => {
    expect(permissionChange([ACCOUNT, ORG], [OTHER, ORG])).toEqual({ add: [OTHER], remove: [ACCOUNT] });
  });

  it('never adds nor removes the group all (the public sweep removes it)', () => {
    expect(permissionChange(['all', ACCOUNT], [ACCOUNT, 'all'])).toEqual({ add: [], remove: [] });
  });
});

describe('planSharing', () => {
  const plan = (images: ImageView[], tags: Record<string, string>) => planSharing({ managedBy: STACK, images, instances: [web(tags)] });

  it("changes the good images whose recorded sharing differs from their lineage's, and no other", () => {
    const wanted = readSharing({ [TAG.share]: ACCOUNT });
    if (!('sharing' in wanted)) throw new Error('unreadable');
    const done = image(1, { [TAG.shared]: sharingDigest(wanted.sharing) });
    const fresh = image(2);
    const pending = image(3, { [TAG.status]: 'pending' }, { state: 'pending' });
    const bad = image(4, { [TAG.status]: 'bad' });
    const copied = image(5, {}, { sourceInstanceId: undefined });
    const foreign = image(6, { [TAG.managedBy]: 'someone-else' });
    const p = plan([done, fresh, pending, bad, copied, foreign], { [TAG.share]: ACCOUNT });
    expect(p.tasks.map((t) => t.imageId)).toEqual([fresh.imageId]);
    expect(p.tasks[0]).toMatchObject({ lineage: 'web', digest: sharingDigest(wanted.sharing), readSnapshots: false });
    expect(p.unchanged).toBe(1);
  });

  it('reads the snapshots of an image the service shared before, to take back what the tag no longer asks', () => {
    const p = plan([image(1, { [TAG.shared]: 'aaaaaaaaaaaaaaaa' })], {});
    expect(p.tasks).toMatchObject([{ sharing: NO_SHARING, readSnapshots: true }]);
  });

  it('changes nothing for a lineage whose tag is bad, and reports the instance', () => {
    const p = plan([image(1, { [TAG.shared]: 'aaaaaaaaaaaaaaaa' }), image(2)], { [TAG.share]: 'all' });
    expect(p.tasks).toEqual([]);
    expect(p.invalid).toMatchObject([{ instanceId: 'i-0aaaaaaaaaaaaaaa1', lineage: 'web', problems: [{ tag: TAG.share, value: 'all' }] }]);
  });

  it('reports a bad tag even before the lineage has a good image', () => {
    const p = plan([], { [TAG.share]: '123' });
    expect(p.invalid).toHaveLength(1);
  });

  it('does not count a verification test instance of the lineage as one that disagrees', () => {
    const tester = { instanceId: 'i-0ccccccccccccccc1', tags: { [TAG.lineage]: 'web', 'ami-lifecycle:role': 'verification' } };
    const p = planSharing({ managedBy: STACK, images: [image(1)], instances: [web({ [TAG.share]: ACCOUNT }), tester] });
    expect(p.tasks.map((t) => t.imageId)).toEqual([image(1).imageId]);
  });

  it('changes nothing for images whose lineage has no live instance', async () => {
    const p = planSharing({ managedBy: STACK, images: [image(1, { [TAG.shared]: 'aaaaaaaaaaaaaaaa' })], instances: [] });
    expect(p.tasks).toEqual([]);
    expect(p.kept).toEqual([{ lineage: 'web', reason: 'no live instance of the lineage' }]);
  });
});

describe('safety properties', () => {
  const entry = fc.oneof(
    fc.constantFrom(ACCOUNT, OTHER, ORG, OU, 'all', 'ALL', ' all ', '', 'none', '12345', 'o-abcdefghij'),
    fc.integer({ min: 0, max: 999 }).map(account),
    fc.string({ maxLength: 20 }),
  );
  const tagValue = fc.array(entry, { maxLength: 8 }).map((e) => e.join(','));

  it('never puts the group all in what an image should carry, whatever the tag says', () => {
    fc.assert(
      fc.property(tagValue, fc.constantFrom('true', 'false', 'yes', undefined), (share, snaps) => {
        const tags = { [TAG.share]: share, ...(snaps !== undefined ? { [TAG.shareSnapshots]: snaps } : {}) };
        const r = readSharing(tags);
        if ('problems' in r) return;
        expect(launchEntries(r.sharing.targets).map((e) => e.toLowerCase().trim())).not.toContain('all');
        expect(r.sharing.snapshotAccounts).not.toContain('all');
      }),
    );
  });

  it('never changes an image on an unreadable tag, and never adds the group all', () => {
    fc.assert(
      fc.property(tagValue, fc.array(fc.constantFrom(ACCOUNT, OTHER, ORG, 'all'), { maxLength: 4 }), (share, current) => {
        const images = [image(1, { [TAG.shared]: 'aaaaaaaaaaaaaaaa' }), image(2)];
        const p = planSharing({ managedBy: STACK, images, instances: [web({ [TAG.share]: share })] });
        const readable = 'sharing' in readSharing({ [TAG.share]: share });
        if (!readable) expect(p.tasks).toEqual([]);
        for (const t of p.tasks) {
          const change = permissionChange(current, launchEntries(t.sharing.targets));
          expect(change.add).not.toContain('all');
          // Never wider than the tag: every entry added is one the tag names.
          for (const e of change.add) expect(share.split(',').map((s) => s.trim())).toContain(e);
        }
      }),
    );
  });
});
