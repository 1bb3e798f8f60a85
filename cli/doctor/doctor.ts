/**
 * `ami-lifecycle doctor`: what no template can check, read from the deployed stack and the
 * account it runs in (through shared/aws/deployment-gateway.ts). Each check answers one line
 * (ok, warn, fail or skip), with what to do about a failure. Read only: every call is a
 * Describe, Get, List or a simulation.
 *
 * Errors that mean "no usable credentials" or "the endpoint did not answer" are thrown, so
 * that the CLI answers them with their own exit codes; any other refusal fails the check it
 * belongs to and the others still run.
 */
import { regionsOf } from '../../shared/domain/copy-rotation.js';
import { REGION_PATTERN } from '../../shared/domain/tags.js';
import { publicAccessView } from '../public-access.js';
import pLimit from 'p-limit';
import type { DeploymentGateway, StackResource } from '../../shared/aws/deployment-gateway.js';
import { toAwsCallError } from '../../shared/aws/errors.js';
import { EXIT, explain } from '../errors.js';
import type { ServiceWiring } from '../serverless-config.js';
import {
  concrete,
  examplePassRole,
  FUNCTION_KEYS,
  KMS_FUNCTIONS,
  KMS_NEEDS,
  NEEDS,
  type ConcreteNeed,
  type FunctionKey,
  type Need,
  type Vars,
} from './needs.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  /** What was checked, e.g. `stack`, `iam bake`, `dead-letter queues`. */
  check: string;
  status: CheckStatus;
  /** One sentence: what was found. */
  summary: string;
  /** What to do about it (a warning or a failure). */
  fix?: string;
  /** One line per problem (a denied authorization, a message-holding queue, ...). */
  details: string[];
}

export interface DoctorReport {
  stackName: string;
  region: string;
  account?: string;
  checks: CheckResult[];
}

/** What the stage's serverless.yml says the deployment should be. */
export interface DoctorSettings {
  stage: string;
  stackName: string;
  region: string;
  managedBy: string;
  eventBusName: string;
  /** The functions; `queue` for one fed by a queue (its event source mapping's maximum concurrency). */
  functions: Array<{ key: FunctionKey; queue?: { maximumConcurrency?: number } }>;
  rules: Array<{ name: string; bus: string; function: FunctionKey }>;
  schedules: Array<{ name: string; function: FunctionKey }>;
  /** params.statusCheckAlarms: false leaves the statusAlarms schedule disabled on purpose. */
  statusCheckAlarms: boolean;
  /** params.recoveryPassRoles: the roles recovery may pass to a replacement. */
  passRoles: string;
}

const isFunctionKey = (name: string): name is FunctionKey => (FUNCTION_KEYS as readonly string[]).includes(name);

/** The deployment serverless.yml describes for the stage, as doctor compares it. */
export function doctorSettings(wiring: ServiceWiring, region: string): DoctorSettings {
  const functions = wiring.functions.map((fn) => {
    // Every function needs its list in needs.ts: doctor cannot check a role it knows nothing of.
    if (!isFunctionKey(fn.name)) throw new Error(`serverless.yml has a function ${fn.name} that cli/doctor/needs.ts does not know`);
    return { key: fn.name, fn };
  });
  return {
    stage: wiring.stage,
    stackName: `${wiring.service}-${wiring.stage}`,
    region,
    managedBy: wiring.environment.MANAGED_BY ?? `${wiring.service}-${wiring.stage}`,
    eventBusName: wiring.eventBusName,
    functions: functions.map(({ key, fn }) => ({
      key,
      ...(fn.queue ? { queue: fn.queue.maximumConcurrency === undefined ? {} : { maximumConcurrency: fn.queue.maximumConcurrency } } : {}),
    })),
    rules: functions.flatMap(({ key, fn }) =>
      fn.eventBridge.flatMap((eb) => (eb.ruleName ? [{ name: eb.ruleName, bus: eb.bus, function: key }] : [])),
    ),
    schedules: functions.flatMap(({ key, fn }) => fn.schedules.map((s) => ({ name: s.name, function: key }))),
    statusCheckAlarms: wiring.params.statusCheckAlarms === 'true',
    passRoles: wiring.params.recoveryPassRoles ?? '*',
  };
}

/** Stack states in which the stack is deployed and stable. */
const COMPLETE = new Set(['CREATE_COMPLETE', 'UPDATE_COMPLETE', 'IMPORT_COMPLETE']);
/** Stable, but the last change failed and was undone: the previous version runs. */
const ROLLED_BACK = new Set(['UPDATE_ROLLBACK_COMPLETE', 'IMPORT_ROLLBACK_COMPLETE']);

/**
 * Lambda keeps this much of the account's concurrency unreserved, or the whole limit when it
 * is smaller: "You can reserve up to the Unreserved account concurrency value minus 100"
 * ("Configuring reserved concurrency for a function",
 * https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html); new accounts
 * have "reduced concurrency and memory quotas" ("Lambda quotas",
 * https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html), as low as 10, and
 * Lambda then refuses any reservation ("decreases account's UnreservedConcurrentExecution
 * below its minimum value of [10]" with a total of 10:
 * https://github.com/awslabs/fhir-works-on-aws-deployment/issues/691).
 */
export const MIN_UNRESERVED = 100;

/** Simulations in flight at once: IAM's API is throttled per account. */
const SIMULATIONS_AT_ONCE = 4;

const DOCS_DLQ = 'docs/operations.md, "When a dead-letter queue alarm fires"';

/** The osls logical id of a function, e.g. imageState -> ImageStateLambdaFunction. */
const logicalIdOf = (fn: FunctionKey) => `${fn[0]!.toUpperCase()}${fn.slice(1)}LambdaFunction`;

/** Throws what the CLI must answer with its own exit code; anything else becomes a failed check. */
function rethrowFatal(error: unknown, region: string): void {
  // As the gateways translate them: a network error's code (ECONNREFUSED) rather than its name (Error).
  const mapped = toAwsCallError('doctor', error);
  const { code } = explain(mapped, { region });
  if (code === EXIT.credentials || code === EXIT.unreachable) throw mapped;
}

const errorText = (error: unknown) => {
  const e = error as { name?: string; message?: string };
  const message = (e.message ?? String(error)).split('\n')[0];
  return e.name && e.name !== 'Error' ? `${e.name}: ${message}` : message;
};

const isRefusal = (error: unknown) => /AccessDenied|Unauthorized|NotAuthorized/i.test((error as { name?: string }).name ?? '');

async function guarded(check: string, region: string, run: () => Promise<CheckResult>): Promise<CheckResult> {
  try {
    return await run();
  } catch (error) {
    rethrowFatal(error, region);
    return {
      check,
      status: 'fail',
      summary: `could not check: ${errorText(error)}`,
      ...(isRefusal(error) ? { fix: 'your credentials need the read permissions doctor uses (docs/cli.md, "doctor")' } : {}),
      details: [],
    };
  }
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

// ---- the stack ---------------------------------------------------------------------------------

interface Stack {
  status: string;
  partition: string;
  account: string;
  resources: StackResource[];
}

async function readStack(aws: DeploymentGateway, settings: DoctorSettings): Promise<{ result: CheckResult; stack?: Stack }> {
  const check = 'stack';
  const redeploy = `npx serverless deploy --stage ${settings.stage} --region ${settings.region}`;
  let described: Awaited<ReturnType<DeploymentGateway['describeStack']>>;
  try {
    described = await aws.describeStack(settings.stackName);
  } catch (error) {
    rethrowFatal(error, settings.region);
    if (/does not exist/i.test((error as Error).message ?? '')) {
      return {
        result: {
          check,
          status: 'fail',
          summary: `no stack ${settings.stackName} in ${settings.region}`,
          fix: `deploy it (${redeploy}), or name the deployed one with --stage and --region`,
          details: [],
        },
      };
    }
    return { result: { check, status: 'fail', summary: `could not read the stack: ${errorText(error)}`, details: [] } };
  }
  const status = described?.status ?? 'UNKNOWN';
  // arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<id>
  const [, partition = 'aws', , , account = ''] = (described?.stackId ?? '').split(':');
  let resources: StackResource[];
  try {
    resources = await aws.listStackResources(settings.stackName);
  } catch (error) {
    rethrowFatal(error, settings.region);
    const summary = `${settings.stackName} is ${status}, but its resources could not be listed: ${errorText(error)}`;
    return { result: { check, status: 'fail', summary, details: [] } };
  }
  const stack = { status, partition, account, resources };
  const readEvents = `read the stack's events for the cause (aws cloudformation describe-stack-events --stack-name ${settings.stackName})`;
  const counted = `${plural(resources.length, 'resource')}`;
  if (COMPLETE.has(status)) {
    return { stack, result: { check, status: 'ok', summary: `${settings.stackName} is ${status} (${counted})`, details: [] } };
  }
  if (ROLLED_BACK.has(status)) {
    return {
      stack,
      result: {
        check,
        status: 'warn',
        summary: `${settings.stackName} is ${status}: its last update failed and was rolled back, the previous version runs`,
        fix: `${readEvents}, fix it and deploy again`,
        details: [],
      },
    };
  }
  const inProgress = status.endsWith('_IN_PROGRESS');
  return {
    stack,
    result: {
      check,
      status: 'fail',
      summary: `${settings.stackName} is ${status}`,
      fix: inProgress
        ? 'wait until CloudFormation finishes, then run doctor again'
        : `${readEvents}, fix it and deploy again (${redeploy})`,
      details: [],
    },
  };
}

// ---- the functions and their roles -------------------------------------------------------------

interface DeployedFunction {
  key: FunctionKey;
  name: string;
  roleArn?: string;
  environment: Record<string, string>;
  missing?: string;
}

async function readFunctions(aws: DeploymentGateway, settings: DoctorSettings, stack: Stack): Promise<DeployedFunction[]> {
  return Promise.all(
    settings.functions.map(async ({ key }) => {
      const listed = stack.resources.find((r) => r.logicalId === logicalIdOf(key))?.physicalId;
      const name = listed || `${settings.managedBy}-${key}`;
      try {
        const config = await aws.functionConfiguration(name);
        return { key, name, roleArn: config.role, environment: config.environment };
      } catch (error) {
        rethrowFatal(error, settings.region);
        return { key, name, environment: {}, missing: errorText(error) };
      }
    }),
  );
}

interface Denial {
  need: ConcreteNeed;
  decision: string;
  statements: string[];
  missingContext: string[];
}

/** Simulates each need against the role; answers those IAM would refuse. */
export async function simulateNeeds(aws: DeploymentGateway, roleArn: string, needs: ConcreteNeed[]): Promise<Denial[]> {
  const limit = pLimit(SIMULATIONS_AT_ONCE);
  const outcomes = await Promise.all(
    needs.map((need) =>
      limit(async () => {
        const { decision, statements, missingContext } = await aws.simulate(roleArn, need.action, need.resource, need.context);
        const named = statements.map((st) => `${st.policyId ?? 'a policy'}${st.policyType ? ` (${st.policyType})` : ''}`);
        return { need, decision, statements: named, missingContext };
      }),
    ),
  );
  return outcomes.filter((o) => o.decision !== 'allowed');
}

function describeDenial(d: Denial): string {
  const context = Object.entries(d.need.context)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(',')}]` : String(v)}`)
    .join(' ');
  const by =
    d.decision === 'explicitDeny'
      ? `denied by ${d.statements.join(', ') || 'a Deny statement'}`
      : `${d.decision}: no statement allows it${d.statements.length > 0 ? ` (${d.statements.join(', ')})` : ''}`;
  const missing = d.missingContext.length > 0 ? `; policy keys not in the request: ${d.missingContext.join(', ')}` : '';
  return `${d.need.action} on ${d.need.resource}${context ? ` with ${context}` : ''}: ${by}${missing}. Needed: ${d.need.why}`;
}

function varsFor(fn: DeployedFunction, settings: DoctorSettings, stack: Stack): Vars {
  return {
    partition: stack.partition,
    region: settings.region,
    account: stack.account,
    managedBy: fn.environment.MANAGED_BY ?? settings.managedBy,
    function: fn.name,
    eventBus: fn.environment.EVENT_BUS_NAME ?? settings.eventBusName,
    passRole: examplePassRole(settings.passRoles),
    // A recover function deployed before rechecks existed has none: the simulation of passing it fails, naming redeploy.
    recheckRole:
      fn.environment.RECHECK_ROLE_ARN ??
      fn.environment.VERIFY_CHECK_ROLE_ARN ??
      `arn:${stack.partition}:iam::${stack.account}:role/RECHECK_ROLE_ARN-not-set-redeploy`,
    verifySubnet: fn.environment.VERIFY_SUBNET_ID ?? '',
    verifySecurityGroup: fn.environment.VERIFY_SECURITY_GROUP_ID ?? '',
    verifyDocument: fn.environment.VERIFY_COMMAND_DOCUMENT ?? '',
    promotePrefix: (fn.environment.PROMOTE_PARAMETER_PREFIX ?? '/ami-lifecycle/').replace(/^\//, ''),
    ...(copyRegionOf(fn.environment) ? { copyRegion: copyRegionOf(fn.environment)! } : {}),
  };
}

/** The first destination region of the copies the function's environment names (COPY_TO, then DR_REGIONS' keys). */
function copyRegionOf(env: Record<string, string | undefined>): string | undefined {
  const listed = regionsOf(env.COPY_TO)[0];
  if (listed) return listed;
  try {
    return Object.keys(JSON.parse(env.DR_REGIONS || '{}') as Record<string, unknown>).find((r) => REGION_PATTERN.test(r));
  } catch {
    return undefined;
  }
}

/** Whether the function's ADOPT_FILTERS lists any filter (the rotate role then has the policy AdoptsImages adds). */
function adopts(env: Record<string, string | undefined>): boolean {
  const value = (env.ADOPT_FILTERS ?? '').trim();
  return value !== '' && value !== '[]';
}

/** The needs that apply to the function as deployed (its configuration, read from its environment). */
function needsOf(fn: DeployedFunction): Need[] {
  const env = fn.environment;
  return NEEDS[fn.key].filter(
    (n) =>
      n.when === undefined ||
      (n.when === 'terminateReplaced' && env.RECOVERY_TERMINATE_REPLACED === 'true') ||
      (n.when === 'verifies' && !!env.VERIFY_SUBNET_ID) ||
      (n.when === 'verifyCommand' && !!env.VERIFY_COMMAND_DOCUMENT) ||
      (n.when === 'copies' && copyRegionOf(env) !== undefined) ||
      (n.when === 'adopts' && adopts(env)),
  );
}

async function iamCheck(aws: DeploymentGateway, settings: DoctorSettings, stack: Stack, fn: DeployedFunction): Promise<CheckResult> {
  const check = `iam ${fn.key}`;
  if (fn.missing || !fn.roleArn) {
    return {
      check,
      status: 'fail',
      summary: `function ${fn.name} is not deployed (${fn.missing ?? 'no role'})`,
      fix: `deploy the stack (npx serverless deploy --stage ${settings.stage} --region ${settings.region})`,
      details: [],
    };
  }
  const roleArn = fn.roleArn;
  const needs = needsOf(fn).map((n) => concrete(n, varsFor(fn, settings, stack)));
  const denials = await simulateNeeds(aws, roleArn, needs);
  const role = roleArn.slice(roleArn.lastIndexOf('/') + 1);
  if (denials.length === 0) {
    return { check, status: 'ok', summary: `role ${role} allows all ${needs.length} authorizations ${fn.name} needs`, details: [] };
  }
  return {
    check,
    status: 'fail',
    summary: `role ${role} refuses ${denials.length} of the ${needs.length} authorizations ${fn.name} needs`,
    fix:
      `grant these to the role (serverless/roles.cjs) and deploy (npx serverless deploy --stage ${settings.stage}); ` +
      'if serverless.yml grants them, the deployed role differs: a statement removed by hand, a permissions boundary or a Deny',
    details: denials.map(describeDenial),
  };
}

// ---- queues and Lambda concurrency -------------------------------------------------------------

/** A queue-fed function's event source mapping, as deployed. */
interface Mapping {
  key: FunctionKey;
  uuid: string;
  state: string;
  queueArn: string;
  maximumConcurrency?: number;
}

/** The event source mapping of each queue-fed function (undefined: the function has none). */
async function readMappings(
  aws: DeploymentGateway,
  settings: DoctorSettings,
  functions: DeployedFunction[],
): Promise<Map<FunctionKey, Mapping | undefined>> {
  const mappings = new Map<FunctionKey, Mapping | undefined>();
  for (const { key } of settings.functions.filter((f) => f.queue)) {
    const fn = functions.find((f) => f.key === key);
    if (!fn || fn.missing) continue;
    const found: Mapping[] = [];
    for (const m of await aws.eventSourceMappings(fn.name)) {
      if (!m.eventSourceArn?.startsWith('arn:') || m.eventSourceArn.split(':')[2] !== 'sqs') continue;
      found.push({
        key,
        uuid: m.uuid ?? '',
        state: m.state ?? 'unknown',
        queueArn: m.eventSourceArn,
        ...(m.maximumConcurrency === undefined ? {} : { maximumConcurrency: m.maximumConcurrency }),
      });
    }
    mappings.set(key, found[0]);
  }
  return mappings;
}

/** Mapping states in which the queue is read (or is about to be). */
const READING = new Set(['Enabled', 'Enabling', 'Updating', 'Creating']);

async function queueCheck(
  aws: DeploymentGateway,
  settings: DoctorSettings,
  mappings: Map<FunctionKey, Mapping | undefined>,
): Promise<CheckResult> {
  const check = 'queue mappings';
  const details: string[] = [];
  const found: string[] = [];
  for (const [key, m] of mappings) {
    if (!m) {
      details.push(`${key} has no event source mapping from its queue: nothing reads it`);
      continue;
    }
    const queueName = m.queueArn.split(':').at(-1)!;
    if (!READING.has(m.state)) {
      details.push(`${key}'s mapping from ${queueName} is ${m.state}: aws lambda update-event-source-mapping --uuid ${m.uuid} --enabled`);
      continue;
    }
    const { visible: waiting, inFlight } = await aws.queueDepth(await aws.queueUrl(queueName));
    const atOnce = m.maximumConcurrency === undefined ? 'no maximum concurrency' : `at most ${m.maximumConcurrency} at once`;
    found.push(`${key} reads ${queueName} (${m.state}, ${atOnce}; ${waiting} waiting, ${inFlight} in flight)`);
  }
  if (details.length > 0) {
    return {
      check,
      status: 'fail',
      summary: `${details.length} of ${mappings.size} queue-fed functions are not reading their queue: its requests wait until they expire`,
      fix: `enable the mapping as shown, or deploy again (npx serverless deploy --stage ${settings.stage})`,
      details,
    };
  }
  return { check, status: 'ok', summary: found.join('; ') || 'no queue-fed function', details };
}

async function concurrencyCheck(
  aws: DeploymentGateway,
  functions: DeployedFunction[] | undefined,
  mappings: Map<FunctionKey, Mapping | undefined>,
): Promise<CheckResult> {
  const check = 'lambda concurrency';
  const account = await aws.accountConcurrency();
  const limit = account.concurrentExecutions ?? 0;
  const unreserved = account.unreservedConcurrentExecutions ?? limit;
  const minimum = Math.min(MIN_UNRESERVED, limit);
  const reserved = new Map<FunctionKey, number | undefined>();
  for (const fn of functions ?? []) {
    if (fn.missing) continue;
    reserved.set(fn.key, await aws.reservedConcurrency(fn.name));
  }
  const reservations = [...reserved].filter(([, r]) => r !== undefined).map(([k, r]) => `${k} ${r}`);
  const figures =
    `account limit ${limit}, unreserved ${unreserved} (Lambda keeps at least ${minimum} unreserved); ` +
    `reserved by this stack: ${reservations.length > 0 ? reservations.join(', ') : 'none'}`;
  const details: string[] = [];
  for (const [key, r] of reserved) if (r === 0) details.push(`${key} reserves 0: Lambda throttles every invocation of it`);
  if (unreserved < minimum) {
    details.push(
      `only ${unreserved} executions are unreserved, under Lambda's minimum of ${minimum}: Lambda refuses any further reservation`,
    );
  }
  // A queue's mapping invokes up to its maximum concurrency; what the function cannot run then is
  // throttled, goes back to the queue and, after the queue's maxReceiveCount receives, to its
  // dead-letter queue ("Configuring scaling behavior for SQS event source mappings": keep the
  // function's concurrency at least the mappings' maximum, "Otherwise, Lambda may throttle your
  // messages", https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html).
  for (const m of mappings.values()) {
    if (!m?.maximumConcurrency) continue;
    const own = reserved.get(m.key);
    const room = own ?? unreserved;
    if (room < m.maximumConcurrency) {
      const what = own === undefined ? `only ${unreserved} executions are unreserved` : `${m.key} reserves ${own}`;
      details.push(
        `${what}, fewer than the ${m.maximumConcurrency} its queue's mapping may run at once: ` +
          'Lambda throttles the rest, and a throttled request returns to the queue and ends in its dead-letter queue',
      );
    }
  }
  if (details.length > 0) {
    return {
      check,
      status: 'fail',
      summary: figures,
      fix:
        "request a higher 'Concurrent executions' quota (Service Quotas, AWS Lambda), release reservations, " +
        "or lower bakeConcurrency (the queue mapping's maximum)",
      details,
    };
  }
  if (limit < MIN_UNRESERVED) {
    return {
      check,
      status: 'warn',
      summary: `${figures}: a new account's reduced quota, shared by every function of the account`,
      fix: "AWS raises it with use; request 'Concurrent executions' of 1,000 in Service Quotas (AWS Lambda) before a large fleet's first night",
      details,
    };
  }
  return { check, status: 'ok', summary: figures, details };
}

// ---- EC2 account settings ----------------------------------------------------------------------

async function publicAccessCheck(aws: DeploymentGateway, settings: DoctorSettings): Promise<CheckResult> {
  const check = 'ami block public access';
  const view = publicAccessView(settings.region, await aws.imageBlockPublicAccess());
  if (view.blocked) return { check, status: 'ok', summary: view.summary, details: [] };
  return { check, status: 'warn', summary: view.summary, ...(view.fix ? { fix: view.fix } : {}), details: [] };
}

/** Aliases under aws/ name AWS managed keys ("alias/aws/ebs"); KMS reserves the prefix for them. */
const isAwsManagedAlias = (keyId: string) => /(^|:)alias\/aws\//.test(keyId);

async function encryptionCheck(
  aws: DeploymentGateway,
  settings: DoctorSettings,
  stack: Stack | undefined,
  functions: DeployedFunction[] | undefined,
): Promise<CheckResult> {
  const check = 'ebs encryption';
  const on = await aws.ebsEncryptionByDefault();
  const key = (await aws.ebsDefaultKmsKeyId()) ?? 'alias/aws/ebs';
  const state = `encryption by default is ${on ? 'on' : 'off'}, default key ${key}`;
  if (!on || isAwsManagedAlias(key)) {
    const why = on
      ? 'the AWS managed key needs no KMS permission of the service'
      : 'volumes are encrypted only where a snapshot or launch asks';
    return { check, status: 'ok', summary: `${state}: ${why}`, details: [] };
  }
  const addIt = `list the key's ARN in the stage parameter kmsKeyArns and deploy (npx serverless deploy --stage ${settings.stage})`;
  if (!/^arn:[^:]+:kms:[^:]*:\d*:key\//.test(key)) {
    return {
      check,
      status: 'warn',
      summary: `${state}: a customer-managed key named by alias; bake and recover need KMS permissions for the key it names`,
      fix: `find its ARN (aws kms describe-key --key-id ${key} --query KeyMetadata.Arn), then ${addIt}`,
      details: [],
    };
  }
  if (!stack || !functions) {
    return { check, status: 'skip', summary: `${state}: the roles cannot be read without the stack`, details: [] };
  }
  const details: string[] = [];
  for (const fn of functions.filter((f) => KMS_FUNCTIONS.includes(f.key))) {
    if (!fn.roleArn) continue;
    const needs = KMS_NEEDS.map((n) => concrete(n, { ...varsFor(fn, settings, stack), kmsKey: key }));
    for (const d of await simulateNeeds(aws, fn.roleArn, needs)) details.push(`${fn.key}: ${describeDenial(d)}`);
  }
  if (details.length > 0) {
    return {
      check,
      status: 'fail',
      summary: `${state}: a customer-managed key, and the bake or recover role may not use it (EC2 uses it on their behalf to image and launch)`,
      fix: addIt,
      details,
    };
  }
  return {
    check,
    status: 'ok',
    summary: `${state}: a customer-managed key the bake, recover and verify roles may use (its key policy must allow them too: doctor cannot read it)`,
    details,
  };
}

// ---- rules, schedules, dead-letter queues ------------------------------------------------------

const isNotFound = (error: unknown) => /NotFound|NonExistent|DoesNotExist/.test((error as { name?: string }).name ?? '');

async function rulesCheck(aws: DeploymentGateway, settings: DoctorSettings): Promise<CheckResult> {
  const check = 'event rules';
  const details: string[] = [];
  for (const rule of settings.rules) {
    const EventBusName = rule.bus === 'default' ? undefined : rule.bus;
    const on = EventBusName ? ` --event-bus-name ${EventBusName}` : '';
    try {
      const state = await aws.ruleState(rule.name, EventBusName);
      if (state !== 'ENABLED') {
        details.push(`${rule.name} (${rule.function}) is ${state}: aws events enable-rule --name ${rule.name}${on}`);
      }
    } catch (error) {
      rethrowFatal(error, settings.region);
      if (!isNotFound(error)) throw error;
      details.push(`${rule.name} (${rule.function}) does not exist on bus ${rule.bus}`);
    }
  }
  if (details.length > 0) {
    return {
      check,
      status: 'fail',
      summary: `${details.length} of ${settings.rules.length} rules would not deliver: their events never reach the function`,
      fix: `enable them as shown, or deploy again (npx serverless deploy --stage ${settings.stage})`,
      details,
    };
  }
  const names = settings.rules.map((r) => r.name).join(', ');
  return { check, status: 'ok', summary: `${settings.rules.length} rules exist and are enabled: ${names}`, details };
}

async function schedulesCheck(aws: DeploymentGateway, settings: DoctorSettings): Promise<CheckResult> {
  const check = 'schedules';
  const details: string[] = [];
  const notes: string[] = [];
  for (const schedule of settings.schedules) {
    try {
      const state = await aws.scheduleState(schedule.name);
      if (state === 'ENABLED') continue;
      if (schedule.function === 'statusAlarms' && !settings.statusCheckAlarms) {
        notes.push(`${schedule.name} disabled (statusCheckAlarms is false)`);
        continue;
      }
      details.push(`${schedule.name} (${schedule.function}) is ${state}: nothing runs it`);
    } catch (error) {
      rethrowFatal(error, settings.region);
      if (!isNotFound(error)) throw error;
      details.push(`${schedule.name} (${schedule.function}) does not exist`);
    }
  }
  if (details.length > 0) {
    return {
      check,
      status: 'fail',
      summary: `${details.length} of ${settings.schedules.length} schedules would not run`,
      fix: `deploy again (npx serverless deploy --stage ${settings.stage}), or enable them in the EventBridge Scheduler console`,
      details,
    };
  }
  const enabled = settings.schedules.length - notes.length;
  return { check, status: 'ok', summary: `${enabled} schedules enabled${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`, details };
}

async function deadLetterCheck(aws: DeploymentGateway, settings: DoctorSettings): Promise<CheckResult> {
  const check = 'dead-letter queues';
  const details: string[] = [];
  for (const { key } of settings.functions) {
    const QueueName = `${settings.managedBy}-${key}-dlq`;
    let QueueUrl: string | undefined;
    try {
      QueueUrl = await aws.queueUrl(QueueName);
    } catch (error) {
      rethrowFatal(error, settings.region);
      if (!isNotFound(error)) throw error;
      details.push(`${QueueName} does not exist: failed ${key} invocations have nowhere to go`);
      continue;
    }
    const { visible, inFlight } = await aws.queueDepth(QueueUrl);
    if (visible + inFlight > 0) {
      const messages = plural(visible + inFlight, 'message');
      details.push(`${QueueName}: ${messages} (${visible} visible, ${inFlight} being read): ${key} work that was never done`);
    }
  }
  if (details.length > 0) {
    return {
      check,
      status: 'fail',
      summary: `${details.length} of ${settings.functions.length} dead-letter queues hold messages or are missing`,
      fix: `inspect each message, fix its cause and send it again: ${DOCS_DLQ}`,
      details,
    };
  }
  return { check, status: 'ok', summary: `all ${settings.functions.length} are empty`, details };
}

// ---- all of it ---------------------------------------------------------------------------------

const skipped = (check: string, why: string): CheckResult => ({ check, status: 'skip', summary: why, details: [] });

export async function runDoctor(
  aws: DeploymentGateway,
  settings: DoctorSettings,
  progress: (line: string) => void = () => undefined,
): Promise<DoctorReport> {
  const { region } = settings;
  progress(`reading stack ${settings.stackName} in ${region}...`);
  const { result: stackResult, stack } = await readStack(aws, settings);
  const checks: CheckResult[] = [stackResult];
  const functions = stack ? await readFunctions(aws, settings, stack) : undefined;

  if (stack && functions) {
    progress(`simulating what each function needs against its role...`);
    for (const fn of functions) checks.push(await guarded(`iam ${fn.key}`, region, () => iamCheck(aws, settings, stack, fn)));
  } else {
    checks.push(skipped('iam', 'no stack: no roles to simulate'));
  }
  let mappings = new Map<FunctionKey, Mapping | undefined>();
  if (settings.functions.some((f) => f.queue)) {
    const read = async () => {
      mappings = await readMappings(aws, settings, functions!);
      return queueCheck(aws, settings, mappings);
    };
    checks.push(stack && functions ? await guarded('queue mappings', region, read) : skipped('queue mappings', 'no stack'));
  }
  progress('reading the account: Lambda concurrency, AMI public access, EBS encryption...');
  checks.push(await guarded('lambda concurrency', region, () => concurrencyCheck(aws, functions, mappings)));
  checks.push(await guarded('ami block public access', region, () => publicAccessCheck(aws, settings)));
  checks.push(await guarded('ebs encryption', region, () => encryptionCheck(aws, settings, stack, functions)));
  if (stack) {
    progress('reading the rules, schedules and dead-letter queues...');
    checks.push(await guarded('event rules', region, () => rulesCheck(aws, settings)));
    checks.push(await guarded('schedules', region, () => schedulesCheck(aws, settings)));
    checks.push(await guarded('dead-letter queues', region, () => deadLetterCheck(aws, settings)));
  } else {
    checks.push(skipped('event rules', 'no stack'), skipped('schedules', 'no stack'), skipped('dead-letter queues', 'no stack'));
  }
  return { stackName: settings.stackName, region, ...(stack ? { account: stack.account } : {}), checks };
}

/** 0 unless a check failed. */
export function doctorExitCode(report: DoctorReport): number {
  return report.checks.some((c) => c.status === 'fail') ? EXIT.failed : EXIT.ok;
}

/** One line per check (status word, what, what was found, what to do), its details indented under it. */
export function doctorText(report: DoctorReport): string {
  const lines: string[] = [];
  const width = Math.max(...report.checks.map((c) => c.check.length));
  for (const c of report.checks) {
    const fix = c.fix && (c.status === 'fail' || c.status === 'warn') ? `; fix: ${c.fix}` : '';
    lines.push(`${c.status.toUpperCase().padEnd(4)}  ${c.check.padEnd(width)}  ${c.summary}${fix}`);
    for (const d of c.details) lines.push(`${' '.repeat(width + 8)}- ${d}`);
  }
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  const warned = report.checks.filter((c) => c.status === 'warn').length;
  const verdict = failed === 0 ? 'no check failed' : `${plural(failed, 'check')} failed`;
  lines.push('', `${report.stackName} in ${report.region}: ${verdict}${warned > 0 ? `, ${plural(warned, 'warning')}` : ''}`);
  return lines.join('\n');
}
