/** Issue 17, part B: the pure pieces of copy rotation and of `status --region`. */
import { describe, expect, it } from 'vitest';
import { claimsCopyFrom, copyPolicies, destinationRegions, notCopiedHere, regionsOf } from '../../../shared/domain/copy-rotation.js';
import { summariseRegion } from '../../../shared/domain/fleet-status.js';
import type { ImageView } from '../../../shared/domain/image-status.js';
import type { LineagePolicy } from '../../../shared/domain/retention.js';
import { TAG, type Retention } from '../../../shared/domain/tags.js';

const HOME = 'us-east-1';
const DR = 'eu-west-1';
const NOW = new Date('2026-11-26T06:00:00.000Z');
const HOUR = 3_600_000;
const SEVEN: Retention = { kind: 'count', count: 7 };

let seq = 0;
const nextId = () => `ami-${(++seq).toString(16).padStart(17, '0')}`;

/** An image `hoursAgo` old with these tags; a copy of `source` (EC2's record) when given. */
function image(hoursAgo: number, tags: Record<string, string>, source?: { imageId: string; region?: string }): ImageView {
  return {
    imageId: nextId(),
    name: 'n',
    state: 'available',
    creationDate: new Date(NOW.getTime() - hoursAgo * HOUR).toISOString(),
    tags,
    snapshotIds: [],
    ...(source ? { sourceImageId: source.imageId, ...(source.region ? { sourceImageRegion: source.region } : {}) } : {}),
  };
}

const ours = (lineage: string, extra: Record<string, string> = {}) => ({
  [TAG.managedBy]: 'stack',
  [TAG.lineage]: lineage,
  [TAG.schedule]: 'nightly',
  [TAG.status]: 'good',
  ...extra,
});

/** A copy of `source` with the contract's tags, EC2 recording it as made from it. */
function copyOf(source: ImageView, hoursAgo: number, extra: Record<string, string> = {}): ImageView {
  return image(
    hoursAgo,
    { ...source.tags, [TAG.sourceImage]: source.imageId, [TAG.sourceRegion]: HOME, ...extra },
    { imageId: source.imageId, region: HOME },
  );
}

describe('regionsOf and destinationRegions', () => {
  it.each([
    [undefined, []],
    ['', []],
    ['none', []],
    [' eu-west-1 , ap-southeast-2 ', ['eu-west-1', 'ap-southeast-2']],
    ['eu-west-1,Europe,us-gov-west-1', ['eu-west-1', 'us-gov-west-1']],
  ])('reads %j', (value, expected) => {
    expect(regionsOf(value)).toEqual(expected);
  });

  it('joins the stage regions and every copy-to tag, each once, sorted, never the home region', () => {
    expect(
      destinationRegions({
        homeRegion: HOME,
        stageRegions: ['ap-southeast-2', HOME, 'bad'],
        copyToTags: [DR, `${DR},${HOME}`, undefined, 'none', 'ca-central-1'],
      }),
    ).toEqual(['ap-southeast-2', 'ca-central-1', DR]);
  });
});

describe('provenance of a copy', () => {
  const source = image(10, ours('web'));

  it('is the service’s when EC2 records the image and the region its tags name', () => {
    const copy = copyOf(source, 9);
    expect(claimsCopyFrom(copy, HOME)).toBe(true);
    expect(notCopiedHere(copy)).toBeUndefined();
  });

  it('is not when EC2 records no source, another image, or another region', () => {
    const tags = { ...source.tags, [TAG.sourceImage]: source.imageId, [TAG.sourceRegion]: HOME };
    expect(notCopiedHere(image(1, tags))).toMatch(/records no image it was copied from/);
    expect(notCopiedHere(image(1, tags, { imageId: 'ami-0aaaaaaaaaaaaaaaa' }))).toMatch(/copied from ami-0aaaaaaaaaaaaaaaa, not from/);
    expect(notCopiedHere(image(1, tags, { imageId: source.imageId, region: 'us-west-2' }))).toMatch(/copied from us-west-2/);
  });

  it('claims only copies naming this home region as their source', () => {
    expect(claimsCopyFrom(image(1, ours('web')), HOME)).toBe(false);
    expect(claimsCopyFrom(copyOf(source, 1, { [TAG.sourceRegion]: 'us-west-2' }), HOME)).toBe(false);
  });
});

describe('copyPolicies', () => {
  const home = new Map<string, LineagePolicy>([['web', { lineage: 'web', source: 'instance', retention: { kind: 'count', count: 3 } }]]);

  it("takes the newest copy's valid copy-retain first, then the home policy, then the copies' retain tag, then the default", () => {
    const web = image(30, ours('web'));
    const db = image(30, ours('db', { [TAG.retain]: '14d' }));
    const cache = image(30, ours('cache'));
    const policies = copyPolicies(
      [
        copyOf(web, 20, { [TAG.copyRetain]: '1' }),
        copyOf(web, 10, { [TAG.copyRetain]: 'bogus' }),
        copyOf(web, 5, { [TAG.copyRetain]: '2' }),
        copyOf(db, 5),
        copyOf(cache, 5),
        copyOf(image(30, ours('api')), 5),
      ],
      new Map([...home, ['api', { lineage: 'api', source: 'last-known', retention: { kind: 'age', days: 30 } }]]),
      SEVEN,
    );
    expect(Object.fromEntries(policies)).toEqual({
      web: { lineage: 'web', source: 'copy-retain', retention: { kind: 'count', count: 2 } },
      api: { lineage: 'api', source: 'source', retention: { kind: 'age', days: 30 } },
      db: { lineage: 'db', source: 'last-known', retention: { kind: 'age', days: 14 } },
      cache: { lineage: 'cache', source: 'default', retention: SEVEN },
    });
  });
});

describe('summariseRegion', () => {
  it('shows the newest good copy as the recovery point, aged from its source, and flags the stale and the missing', () => {
    const webOld = image(30, ours('web', { [TAG.copyTo]: DR }));
    const webNew = image(3, ours('web', { [TAG.copyTo]: DR }));
    const db = image(80, ours('db', { [TAG.copyTo]: DR }));
    const api = image(2, ours('api', { [TAG.copyTo]: `${DR},ap-southeast-2` }));
    const solo = image(2, ours('solo', { [TAG.copyTo]: 'ap-southeast-2' }));
    const webCopy = copyOf(webNew, 1);
    const pending = copyOf(webNew, 0.5, { [TAG.status]: 'pending' });
    const person = image(1, { ...webNew.tags, [TAG.sourceImage]: webNew.imageId, [TAG.sourceRegion]: HOME }, { imageId: webCopy.imageId });
    // db's source is gone from the home region: its age is the copy's
    const dbCopy = copyOf(db, 70);
    const points = summariseRegion({
      now: NOW,
      region: DR,
      homeRegion: HOME,
      homeImages: [webOld, webNew, api, solo],
      regionImages: [copyOf(webOld, 29), webCopy, pending, person, dbCopy],
      schedulePeriods: { nightly: 'day' },
    });

    expect(points.map((p) => [p.lineage, p.state])).toEqual([
      ['api', 'none'],
      ['db', 'stale'],
      ['web', 'ok'],
    ]);
    const [apiPoint, dbPoint, webPoint] = points;
    expect(webPoint).toMatchObject({
      schedule: 'nightly',
      limitHours: 48,
      newestGood: { imageId: webCopy.imageId, sourceImageId: webNew.imageId, takenFrom: 'source', ageHours: 3 },
      byStatus: { good: 2, pending: 1 },
    });
    expect(webPoint!.problems).toEqual([expect.stringMatching(new RegExp(`copy ${person.imageId} .*not made by it`))]);
    expect(dbPoint).toMatchObject({ newestGood: { imageId: dbCopy.imageId, takenFrom: 'copy', ageHours: 70 } });
    expect(dbPoint!.problems).toEqual(['newest good copy 70 h old: older than twice the nightly period (48 h)']);
    expect(apiPoint!.problems).toEqual([`no good copy in ${DR}, though its newest good image names it in ${TAG.copyTo}`]);
  });

  it('says when the schedule is not one the stage declares', () => {
    const source = image(3, ours('web', { [TAG.schedule]: 'hourly' }));
    const [point] = summariseRegion({
      now: NOW,
      region: DR,
      homeRegion: HOME,
      homeImages: [source],
      regionImages: [copyOf(source, 2)],
      schedulePeriods: { nightly: 'day' },
    });
    expect(point).toMatchObject({ state: 'ok', limitHours: undefined });
    expect(point!.problems).toEqual(['schedule hourly is not one the stage declares: staleness unknown']);
  });
});
