/**
 * The README's permissions table is the packaged template's (test/infra/permissions-table.ts):
 * when a role changes, `npm run readme:permissions` rewrites it, and this test fails until then.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, readServerless } from '../../cli/serverless-config.js';
import { packagedTemplate } from '../infra/packaged.js';
import { permissionsTable, README_STAGE, tableIn, withTable } from '../infra/permissions-table.js';
import type { Template } from '../infra/template-rules.js';

const wiring = readServerless({ stage: README_STAGE });
const functions = wiring.functions.map((f) => f.name);
const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
let t: Template;

beforeAll(async () => {
  t = (await packagedTemplate({ stage: README_STAGE })).template;
});

describe('README permissions table', () => {
  it('is the packaged template’s, every function a row', () => {
    const table = permissionsTable(t, wiring.service, README_STAGE, functions);
    expect(tableIn(readme)).toBe(table);
    expect(table.split('\n')).toHaveLength(functions.length + 2);
    // The drift this table had: bake's DescribeLaunchTemplateVersions was missing.
    expect(table).toMatch(/\| `bake` \| [^|]*`ec2:DescribeLaunchTemplateVersions`/);
  });

  it('differs when a role changes (a planted edit: an action removed from the bake role)', () => {
    const x = structuredClone(t);
    for (const p of x.Resources.BakeRole!.Properties!.Policies as Array<{ PolicyDocument: { Statement: Array<Record<string, unknown>> } }>) {
      p.PolicyDocument.Statement = p.PolicyDocument.Statement.filter((s) => s.Sid !== 'ReadImagesAddressesAndLaunchTemplates');
    }
    const edited = permissionsTable(x, wiring.service, README_STAGE, functions);
    expect(edited).not.toBe(tableIn(readme));
    expect(tableIn(withTable(readme, edited))).toBe(edited);
  });
});
