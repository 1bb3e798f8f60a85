/**
 * Issue 18: each function's bundle carries only the EC2 calls its use case makes. Every handler
 * is bundled as the deployment does (esbuild, tree shaking), with the AWS SDK left external so
 * that only our own code is read (fast); the EC2 commands and paginators the output still names
 * are what its wiring kept (shared/aws/ec2/gateways.ts). Each must be one its role allows
 * (serverless/roles.cjs, held to the code by template-rules.test.ts): an operation a function's
 * gateway named without needing it would show here as a call its role cannot make.
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { FUNCTION_KEYS, type FunctionKey } from '../../../cli/doctor/needs.js';
import { PROJECT_ROOT, readServerless } from '../../../cli/serverless-config.js';

interface Statement {
  Action: string | string[];
}
const roles = createRequire(import.meta.url)('../../../serverless/roles.cjs') as {
  statements: Record<FunctionKey, Statement[]>;
  conditionalPolicies: Record<string, { Properties: { Roles: Array<{ Ref: string }>; PolicyDocument: { Statement: Statement[] } } }>;
};

/** The EC2 actions of the function's role: its statements, and the policies the stage may add to it. */
function allowed(fn: FunctionKey): Set<string> {
  const role = `${fn[0]!.toUpperCase()}${fn.slice(1)}Role`;
  const conditional = Object.values(roles.conditionalPolicies)
    .filter((p) => p.Properties.Roles.some((r) => r.Ref === role))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
  const actions = [...roles.statements[fn], ...conditional].flatMap((s) => s.Action);
  return new Set(actions.filter((a) => a.startsWith('ec2:')).map((a) => a.slice('ec2:'.length)));
}

/** The EC2 operations each function's bundle names (`new import_client_ec2.XCommand`, `paginateX`). */
const sent = new Map<FunctionKey, Set<string>>();

beforeAll(async () => {
  const functions = readServerless({ stage: 'dev' }).functions;
  const result = await build({
    entryPoints: Object.fromEntries(functions.map((fn) => [fn.name, resolve(PROJECT_ROOT, fn.file)])),
    outdir: 'out',
    absWorkingDir: PROJECT_ROOT,
    bundle: true,
    treeShaking: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    external: ['@aws-sdk/*', '@smithy/*'],
    write: false,
    logLevel: 'silent',
  });
  for (const file of result.outputFiles) {
    const name = file.path.replace(/^.*\/(\w+)\.js$/, '$1') as FunctionKey;
    const ec2 = /import_client_ec2\d*\.(?:(\w+)Command|paginate(\w+))\b/g;
    sent.set(name, new Set([...file.text.matchAll(ec2)].map((m) => (m[1] ?? m[2])!)));
  }
  expect([...sent.keys()].sort()).toEqual([...FUNCTION_KEYS].sort());
}, 30_000);

describe('the EC2 operations in each bundle', () => {
  it.each(FUNCTION_KEYS)('%s: only calls its role allows', (fn) => {
    const role = allowed(fn);
    expect(role.size).toBeGreaterThan(0);
    expect([...sent.get(fn)!].filter((op) => !role.has(op))).toEqual([]);
  });

  it('leaves out what the function never calls: no launch in schedule, bake or image-state; no launch template in schedule', () => {
    // The control: the scan does see RunInstances where it is called.
    expect(sent.get('recover')).toContain('RunInstances');
    expect(sent.get('verify')).toContain('RunInstances');
    for (const fn of ['schedule', 'bake', 'imageState', 'statusAlarms', 'rotate', 'promote', 'copy'] as const) {
      expect(sent.get(fn), fn).not.toContain('RunInstances');
    }
    expect([...sent.get('schedule')!].filter((op) => op.includes('LaunchTemplate'))).toEqual([]);
    expect([...sent.get('statusAlarms')!]).toEqual(['DescribeInstances']);
  });
});
