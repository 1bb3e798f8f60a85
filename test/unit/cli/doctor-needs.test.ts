/**
 * The needs list of `ami-lifecycle doctor` (cli/doctor/needs.ts) names every AWS call each
 * function's code path sends. Read from the source: the port calls in each function's use-case
 * files, and for each port method the SDK commands its gateway method sends (`new XCommand`,
 * `paginateX`, `waitUntilInstanceRunning`), following the gateway's own helpers (EC2's: the
 * functions of shared/aws/ec2/, each port method one of the same name, helpers called with `ec2`). A
 * gateway that gains a command, or a use case that gains a port call, fails here until the
 * list has the need; a need no code sends fails too, unless AWS makes it on the function's
 * behalf (its log, its queue, a tag-on-create, a role passed, a read behind
 * DescribeImageReferences).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { FUNCTION_KEYS, KMS_NEEDS, NEEDS, concrete, examplePassRole, type FunctionKey } from '../../../cli/doctor/needs.js';
import { PROJECT_ROOT, readServerless } from '../../../cli/serverless-config.js';

const source = (path: string) => readFileSync(join(PROJECT_ROOT, path), 'utf8');

/** serverless.yml's functions as written (their destinations, which readServerless does not keep). */
const rawFunctions = (
  parse(source('serverless.yml'), { customTags: ['!GetAtt', '!Sub', '!Ref'].map((tag) => ({ tag, resolve: (v: string) => v })) }) as {
    functions: Record<string, { destinations?: { onFailure?: unknown } }>;
  }
).functions;

/** Where each function's code path lives: its handler's use case and what that calls. */
const USE_CASE_FILES: Record<FunctionKey, string[]> = {
  schedule: ['run-schedule', 'settle-image'],
  bake: ['bake-instance'],
  imageState: ['settle-image'],
  promote: ['promote-image'],
  rotate: ['rotation-run', 'share-images', 'rotate-images', 'launch-configuration-uses', 'stale-images'],
  recover: ['recover-instance'],
  statusAlarms: ['sync-status-alarms'],
  verify: ['verify-image'],
  copy: ['copy-images', 'dr-capture'],
};

/** The gateway behind each port, and the IAM prefix of its service. */
const GATEWAYS = {
  ec2: { dir: 'shared/aws/ec2', service: 'ec2' },
  events: { file: 'shared/aws/event-bus.ts', className: 'EventBusPublisher', service: 'events' },
  alarms: { file: 'shared/aws/cloudwatch-gateway.ts', className: 'CloudWatchGateway', service: 'cloudwatch' },
  rechecks: { file: 'shared/aws/scheduler-gateway.ts', className: 'SchedulerGateway', service: 'scheduler' },
  commands: { file: 'shared/aws/ssm-gateway.ts', className: 'SsmGateway', service: 'ssm' },
  parameters: { file: 'shared/aws/ssm-gateway.ts', className: 'SsmGateway', service: 'ssm' },
  groups: { file: 'shared/aws/autoscaling-gateway.ts', className: 'AutoScalingGateway', service: 'autoscaling' },
  launchConfigurations: { file: 'shared/aws/autoscaling-gateway.ts', className: 'AutoScalingGateway', service: 'autoscaling' },
} as const;
type Port = keyof typeof GATEWAYS;

/** Waiters send the describe they poll with. */
const WAITERS: Record<string, string> = { waitUntilInstanceRunning: 'DescribeInstances' };

type Members = Map<string, { operations: Set<string>; calls: Set<string> }>;

/** Each member of `text` from its header to the next: the SDK operations it sends directly, and the members it calls. */
function membersOf(text: string, header: RegExp, call: RegExp, members: Members = new Map()): Members {
  const starts = [...text.matchAll(header)].map((m) => ({ name: m[1]!, index: m.index }));
  starts.forEach((m, i) => {
    // The body without the member's own name, so that a waiter method is not read as its waiter.
    const code = text.slice(m.index, starts[i + 1]?.index ?? text.length).replace(/^.*?\(/, '(');
    const operations = new Set([
      ...[...code.matchAll(/new (\w+)Command\(/g)].map((x) => x[1]!),
      ...[...code.matchAll(/\bpaginate(\w+)\(/g)].map((x) => x[1]!),
      ...[...code.matchAll(/\b(waitUntil\w+)\(/g)].map((x) => WAITERS[x[1]!] ?? `unknown waiter ${x[1]}`),
    ]);
    const calls = new Set([...code.matchAll(call)].map((x) => x[1]!));
    members.set(m.name, { operations, calls });
  });
  return members;
}

/** Method name -> what it sends and calls, of a gateway class. */
function methodsOf(file: string, className: string): Members {
  const text = source(file);
  const start = text.indexOf(`export class ${className}`);
  expect(start, `${className} in ${file}`).toBeGreaterThanOrEqual(0);
  // A member starts at exactly two spaces of indentation: `  async *name(`, `  private name<T>(`.
  return membersOf(
    text.slice(start),
    /^ {2}(?:(?:private|public|protected|readonly|static) )*(?:async )?(?:\* ?)?(\w+)(?:<[^>]*>)?\(/gm,
    /this\.(\w+)\(/g,
  );
}

/** Function name -> what it sends and calls, of a folder of functions over a context (EC2's: shared/aws/ec2/). */
function functionsOf(dir: string): Members {
  const members: Members = new Map();
  for (const file of readdirSync(join(PROJECT_ROOT, dir)).filter((f) => f.endsWith('.ts'))) {
    // A function starts at the line's start: `export async function name(`; it calls another with its context first.
    membersOf(source(join(dir, file)), /^(?:export )?(?:async )?function\*? ?(\w+)(?:<[^>]*>)?\(/gm, /\b(\w+)\(ec2\b/g, members);
  }
  return members;
}

/** Every SDK operation a port method sends, through the gateway's helpers. */
function operationsOf(port: Port, method: string): string[] {
  const gateway = GATEWAYS[port];
  const methods = 'dir' in gateway ? functionsOf(gateway.dir) : methodsOf(gateway.file, gateway.className);
  expect(methods.has(method), `${'dir' in gateway ? gateway.dir : gateway.className} has no ${method}`).toBe(true);
  const seen = new Set<string>();
  const operations = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const m = methods.get(name);
    if (!m) return;
    for (const o of m.operations) operations.add(o);
    m.calls.forEach(visit);
  };
  visit(method);
  return [...operations];
}

/** The port calls in a use-case file: deps.ec2.x(...), ec2.x(...), alarms.x(...), deps.events.x(...). */
function portCallsOf(useCase: string): Array<{ port: Port; method: string }> {
  const text = source(`shared/use-cases/${useCase}.ts`);
  // `events` is also a local name for lists of events: only deps.events is the port.
  const calls = [
    ...text.matchAll(/\b(ec2|alarms|rechecks|commands|parameters|groups|launchConfigurations)\.(\w+)\(|\bdeps\.(events)\.(\w+)\(/g),
  ].map((m) => ({
    port: (m[1] ?? m[3]) as Port,
    method: (m[2] ?? m[4])!,
  }));
  // publishOrThrow(deps.events, ...) (shared/use-cases/publish.ts) is deps.events.publish.
  if (/\bpublishOrThrow\(\s*deps\.events\b/.test(text)) calls.push({ port: 'events', method: 'publish' });
  return [...new Map(calls.map((c) => [`${c.port}.${c.method}`, c])).values()];
}

/** What each function's code sends, as IAM actions. */
function sentBy(fn: FunctionKey): Map<string, string> {
  const sent = new Map<string, string>();
  for (const useCase of USE_CASE_FILES[fn]) {
    for (const { port, method } of portCallsOf(useCase)) {
      for (const op of operationsOf(port, method)) sent.set(`${GATEWAYS[port].service}:${op}`, `${useCase}: ${port}.${method}`);
    }
  }
  return sent;
}

/** Authorizations AWS makes with the function's role without a command of its own. */
function onBehalf(need: { action: string; context?: Record<string, unknown> }): boolean {
  const context = need.context ?? {};
  return (
    [
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'sqs:SendMessage',
      'sqs:ReceiveMessage',
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'iam:PassRole',
      'cloudwatch:TagResource',
    ].includes(need.action) ||
    'aws:CalledVia' in context ||
    'ec2:CreateAction' in context
  );
}

describe('the needs list of doctor', () => {
  it('covers every function serverless.yml deploys, and each function lists its use case in its handler', () => {
    const wiring = readServerless({ stage: 'dev' });
    expect(wiring.functions.map((f) => f.name).sort()).toEqual([...FUNCTION_KEYS].sort());
    for (const fn of wiring.functions) {
      const key = fn.name as FunctionKey;
      const handler = source(fn.file);
      // The first use-case file is the one the handler calls: the map cannot drift from the handlers.
      expect(handler, `${fn.file} imports ${USE_CASE_FILES[key][0]}`).toContain(`use-cases/${USE_CASE_FILES[key][0]}.js`);
    }
  });

  it('reads real commands from the gateways (the scan itself works)', () => {
    expect(operationsOf('ec2', 'createImage').sort()).toEqual(['CreateImage', 'DescribeImages']);
    expect(operationsOf('ec2', 'saveLaunchConfig').sort()).toEqual([
      'CreateLaunchTemplate',
      'CreateLaunchTemplateVersion',
      'DeleteLaunchTemplateVersions',
      'DescribeLaunchTemplateVersions',
    ]);
    expect(operationsOf('ec2', 'waitUntilRunning')).toEqual(['DescribeInstances']);
    expect(operationsOf('events', 'publish')).toEqual(['PutEvents']);
    expect(operationsOf('alarms', 'listAlarmNames')).toEqual(['DescribeAlarms']);
    expect(sentBy('bake').get('ec2:CreateImage')).toBe('bake-instance: ec2.createImage');
  });

  it.each(FUNCTION_KEYS)('%s: every AWS call its code sends has a need', (fn) => {
    const listed = new Set(NEEDS[fn].map((n) => n.action));
    const missing = [...sentBy(fn)].filter(([action]) => !listed.has(action)).map(([action, where]) => `${action} (${where})`);
    expect(missing).toEqual([]);
  });

  it.each(FUNCTION_KEYS)('%s: every need is sent by its code or made by AWS on its behalf', (fn) => {
    const sent = sentBy(fn);
    const stale = NEEDS[fn].filter((n) => !sent.has(n.action) && !onBehalf(n)).map((n) => `${n.action} on ${n.resource}`);
    expect(stale).toEqual([]);
  });

  // Issue 17: rotation deletes copies in a destination region, only when the stage names one.
  it('rotate: in a destination region, deletes only the copies of its own region, and reads parameters there through EC2', () => {
    const copies = NEEDS.rotate.filter((n) => n.when === 'copies');
    const vars = {
      partition: 'aws',
      region: 'eu-west-1',
      account: '111122223333',
      managedBy: 'ami-lifecycle-prod',
      function: 'ami-lifecycle-prod-rotate',
      eventBus: 'ami-lifecycle-prod',
      passRole: 'x',
      copyRegion: 'ap-southeast-2',
    };
    expect(copies.map((n) => concrete(n, vars)).map((n) => [n.action, n.resource, n.context])).toEqual([
      [
        'ec2:DeregisterImage',
        'arn:aws:ec2:ap-southeast-2::image/*',
        { 'aws:ResourceTag/ami-lifecycle:managed-by': 'ami-lifecycle-prod', 'aws:ResourceTag/ami-lifecycle:source-region': 'eu-west-1' },
      ],
      [
        'ec2:DeleteSnapshot',
        'arn:aws:ec2:ap-southeast-2::snapshot/*',
        { 'aws:ResourceTag/ami-lifecycle:managed-by': 'ami-lifecycle-prod', 'aws:ResourceTag/ami-lifecycle:source-region': 'eu-west-1' },
      ],
      ['ssm:GetParameters', 'arn:aws:ssm:ap-southeast-2:111122223333:parameter/*', { 'aws:CalledVia': ['ec2-images.amazonaws.com'] }],
    ]);
  });

  it.each(FUNCTION_KEYS)(
    '%s: writes its own log, and reads its queue or sends failures to its dead-letter queue as serverless.yml wires it',
    (fn) => {
      const vars = {
        partition: 'aws',
        region: 'eu-west-1',
        account: '111122223333',
        managedBy: 'ami-lifecycle-prod',
        function: `ami-lifecycle-prod-${fn}`,
        eventBus: 'ami-lifecycle-prod',
        passRole: examplePassRole('app-*'),
        recheckRole: 'arn:aws:iam::111122223333:role/ami-lifecycle-prod-RecoverSchedulerRole-X',
        verifySubnet: 'subnet-0123456789abcdef0',
        verifySecurityGroup: 'sg-0123456789abcdef0',
        verifyDocument: 'AWS-RunShellScript',
        promotePrefix: 'ami-lifecycle/',
        copyRegion: 'ap-southeast-2',
      };
      const needs = NEEDS[fn].map((n) => concrete(n, vars));
      const on = (action: string) => needs.filter((n) => n.action === action).map((n) => n.resource);
      expect(on('logs:PutLogEvents')).toEqual([
        `arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/ami-lifecycle-prod-${fn}:log-stream:*`,
      ]);
      // An on-failure destination sends with the function's role; a queue's mapping reads with it.
      const wired = rawFunctions[fn]!;
      const dlq = `arn:aws:sqs:eu-west-1:111122223333:ami-lifecycle-prod-${fn}-dlq`;
      expect(on('sqs:SendMessage')).toEqual(wired.destinations?.onFailure ? [dlq] : []);
      const queue = readServerless({ stage: 'dev' }).functions.find((f) => f.name === fn)!.queue;
      const own = `arn:aws:sqs:eu-west-1:111122223333:ami-lifecycle-prod-${fn}${queue?.fifo ? '.fifo' : ''}`;
      for (const action of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'])
        expect(on(action)).toEqual(queue ? [own] : []);
      // Every template is filled: no ${...} left anywhere.
      expect(JSON.stringify(needs)).not.toMatch(/\$\{/);
    },
  );

  it('fills the templates of a need: resource, context values, the pass-role example and the KMS key', () => {
    const vars = {
      partition: 'aws-cn',
      region: 'cn-north-1',
      account: '111122223333',
      managedBy: 'ami-lifecycle-prod',
      function: 'f',
      eventBus: 'bus',
      passRole: examplePassRole('app-*'),
      recheckRole: 'arn:aws-cn:iam::111122223333:role/ami-lifecycle-prod-RecoverSchedulerRole-X',
      kmsKey: 'arn:aws-cn:kms:cn-north-1:111122223333:key/k',
    };
    const createImage = NEEDS.bake.filter((n) => n.action === 'ec2:CreateImage').map((n) => concrete(n, vars));
    expect(createImage.map((n) => n.resource)).toEqual([
      'arn:aws-cn:ec2:cn-north-1:111122223333:instance/*',
      'arn:aws-cn:ec2:cn-north-1::image/*',
      'arn:aws-cn:ec2:cn-north-1::snapshot/*',
    ]);
    expect(createImage[1]!.context['aws:RequestTag/ami-lifecycle:managed-by']).toBe('ami-lifecycle-prod');
    const [scheduler, passRole] = NEEDS.recover.filter((n) => n.action === 'iam:PassRole').map((n) => concrete(n, vars));
    expect(scheduler).toMatchObject({ resource: vars.recheckRole, context: { 'iam:PassedToService': 'scheduler.amazonaws.com' } });
    expect(passRole!.resource).toBe('arn:aws-cn:iam::111122223333:role/app-example');
    expect(passRole!.context['iam:AssociatedResourceArn']).toBe('arn:aws-cn:ec2:cn-north-1:111122223333:instance/*');
    const grant = concrete(KMS_NEEDS[0]!, vars);
    expect(grant).toMatchObject({
      action: 'kms:CreateGrant',
      resource: vars.kmsKey,
      context: { 'kms:ViaService': 'ec2.cn-north-1.amazonaws.com', 'kms:GrantIsForAWSResource': true },
    });
    expect(() => concrete(KMS_NEEDS[0]!, { ...vars, kmsKey: undefined })).toThrow(/kmsKey/);
  });
});
