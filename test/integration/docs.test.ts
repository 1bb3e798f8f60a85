/**
 * The documents: what code or configuration can say is generated and held equal here
 * (scripts/docs/generated.ts), every link between them resolves, and the README stays a
 * front page.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import GithubSlugger from 'github-slugger';
import { beforeAll, describe, expect, it } from 'vitest';
import * as v from 'valibot';
import { PROJECT_ROOT, readServerless } from '../../cli/serverless-config.js';
import { blockIn, withBlock } from '../../scripts/docs/blocks.js';
import { EVENT_DOCS } from '../../scripts/docs/event-fields.js';
import { publishedEventsDoc } from '../../scripts/docs/events-doc.js';
import { GENERATED_BLOCKS } from '../../scripts/docs/generated.js';
import { parametersDoc } from '../../scripts/docs/parameters-doc.js';
import { packagedTemplate } from '../infra/packaged.js';
import { DOCS_STAGE, permissionsTable } from '../infra/permissions-table.js';
import type { Template } from '../infra/template-rules.js';

const read = (file: string) => readFileSync(join(PROJECT_ROOT, file), 'utf8');
const DOCUMENTS = [
  'README.md',
  'CONTRIBUTING.md',
  'BENCHMARKS.md',
  'test/harness/README.md',
  ...readdirSync(join(PROJECT_ROOT, 'docs')).map((f) => `docs/${f}`),
];

describe('generated blocks', () => {
  for (const block of GENERATED_BLOCKS) {
    it(`${block.file} ${block.name} is what its source gives now (npm run docs rewrites it)`, async () => {
      expect(blockIn(read(block.file), block.name)).toBe(await block.render());
    });
  }

  it('an event field without a meaning, or a meaning without a field, fails the generation', () => {
    const schemas = { ImageBaked: v.object({ imageId: v.string(), extra: v.optional(v.pipe(v.number(), v.integer())) }) };
    expect(() => publishedEventsDoc(schemas, EVENT_DOCS)).toThrow(/does not describe ImageBaked.extra/);
    const docs = { ImageBaked: { ...EVENT_DOCS.ImageBaked!, fields: { imageId: 'x', gone: 'y', extra: 'z' } } };
    expect(() => publishedEventsDoc(schemas, docs)).toThrow(/describes fields ImageBaked does not have: gone/);
    expect(
      publishedEventsDoc(schemas, docs.ImageBaked ? { ImageBaked: { ...docs.ImageBaked, fields: { imageId: 'x', extra: 'z' } } } : {}),
    ).toContain('| `extra` | integer | optional | z |');
  });

  it('every published event and every field of it is in docs/events.md', () => {
    const events = read('docs/events.md');
    for (const name of Object.keys(EVENT_DOCS)) expect(events).toContain(`### ${name}`);
    expect(events).toContain('| `keptUnverified.errorCode` | string | always |');
    expect(events).toContain('| `settledBy` | `event` \\| `reconcile` \\| `verification` | always |');
  });

  it('a parameter without a comment above it fails; a stage override is shown', () => {
    const dir = mkdtempSync(join(tmpdir(), 'docs-'));
    const file = join(dir, 'serverless.yml');
    writeFileSync(file, 'params:\n  default:\n    # Said.\n    a: 1\n    b: two\n  prod:\n    a: 2\n');
    expect(() => parametersDoc(file)).toThrow(/parameter b has no comment/);
    writeFileSync(file, 'params:\n  default:\n    # Said.\n    a: 1\n    # Also said.\n    b: ""\n  prod:\n    a: 2\n');
    expect(parametersDoc(file).split('\n').slice(2)).toEqual(['| `a` | `1`, `2` in `prod` | Said. |', '| `b` | empty | Also said. |']);
  });

  describe('the permissions table', () => {
    const wiring = readServerless({ stage: DOCS_STAGE });
    const functions = wiring.functions.map((f) => f.name);
    let t: Template;
    beforeAll(async () => {
      t = (await packagedTemplate({ stage: DOCS_STAGE })).template;
    });

    it('has one row per function; the drift it once had (bake’s DescribeLaunchTemplateVersions) is gone', () => {
      const table = blockIn(read('docs/permissions.md'), 'permissions');
      expect(table.split('\n')).toHaveLength(functions.length + 2);
      expect(table).toMatch(/\| `bake` \| [^|]*`ec2:DescribeLaunchTemplateVersions`/);
    });

    it('differs when a role changes (a planted edit: a statement removed from the bake role)', () => {
      const x = structuredClone(t);
      for (const p of x.Resources.BakeRole!.Properties!.Policies as Array<{
        PolicyDocument: { Statement: Array<Record<string, unknown>> };
      }>) {
        p.PolicyDocument.Statement = p.PolicyDocument.Statement.filter((s) => s.Sid !== 'ReadImagesAddressesAndLaunchTemplates');
      }
      const doc = read('docs/permissions.md');
      const edited = permissionsTable(x, wiring.service, DOCS_STAGE, functions);
      expect(edited).not.toBe(blockIn(doc, 'permissions'));
      expect(blockIn(withBlock(doc, 'permissions', edited), 'permissions')).toBe(edited);
    });
  });
});

/** Headings' anchors as GitHub makes them. */
function anchorsOf(markdown: string): Set<string> {
  const slugger = new GithubSlugger();
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, '');
  return new Set([...withoutCode.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slugger.slug(m[1]!.trim())));
}

describe('links between the documents', () => {
  for (const doc of DOCUMENTS) {
    it(`${doc}: every relative link and anchor resolves`, () => {
      expect(existsSync(join(PROJECT_ROOT, doc)), `${doc} exists`).toBe(true);
      const text = read(doc).replace(/```[\s\S]*?```/g, '');
      const broken: string[] = [];
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue; // https:, mailto:
        const [path, anchor] = target!.split('#') as [string, string | undefined];
        const file = path ? resolve(dirname(join(PROJECT_ROOT, doc)), path) : join(PROJECT_ROOT, doc);
        if (!existsSync(file)) {
          broken.push(`${target}: no file ${relative(PROJECT_ROOT, file)}`);
          continue;
        }
        if (anchor && file.endsWith('.md') && !anchorsOf(readFileSync(file, 'utf8')).has(anchor))
          broken.push(`${target}: no heading #${anchor}`);
      }
      expect(broken).toEqual([]);
    });
  }
});

describe('the README is a front page', () => {
  const readme = read('README.md');

  it('is at most 15 KB', () => {
    expect(Buffer.byteLength(readme)).toBeLessThanOrEqual(15 * 1024);
  });

  it('its contents lead to the quick start, the tag contract, the layout and every page of docs/', () => {
    const contents = readme.slice(readme.indexOf('## Contents'), readme.indexOf('## Quick start'));
    for (const link of [
      '#quick-start',
      '#the-tag-contract',
      'CONTRIBUTING.md#layout',
      '#how-it-works',
      '#the-cli-at-a-glance',
      '#deploy-and-remove',
    ]) {
      expect(contents).toContain(`(${link})`);
    }
    for (const page of readdirSync(join(PROJECT_ROOT, 'docs'))) expect(contents).toContain(`(docs/${page})`);
  });

  it('gives the quick start as numbered steps with the two commands, and one Mermaid diagram', () => {
    const quick = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('## The tag contract'));
    expect(quick).toMatch(/^1\. /m);
    expect(quick).toContain('npm start');
    expect(quick).toContain('npm test');
    expect(readme.match(/```mermaid/g)).toHaveLength(1);
  });
});
