import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { imageDescription, imageName, isValidAmiName, type ImageKey } from '../../../shared/domain/naming.js';
import { isWellFormed } from '../fakes.js';

const key: ImageKey = { managedBy: 'ami-lifecycle-prod', lineage: 'i-0123456789abcdef0', schedule: 'nightly', slot: '2026-11-26' };

describe('imageName', () => {
  it('has the shape <managedBy>/<lineage>/<schedule>/<slot>', () => {
    // Act
    const name = imageName(key);

    // Assess
    expect(name).toBe('ami-lifecycle-prod/i-0123456789abcdef0/nightly/2026-11-26');
    expect(isValidAmiName(name)).toBe(true);
  });

  it('is deterministic: the same key always gives the same name', () => {
    // Prepare
    const copy = { ...key };

    // Act
    const names = [imageName(key), imageName(copy), imageName(key)];

    // Assess
    expect(new Set(names).size).toBe(1);
  });

  it.each([
    ['a colon', { lineage: 'web:1' }],
    ['a comma', { schedule: 'nightly,weekly' }],
    ['a plus', { managedBy: 'stack+1' }],
    ['a non-ASCII letter', { lineage: 'café' }],
    ['a newline', { slot: '2026-11-26\n' }],
    ['an asterisk', { managedBy: '*' }],
  ])('refuses a name with %s', (_label, change) => {
    // Prepare
    const bad = { ...key, ...change };

    // Act
    const act = () => imageName(bad);

    // Assess
    expect(act).toThrow(RangeError);
    expect(act).toThrow(/not a valid AMI name/);
  });

  it('accepts every character EC2 allows in a name', () => {
    // Prepare
    const allowed = { ...key, lineage: "(a)[b] c.d-e'f@g_h" };

    // Act
    const name = imageName(allowed);

    // Assess
    expect(name).toBe("ami-lifecycle-prod/(a)[b] c.d-e'f@g_h/nightly/2026-11-26");
  });

  it('accepts exactly 128 characters and refuses 129', () => {
    // Prepare: the fixed parts take 3 slashes + 'n' + '2026-11-26' + 'm' = 15 characters
    const at128 = { managedBy: 'm', lineage: 'l'.repeat(128 - 15), schedule: 'n', slot: '2026-11-26' };
    const at129 = { ...at128, lineage: 'l'.repeat(129 - 15) };

    // Act
    const name = imageName(at128);
    const act = () => imageName(at129);

    // Assess
    expect(name).toHaveLength(128);
    expect(act).toThrow(RangeError);
  });
});

describe('isValidAmiName', () => {
  it.each([
    ['ab', false],
    ['abc', true],
    ['a'.repeat(128), true],
    ['a'.repeat(129), false],
    ['with space/and.dots', true],
    ['tab\there', false],
    ['semi;colon', false],
  ])('%j -> %s', (name, expected) => {
    // Act
    const ok = isValidAmiName(name);

    // Assess
    expect(ok).toBe(expected);
  });
});

describe('imageDescription', () => {
  it('names the schedule, slot, instance, instance name, lineage and stack', () => {
    // Prepare
    const input = { ...key, instanceId: 'i-0123456789abcdef0', instanceName: 'web-1' };

    // Act
    const text = imageDescription(input);

    // Assess
    expect(text).toBe('nightly 2026-11-26 image of i-0123456789abcdef0 (web-1), lineage i-0123456789abcdef0, by ami-lifecycle-prod');
  });

  it('leaves out the parentheses when the instance has no name', () => {
    // Prepare
    const input = { ...key, instanceId: 'i-0123456789abcdef0' };

    // Act
    const text = imageDescription(input);

    // Assess
    expect(text).toBe('nightly 2026-11-26 image of i-0123456789abcdef0, lineage i-0123456789abcdef0, by ami-lifecycle-prod');
  });

  it('cuts a long description to 255 characters ending in an ellipsis', () => {
    // Prepare
    const input = { ...key, instanceId: 'i-0123456789abcdef0', instanceName: 'n'.repeat(256) };

    // Act
    const text = imageDescription(input);

    // Assess
    expect(text).toHaveLength(255);
    expect(text.endsWith('…')).toBe(true);
    expect(text.startsWith('nightly 2026-11-26 image of i-0123456789abcdef0 (nnn')).toBe(true);
  });

  it('never exceeds 255 characters (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 300 }),
        fc.option(fc.string({ maxLength: 300, unit: 'grapheme' }), { nil: undefined }),
        (lineage, instanceName) => {
          // Act
          const text = imageDescription({ ...key, lineage, instanceId: 'i-0123456789abcdef0', instanceName });

          // Assess
          expect(text.length).toBeLessThanOrEqual(255);
        },
      ),
    );
  });

  // Regression: cutting by UTF-16 units could split a surrogate pair (an emoji in the Name tag);
  // the SDK then refuses to serialise CreateImage (URIError), so the instance could never be baked.
  it('never splits a surrogate pair when it cuts (emoji in the instance name)', () => {
    // Prepare: an even and an odd offset, so that one of them puts the cut inside a pair
    const inputs = [0, 1].map((k) => ({ ...key, instanceId: 'i-0123456789abcdef0', instanceName: 'x'.repeat(k) + '😀'.repeat(120) }));

    // Act
    const texts = inputs.map((i) => imageDescription(i));

    // Assess
    for (const text of texts) {
      expect(text.length).toBeLessThanOrEqual(255);
      expect(isWellFormed(text)).toBe(true);
    }
  });
});

// ---- properties --------------------------------------------------------------------------

const managedBy = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/);
const lineage = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$/);
const schedule = fc.stringMatching(/^[a-z][a-z0-9-]{0,23}$/);
const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const slot = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 1, max: 12 })).map(([y, m]) => `${pad(y, 4)}-${pad(m)}`),
  fc.tuple(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 1, max: 53 })).map(([y, w]) => `${pad(y, 4)}-W${pad(w)}`),
  fc
    .tuple(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 31 }))
    .map(([y, m, d]) => `${pad(y, 4)}-${pad(m)}-${pad(d)}`),
  fc
    .tuple(
      fc.integer({ min: 0, max: 9999 }),
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 31 }),
      fc.integer({ min: 0, max: 23 }),
    )
    .map(([y, m, d, h]) => `${pad(y, 4)}-${pad(m)}-${pad(d)}T${pad(h)}`),
);
const imageKey = fc.record({ managedBy, lineage, schedule, slot });

describe('imageName (properties)', () => {
  it('gives a valid AMI name for every valid stack, lineage, schedule and slot', () => {
    fc.assert(
      fc.property(imageKey, (k) => {
        // Act
        const name = imageName(k);

        // Assess
        expect(isValidAmiName(name)).toBe(true);
        expect(name.length).toBeLessThanOrEqual(128);
        expect(name.split('/')).toEqual([k.managedBy, k.lineage, k.schedule, k.slot]);
      }),
      { numRuns: 1000 },
    );
  });

  it('is injective: distinct keys never share a name', () => {
    fc.assert(
      fc.property(imageKey, imageKey, (a, b) => {
        // Act
        const [na, nb] = [imageName(a), imageName(b)];

        // Assess
        const sameKey = a.managedBy === b.managedBy && a.lineage === b.lineage && a.schedule === b.schedule && a.slot === b.slot;
        expect(na === nb).toBe(sameKey);
      }),
      { numRuns: 1000 },
    );
  });

  it('is injective even for keys that differ in one field only', () => {
    fc.assert(
      fc.property(
        imageKey,
        fc.constantFrom('managedBy', 'lineage', 'schedule', 'slot') as fc.Arbitrary<keyof ImageKey>,
        imageKey,
        (a, field, other) => {
          // Prepare
          const b = { ...a, [field]: other[field] };

          // Act
          const [na, nb] = [imageName(a), imageName(b)];

          // Assess
          expect(na === nb).toBe(a[field] === b[field]);
        },
      ),
      { numRuns: 500 },
    );
  });
});
