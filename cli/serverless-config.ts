/**
 * Reads serverless.yml the way the framework does for the parts the CLI and the
 * test harness need: the functions, their EventBridge patterns (of their own
 * events, or of the rules that fill their queue) and schedule inputs, and the
 * provider environment. The CLI plans with exactly the settings
 * a stage's functions get; tests and the sandbox route events with exactly these
 * patterns, so wiring that would not match in AWS does not match there either.
 *
 * Resolves the variable sources serverless.yml uses: ${self:...}, ${sls:stage},
 * ${param:...} and ${opt:..., 'default'}, and follows its ${file(...)} includes (its
 * resources are serverless/resources.cjs). CloudFormation intrinsics (!GetAtt, !Sub,
 * !Ref) stay as objects.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, type Tags } from 'yaml';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const intrinsics: Tags = [
  { tag: '!GetAtt', resolve: (value: string) => ({ 'Fn::GetAtt': value.split('.') }) },
  { tag: '!Sub', resolve: (value: string) => ({ 'Fn::Sub': value }) },
  { tag: '!Ref', resolve: (value: string) => ({ Ref: value }) },
];

export interface EventBridgeWiring {
  /** The rule's name, when serverless.yml sets it (custom.ruleNames). */
  ruleName?: string;
  /** 'default' or the name of the bus the rule listens on. */
  bus: string;
  pattern: Record<string, unknown>;
}

export interface ScheduleWiring {
  name: string;
  expression: string;
  timezone: string;
  /** Scheduler input, with <aws.scheduler.scheduled-time> still in it. */
  input: Record<string, unknown>;
}

export interface FunctionWiring {
  name: string;
  /** Source file of the handler module, e.g. functions/bake/handler.ts */
  file: string;
  exportName: string;
  /** Seconds, from the function or the provider. */
  timeout: number;
  /**
   * For a function fed by an SQS queue (an `sqs` event): the queue and how Lambda polls it. Its
   * `eventBridge` entries are then the rules (in resources) that put events in that queue.
   */
  queue?: QueueWiring;
  eventBridge: EventBridgeWiring[];
  schedules: ScheduleWiring[];
  /** The function's own environment (functions.<name>.environment), as resolved. */
  environment?: Record<string, string>;
}

/**
 * A function's own variables, as resolved: those CloudFormation fills in at deploy (an ARN of
 * the stack, `!Sub` with pseudo parameters) are left out, as the CLI has no stack to read them from.
 */
function ownEnvironment(env: Record<string, Json>, resolveValue: (value: Json) => Json): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    try {
      const resolved = resolveValue(value);
      if (typeof resolved === 'string' || typeof resolved === 'number' || typeof resolved === 'boolean') out[key] = String(resolved);
    } catch {
      // A deploy-time value: not the CLI's.
    }
  }
  return out;
}

export interface QueueWiring {
  /** The queue's logical id in resources. */
  logicalId: string;
  /** Records per invocation. */
  batchSize: number;
  /** At most this many invocations at once (the event source mapping's maximum concurrency), when set. */
  maximumConcurrency?: number;
  /** Receives of a record before the queue moves it to its dead-letter queue (redrive policy). */
  maxReceiveCount: number;
  /** A FIFO queue (the copy function's, issue 17): one message group, so Lambda hands over one batch at a time. */
  fifo?: boolean;
}

export interface ServiceWiring {
  service: string;
  stage: string;
  /** provider.region as resolved (without --region: its default). */
  region: string;
  environment: Record<string, string>;
  eventBusName: string;
  functions: FunctionWiring[];
  /** The stage's params (params.default overridden by params.<stage>), as strings. */
  params: Record<string, string>;
}

type Json = unknown;

const requireModule = createRequire(import.meta.url);

/** A value that is one `${file(path)}` or `${file(path):address}` variable, as osls reads it. */
const FILE_VARIABLE = /^\$\{file\(\s*['"]?([^'")]+?)['"]?\s*\)(?::([\w.-]+))?\}$/;

/**
 * serverless.yml parsed, every value that is a `${file(...)}` variable replaced by what that file
 * holds, as osls includes it: YAML (CloudFormation's tags understood) or JSON parsed, a .js or
 * .cjs module's export (or what its exported function returns). Paths are relative to the
 * service's folder, as for osls. `files` is every file read: serverless.yml, the files it
 * includes, and the project's own modules those require.
 */
export function loadServerlessYml(file = resolve(PROJECT_ROOT, 'serverless.yml')): { raw: Record<string, Json>; files: string[] } {
  const serviceDir = dirname(file);
  const files = new Set<string>([file]);
  const moduleFiles = (path: string): void => {
    const mod = requireModule.cache[path];
    if (!mod || files.has(path) || relative(serviceDir, path).split(/[\\/]/).includes('node_modules')) return;
    files.add(path);
    for (const child of mod.children) moduleFiles(child.filename);
  };
  const read = (path: string): Json => {
    switch (extname(path)) {
      case '.yml':
      case '.yaml':
        files.add(path);
        return include(parse(readFileSync(path, 'utf8'), { customTags: intrinsics }));
      case '.json':
        files.add(path);
        return include(JSON.parse(readFileSync(path, 'utf8')));
      case '.js':
      case '.cjs': {
        const exported = requireModule(path) as Json;
        moduleFiles(requireModule.resolve(path));
        const value = typeof exported === 'function' ? (exported as (arg: unknown) => Json)({ options: {} }) : exported;
        if (value instanceof Promise)
          throw new Error(`serverless.yml: ${relative(serviceDir, path)} resolves asynchronously, which this reader does not follow`);
        // A copy: the module's export is shared by every caller in this process.
        return include(structuredClone(value));
      }
    }
    throw new Error(`serverless.yml: cannot include ${relative(serviceDir, path)} (not YAML, JSON or a CommonJS module)`);
  };
  function include(value: Json): Json {
    if (typeof value === 'string') {
      const match = FILE_VARIABLE.exec(value);
      if (!match) return value;
      const path = isAbsolute(match[1]!) ? match[1]! : resolve(serviceDir, match[1]!);
      return match[2] ? get(read(path), match[2]) : read(path);
    }
    if (Array.isArray(value)) return value.map(include);
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, include(v)]));
    return value;
  }
  const raw = include(parse(readFileSync(file, 'utf8'), { customTags: intrinsics })) as Record<string, Json>;
  return { raw, files: [...files] };
}

function get(obj: Json, path: string): Json {
  return path.split('.').reduce<Json>((o, key) => (o && typeof o === 'object' ? (o as Record<string, Json>)[key] : undefined), obj);
}

/**
 * `params` overrides stage parameters as `serverless package --param key=value` does, so a
 * caller can read the wiring of a stage the way it would be packaged with them.
 */
export function readServerless(options: { stage?: string; file?: string; params?: Record<string, string> } = {}): ServiceWiring {
  const { raw } = loadServerlessYml(options.file);
  const stage = options.stage ?? 'dev';
  const params = (raw.params ?? {}) as Record<string, Record<string, Json>>;

  const lookup = (expr: string): Json => {
    const [source, ...rest] = expr.split(':');
    const arg = rest.join(':');
    switch (source?.trim()) {
      case 'self':
        return resolveValue(get(raw, arg.trim()));
      case 'sls':
        if (arg.trim() === 'stage') return stage;
        break;
      case 'param': {
        const name = arg.trim();
        if (options.params?.[name] !== undefined) return options.params[name];
        return resolveValue(params[stage]?.[name] ?? params.default?.[name]);
      }
      case 'opt': {
        const [name, fallback] = arg.split(',').map((s) => s.trim());
        if (name === 'stage') return stage;
        if (fallback) return fallback.replace(/^'(.*)'$/, '$1');
        break;
      }
    }
    throw new Error(`serverless.yml: cannot resolve \${${expr}}`);
  };

  const resolveString = (s: string): Json => {
    const whole = /^\$\{([^{}]+)\}$/.exec(s);
    if (whole) return lookup(whole[1]!);
    return s.replace(/\$\{([^{}]+)\}/g, (_, expr: string) => String(lookup(expr)));
  };

  function resolveValue(value: Json): Json {
    if (typeof value === 'string') return resolveString(value);
    if (Array.isArray(value)) return value.map(resolveValue);
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveValue(v)]));
    }
    return value;
  }

  const service = String(raw.service);
  const environment = resolveValue(get(raw, 'provider.environment') ?? {}) as Record<string, Json>;
  const busResource = get(raw, 'resources.Resources.EventBus.Properties.Name');
  const resources = (get(raw, 'resources.Resources') ?? {}) as Record<string, Record<string, Json>>;
  const getAttOf = (value: Json): string | undefined => {
    const ref = (value as { 'Fn::GetAtt'?: string[] } | undefined)?.['Fn::GetAtt'];
    return ref?.[1] === 'Arn' ? ref[0] : undefined;
  };
  /** The rules of resources whose targets include the queue, as the harness routes them. */
  const rulesInto = (queueId: string): EventBridgeWiring[] =>
    Object.values(resources)
      .filter((r) => r.Type === 'AWS::Events::Rule')
      .filter((r) => ((get(r, 'Properties.Targets') ?? []) as Json[]).some((t) => getAttOf(get(t, 'Arn')) === queueId))
      .map((r) => {
        const bus = get(r, 'Properties.EventBusName');
        const ruleName = resolveValue(get(r, 'Properties.Name'));
        return {
          ...(typeof ruleName === 'string' ? { ruleName } : {}),
          bus: bus === undefined ? 'default' : typeof bus === 'string' ? String(resolveValue(bus)) : String(resolveValue(busResource)),
          // A rule on a schedule (ScheduleExpression: the copy sweep, issue 17) sends "Scheduled Event"s from
          // aws.events ("Creating a rule that runs on a schedule in Amazon EventBridge",
          // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-rule-schedule.html): the harness
          // routes those, which a test puts on the default bus when the schedule would fire.
          pattern: (resolveValue(get(r, 'Properties.EventPattern')) ??
            (get(r, 'Properties.ScheduleExpression') !== undefined
              ? { source: ['aws.events'], 'detail-type': ['Scheduled Event'] }
              : undefined)) as Record<string, unknown>,
        };
      });
  const functions = Object.entries((raw.functions ?? {}) as Record<string, Record<string, Json>>).map(([name, fn]) => {
    const handler = String(fn.handler);
    const dot = handler.lastIndexOf('.');
    const events = (fn.events ?? []) as Array<Record<string, Json>>;
    const eventBridge: EventBridgeWiring[] = [];
    const schedules: ScheduleWiring[] = [];
    let queue: QueueWiring | undefined;
    for (const event of events) {
      if (event.sqs) {
        const q = resolveValue(event.sqs) as Record<string, Json>;
        const logicalId = getAttOf(q.arn);
        if (!logicalId) throw new Error(`serverless.yml: ${name}'s sqs event names no queue of resources`);
        const redrive = resolveValue(get(resources[logicalId], 'Properties.RedrivePolicy')) as { maxReceiveCount?: Json } | undefined;
        queue = {
          logicalId,
          batchSize: Number(q.batchSize ?? 10),
          ...(q.maximumConcurrency === undefined ? {} : { maximumConcurrency: Number(q.maximumConcurrency) }),
          maxReceiveCount: Number(redrive?.maxReceiveCount ?? 1),
          ...(resolveValue(get(resources[logicalId], 'Properties.FifoQueue')) === true ? { fifo: true } : {}),
        };
        eventBridge.push(...rulesInto(logicalId));
      }
      if (event.eventBridge) {
        const eb = resolveValue(event.eventBridge) as Record<string, Json>;
        const bus = eb.eventBus === undefined ? 'default' : (eb.eventBus as Json);
        eventBridge.push({
          ...(typeof eb.name === 'string' ? { ruleName: eb.name } : {}),
          // !GetAtt EventBus.Name is the stack's own bus.
          bus: typeof bus === 'string' ? bus : String(resolveValue(busResource)),
          pattern: eb.pattern as Record<string, unknown>,
        });
      }
      if (event.schedule) {
        const s = resolveValue(event.schedule) as Record<string, Json>;
        const rates = (Array.isArray(s.rate) ? s.rate : [s.rate]) as string[];
        schedules.push({
          name: String(s.name ?? `${name}-${schedules.length + 1}`),
          expression: rates[0] ?? '',
          timezone: String(s.timezone ?? 'UTC'),
          input: (s.input ?? {}) as Record<string, unknown>,
        });
      }
    }
    const timeout = Number(resolveValue(fn.timeout ?? get(raw, 'provider.timeout') ?? 6));
    return {
      name,
      file: `${handler.slice(0, dot)}.ts`,
      exportName: handler.slice(dot + 1),
      timeout,
      ...(queue ? { queue } : {}),
      eventBridge,
      schedules,
      ...(fn.environment ? { environment: ownEnvironment(fn.environment as Record<string, Json>, resolveValue) } : {}),
    };
  });

  return {
    service,
    stage,
    region: String(resolveValue(get(raw, 'provider.region')) ?? 'us-east-1'),
    environment: Object.fromEntries(Object.entries(environment).map(([k, v]) => [k, String(v)])),
    eventBusName: String(resolveValue(busResource)),
    functions,
    params: Object.fromEntries(
      [...new Set([...Object.keys(params.default ?? {}), ...Object.keys(params[stage] ?? {})])].map((name) => [
        name,
        String(lookup(`param:${name}`)),
      ]),
    ),
  };
}
