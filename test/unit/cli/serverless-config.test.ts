/**
 * readServerless follows serverless.yml's ${file(...)} includes as osls does (paths from the
 * service's folder; YAML with CloudFormation's tags, JSON, a CommonJS module's export), and
 * lists every file read, a module's own requires included: the packaged template's cache key
 * and the isolated packaging copy exactly those.
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadServerlessYml, PROJECT_ROOT, readServerless } from '../../../cli/serverless-config.js';

const dir = realpathSync(mkdtempSync(join(tmpdir(), 'serverless-config-')));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function service(files: Record<string, string>): string {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return join(dir, 'serverless.yml');
}

describe('loadServerlessYml', () => {
  it('replaces each ${file(...)} value by what the file holds, and lists the files read', () => {
    const file = service({
      'serverless.yml': [
        'service: s',
        'custom:',
        '  fromYaml: ${file(./parts/custom.yml)}',
        '  fromJson: ${file(./parts/custom.json):nested.value}',
        'resources: ${file(./parts/resources.cjs)}',
      ].join('\n'),
      'parts/custom.yml': 'role: !GetAtt ARole.Arn\nname: ${self:service}\n',
      'parts/custom.json': '{"nested": {"value": 42}}',
      'parts/resources.cjs': "module.exports = { Resources: { Bus: require('./bus.cjs') } };",
      'parts/bus.cjs': "module.exports = { Type: 'AWS::Events::EventBus', Properties: { Name: '${self:service}' } };",
    });
    const { raw, files } = loadServerlessYml(file);
    expect(raw.custom).toEqual({ fromYaml: { role: { 'Fn::GetAtt': ['ARole', 'Arn'] }, name: '${self:service}' }, fromJson: 42 });
    expect(raw.resources).toEqual({ Resources: { Bus: { Type: 'AWS::Events::EventBus', Properties: { Name: '${self:service}' } } } });
    expect(files.map((f) => f.slice(dir.length + 1)).sort()).toEqual(
      ['parts/bus.cjs', 'parts/custom.json', 'parts/custom.yml', 'parts/resources.cjs', 'serverless.yml'].sort(),
    );
  });

  it('refuses a file that is not YAML, JSON or a CommonJS module (osls would include its text)', () => {
    service({ 'bad.yml': 'resources: ${file(./parts/resources.mjs)}\n', 'parts/resources.mjs': 'export default {};' });
    expect(() => loadServerlessYml(join(dir, 'bad.yml'))).toThrow(/cannot include parts\/resources\.mjs/);
  });

  it("reads the project's own serverless.yml with its resources from serverless/*.cjs", () => {
    const { raw, files } = loadServerlessYml();
    expect(files.map((f) => f.slice(PROJECT_ROOT.length + 1))).toEqual(
      expect.arrayContaining(['serverless.yml', 'serverless/resources.cjs', 'serverless/roles.cjs', 'serverless/cfn.cjs']),
    );
    const resources = (raw.resources as { Resources: Record<string, { Type: string }> }).Resources;
    expect(resources.BakeRule?.Type).toBe('AWS::Events::Rule');
    const bake = readServerless({ stage: 'ci' }).functions.find((f) => f.name === 'bake');
    expect(bake?.queue).toEqual({ logicalId: 'BakeQueue', batchSize: 1, maximumConcurrency: 2, maxReceiveCount: 3 });
    expect(bake?.eventBridge[0]).toMatchObject({ ruleName: 'ami-lifecycle-ci-bake-queue-rule', bus: 'ami-lifecycle-ci' });
  });
});
