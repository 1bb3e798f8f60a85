/**
 * The packaged template is the one the fixture holds (test/fixtures/packaged-template.json):
 * the same resources with the same properties, whatever shape serverless.yml and the files it
 * includes take. A restructuring of serverless.yml must leave it unchanged; a change the
 * template is meant to get is made in the fixture too (npm run template:snapshot), where a
 * reviewer sees it. The form compared is test/infra/template-canonical.ts's: keys sorted,
 * and only what changes with every build (artifact keys, code hashes) replaced.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadServerlessYml, PROJECT_ROOT } from '../../cli/serverless-config.js';
import { packagedTemplate } from '../infra/packaged.js';
import { canonicalTemplate, FIXTURE, FIXTURE_REGION, FIXTURE_STAGE, templateDifferences } from '../infra/template-canonical.js';
import type { Template } from '../infra/template-rules.js';

let template: Template;
let fixture: unknown;

beforeAll(async () => {
  template = (await packagedTemplate({ stage: FIXTURE_STAGE, region: FIXTURE_REGION })).template;
  fixture = JSON.parse(readFileSync(join(PROJECT_ROOT, FIXTURE), 'utf8'));
});

describe('the packaged template', () => {
  it('equals the fixture (run `npm run template:snapshot` only for an intended change, and review the fixture)', () => {
    const differences = templateDifferences(fixture, canonicalTemplate(template));
    expect(differences, `the packaged template differs from ${FIXTURE}:\n${differences.join('\n')}`).toEqual([]);
  });
});

describe('serverless.yml written once', () => {
  // Issue 13: 1,746 lines, 700 of them copies of the same shapes. Each repeated shape is now
  // written once (serverless/*.cjs): a new function is a row, not another copy. 898 lines then;
  // issue 22's recheck (two params, the recover role's reboot and schedule statements, its
  // environment) took it to 934; issue 14 (the volume, capture, spot, placement and fallback
  // statements of the bake, schedule and recover roles, two params) to 965: new behaviour, not copies.
  // Issue 15's image-state queue (the rule and queue of bake written once for both, the imageState
  // mapping and why its batch and window are what they are) took it to 993; issue 14's stop of a
  // failed instance that still runs, to free its following volumes, to 1000; issue 16's sharing
  // (the rotate role's image and snapshot attribute statements) to 1010. Issue 15's verified images
  // (+120): the verify function (its rule on the bus, its sweep schedule, its environment), its role
  // (launch, terminate, SSM, schedules, each scoped), nine params, to 1128. Issue 16's promotion (a function with its rule and catch-up schedule, its
  // role's statements, five params, one variable for every function): 1196. Issue 17's copy rotation
  // (two params, two variables, the rotate role's statements for destination regions): 1219. Issue 19's
  // stale images (the rotate role's read of launch configurations, the snapshot price param): 1223.
  // Issue 17's copies (+156): the copy function, its FIFO queue fed by two rules (ruleQueue extended:
  // group id, content deduplication, its FIFO dead-letter queue and alarm, and why each), its role with
  // the cross-region statements and their KMS policy, one more param: 1372; the copy role's DR capture statements: 1386.
  // Issue 19's scheduled adoption (+36): the adoptFilters param and the rotate function's variable, the
  // CloudFormation parameter and condition, the rotate role's adoption policy under it and why: 1424.
  it('is, with every file it includes, at most 1424 lines', () => {
    const { files } = loadServerlessYml();
    const lines = files.reduce((sum, f) => sum + readFileSync(f, 'utf8').split('\n').length - 1, 0);
    expect(files.length).toBeGreaterThan(1);
    expect(lines).toBeLessThanOrEqual(1424);
  });
});

describe('the canonical form', () => {
  it('is blind to what every build changes: the artifact keys, the code hashes and the version ids made of them', () => {
    const rebuilt = JSON.parse(
      JSON.stringify(template)
        .replace(/(serverless\/[^/"]+\/[^/"]+\/)[^/"]+\//g, '$11700000000000-2023-11-14T22:13:20.000Z/')
        .replace(/("CodeSha256":")[^"]+"/g, '$1AAAA="')
        .replace(/(LambdaVersion)[A-Za-z0-9]+/g, '$1Rebuilt0123456789'),
    ) as Template;
    expect(JSON.stringify(rebuilt)).not.toBe(JSON.stringify(template));
    expect(templateDifferences(canonicalTemplate(template), canonicalTemplate(rebuilt))).toEqual([]);
  });

  it('keeps the order of statements, and reports a changed, added or removed value by its path', () => {
    const edited = structuredClone(template);
    const statements = edited.Resources.BakeRole!.Properties!.Policies[0].PolicyDocument.Statement as Array<Record<string, unknown>>;
    statements.reverse();
    edited.Resources.BakeDlq!.Properties!.MessageRetentionPeriod = 60;
    delete edited.Resources.RotateDlqAlarm;
    edited.Resources.Extra = { Type: 'AWS::SQS::Queue' };
    const differences = templateDifferences(canonicalTemplate(template), canonicalTemplate(edited), 1000);
    const retention = template.Resources.BakeDlq!.Properties!.MessageRetentionPeriod as number;
    expect(differences).toContain(`Resources.BakeDlq.Properties.MessageRetentionPeriod: fixture ${retention}, packaged 60`);
    expect(differences.some((d) => d.startsWith('Resources.RotateDlqAlarm: only in the fixture'))).toBe(true);
    expect(differences).toContain('Resources.Extra: only in the packaged template: {"Type":"AWS::SQS::Queue"}');
    expect(differences.some((d) => d.startsWith('Resources.BakeRole.Properties.Policies[0].PolicyDocument.Statement[0].Sid:'))).toBe(true);
  });
});
