import { describe, expect, it } from 'vitest';
import { age, bytes, statusTable, table } from '../../../cli/render/text.js';
import type { LineageStatus } from '../../../shared/domain/fleet-status.js';

const lineage = (overrides: Partial<LineageStatus> = {}): LineageStatus => ({
  lineage: 'i-0123456789abcdef0',
  name: 'web-1',
  instance: { instanceId: 'i-0123456789abcdef0', state: 'running' },
  schedules: ['nightly'],
  recover: 'on-failure',
  lastGood: { imageId: 'ami-0123456789abcdef0', name: 'x', createdAt: new Date(0), ageHours: 5 },
  images: 3,
  byStatus: { good: 3 },
  snapshotBytes: 3 * 8 * 2 ** 30,
  nextRotation: [],
  overdue: [],
  replacements: [],
  problems: [],
  ...overrides,
});

describe('text rendering', () => {
  it('aligns columns under their headers', () => {
    // Act
    const lines = table(['a', 'long header'], [['wide cell', 'x']]).split('\n');

    // Assess
    expect(lines).toEqual(['a          long header', '---------  -----------', 'wide cell  x']);
  });

  it('writes sizes and ages the way people read them', () => {
    expect([bytes(512), bytes(1536), bytes(24 * 2 ** 30)]).toEqual(['512 B', '1.5 KiB', '24.0 GiB']);
    expect([age(0.5), age(5), age(72)]).toEqual(['30 min', '5 h', '3 d']);
  });

  it('prints one row per lineage, then every problem under its lineage', () => {
    // Prepare
    const rows = [
      lineage(),
      lineage({
        lineage: 'db',
        name: undefined,
        instance: undefined,
        lastGood: undefined,
        nextRotation: [{ imageId: 'ami-1', name: 'n', reasons: ['r'] }],
        problems: ['instance gone: no live instance carries the lineage'],
      }),
    ];

    // Act
    const text = statusTable(rows);

    // Assess
    const lines = text.split('\n');
    expect(lines[0]).toMatch(
      /^lineage\s+name\s+instance\s+state\s+schedules\s+recover\s+last good\s+images\s+snapshots\s+next rotation\s+problems$/,
    );
    expect(lines[2]).toMatch(
      /^i-0123456789abcdef0\s+web-1\s+i-0123456789abcdef0\s+running\s+nightly\s+on-failure\s+5 h\s+3\s+24\.0 GiB\s+-\s+-$/,
    );
    expect(lines[3]).toMatch(/^db\s+\(gone\)\s+nightly\s+on-failure\s+none\s+3\s+24\.0 GiB\s+delete 1\s+1$/);
    expect(text).toContain('problems:\n  db: instance gone: no live instance carries the lineage');
  });

  it('says so when there is nothing to show', () => {
    expect(statusTable([])).toMatch(/^no lineages/);
  });
});
