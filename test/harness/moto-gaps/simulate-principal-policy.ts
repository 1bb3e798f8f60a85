/**
 * Test harness: iam:SimulatePrincipalPolicy, which moto 5.2.1 does not implement (its IAM has
 * no such action: moto_server answers HTTP 500). AWS evaluates the principal's policies for
 * each action and resource with the context entries given; so does this, with
 * @cloud-copilot/iam-simulate (AWS's evaluation logic and its Service Authorization Reference
 * as data), over the role's policies read from moto's IAM: inline (ListRolePolicies,
 * GetRolePolicy), attached (ListAttachedRolePolicies, GetPolicy, GetPolicyVersion) and its
 * permissions boundary, plus PolicyInputList, PermissionsBoundaryPolicyInputList and
 * ResourcePolicy from the request.
 *
 * The answer has AWS's query-protocol shape ("SimulatePrincipalPolicy", IAM API Reference,
 * https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html): one
 * EvaluationResult per action whose top-level decision is the most restrictive over the
 * resources, with one ResourceSpecificResult per resource ("EvaluationResult": "The simulator
 * now returns a single EvaluationResult per action, regardless of how many resource ARNs are
 * provided", https://docs.aws.amazon.com/IAM/latest/APIReference/API_EvaluationResult.html).
 * MatchedStatements name the policy (SourcePolicyId, SourcePolicyType) without the line and
 * column AWS adds. MissingContextValues are the condition keys of statements that matched
 * the action and resource but found the key absent. Roles only: a user or group as the
 * source fails loudly (a harness limit, not an AWS answer).
 *
 * Test-only; product code never knows it is there.
 */
import { randomUUID } from 'node:crypto';
import {
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  type GetRoleCommandOutput,
  GetRolePolicyCommand,
  type IAMClient,
  paginateListAttachedRolePolicies,
  paginateListRolePolicies,
} from '@aws-sdk/client-iam';
import { runSimulation, runUnsafeSimulation, type Simulation } from '@cloud-copilot/iam-simulate';
import { errorResponseFor } from '../proxy/answers.js';
import type { ProxiedRequest, ProxiedResponse } from '../proxy/chain.js';
import { defaultKeyPolicy } from '../iam/key-policy.js';
import { serviceOf } from '../sigv4.js';

const NS = 'https://iam.amazonaws.com/doc/2010-05-08/';

type Decision = 'allowed' | 'explicitDeny' | 'implicitDeny';

/** Policy types as SimulatePrincipalPolicy names them (PolicySourceType). */
type SourcePolicyType = 'role' | 'aws-managed' | 'user-managed' | 'resource' | 'none';

interface NamedPolicy {
  name: string;
  type: SourcePolicyType;
  document: unknown;
}

interface MatchedStatement {
  SourcePolicyId: string;
  SourcePolicyType: SourcePolicyType;
}

interface ResourceResult {
  resource: string;
  decision: Decision;
  matched: MatchedStatement[];
  missing: string[];
  allowedByBoundary?: boolean;
}

export function isSimulatePrincipalPolicy(request: ProxiedRequest): boolean {
  return request.action === 'SimulatePrincipalPolicy' && request.form !== undefined && (serviceOf(request.headers) ?? 'iam') === 'iam';
}

/** Members of a query-protocol list: `Name.member.1`, `Name.member.2`, ... in order. */
function listOf(form: URLSearchParams, name: string): string[] {
  const values: Array<[number, string]> = [];
  for (const [key, value] of form) {
    const match = new RegExp(`^${name}\\.member\\.(\\d+)$`).exec(key);
    if (match) values.push([Number(match[1]), value]);
  }
  return values.sort(([a], [b]) => a - b).map(([, v]) => v);
}

/** ContextEntries as iam-simulate's context variables: list types as arrays, the others as one string. */
function contextOf(form: URLSearchParams): Record<string, string | string[]> {
  const context: Record<string, string | string[]> = {};
  for (let n = 1; form.has(`ContextEntries.member.${n}.ContextKeyName`); n++) {
    const key = form.get(`ContextEntries.member.${n}.ContextKeyName`)!;
    const type = form.get(`ContextEntries.member.${n}.ContextKeyType`) ?? 'string';
    const values = listOf(form, `ContextEntries\\.member\\.${n}\\.ContextKeyValues`);
    context[key] = type.endsWith('List') ? values : (values[0] ?? '');
  }
  return context;
}

/** IAM returns policy documents URL-encoded (RFC 3986); moto sometimes returns them as they were given. */
function parseDocument(raw: string | undefined): unknown {
  if (!raw) return { Version: '2012-10-17', Statement: [] };
  const text = raw.trimStart().startsWith('{') ? raw : decodeURIComponent(raw);
  return JSON.parse(text);
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** Reads the role's policies from moto (the caller's access key selects moto's account). */
async function rolePolicies(iam: IAMClient, roleName: string): Promise<{ identity: NamedPolicy[]; boundary: NamedPolicy[] } | undefined> {
  let role: GetRoleCommandOutput['Role'];
  try {
    role = (await iam.send(new GetRoleCommand({ RoleName: roleName }))).Role;
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchEntityException' || (error as { name?: string }).name === 'NoSuchEntity')
      return undefined;
    throw error;
  }
  const identity: NamedPolicy[] = [];
  for await (const page of paginateListRolePolicies({ client: iam }, { RoleName: roleName })) {
    for (const name of page.PolicyNames ?? []) {
      const { PolicyDocument } = await iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: name }));
      identity.push({ name, type: 'role', document: parseDocument(PolicyDocument) });
    }
  }
  const managed = async (arn: string): Promise<NamedPolicy> => {
    const { Policy } = await iam.send(new GetPolicyCommand({ PolicyArn: arn }));
    const { PolicyVersion } = await iam.send(new GetPolicyVersionCommand({ PolicyArn: arn, VersionId: Policy?.DefaultVersionId ?? 'v1' }));
    const type = arn.includes(':iam::aws:policy/') ? 'aws-managed' : 'user-managed';
    return { name: arn, type, document: parseDocument(PolicyVersion?.Document) };
  };
  for await (const page of paginateListAttachedRolePolicies({ client: iam }, { RoleName: roleName })) {
    for (const attached of page.AttachedPolicies ?? []) if (attached.PolicyArn) identity.push(await managed(attached.PolicyArn));
  }
  const boundaryArn = role?.PermissionsBoundary?.PermissionsBoundaryArn;
  return { identity, boundary: boundaryArn ? [await managed(boundaryArn)] : [] };
}

const DECISION: Record<string, Decision> = { Allowed: 'allowed', ExplicitlyDenied: 'explicitDeny', ImplicitlyDenied: 'implicitDeny' };
const RANK: Record<Decision, number> = { allowed: 0, implicitDeny: 1, explicitDeny: 2 };

type StatementAnalysisLike = {
  policyId: string;
  actionMatch: boolean;
  resourceMatch: boolean;
  explain: { conditions?: Array<{ conditionKeyValue: string; failedBecauseMissing?: boolean }> };
};

async function evaluate(
  principal: string,
  account: string,
  action: string,
  resource: string,
  context: Record<string, string | string[]>,
  policies: { identity: NamedPolicy[]; boundary: NamedPolicy[]; resource?: unknown },
): Promise<ResourceResult | { error: string }> {
  const typeOf = new Map([...policies.identity, ...policies.boundary].map((p) => [p.name, p.type]));
  // IAM's simulator reads no resource policy it is not given ("The simulation does not
  // automatically retrieve policies for the specified resources", SimulatePrincipalPolicy), so
  // the identity policies decide. A KMS key is usable only as its key policy allows; the key
  // policy that lets IAM policies decide is the default one ("Allows access to the AWS account
  // and enables IAM policies", https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).
  const isKms = action.toLowerCase().startsWith('kms:');
  const resourcePolicy = policies.resource ?? (isKms ? defaultKeyPolicy(principal.split(':')[1] ?? 'aws', account) : undefined);
  const simulation: Simulation = {
    request: { principal, action, resource: { resource, accountId: account }, contextVariables: context },
    identityPolicies: policies.identity.map((p) => ({ name: p.name, policy: p.document })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(policies.boundary.length > 0
      ? { permissionBoundaryPolicies: policies.boundary.map((p) => ({ name: p.name, policy: p.document })) }
      : {}),
    ...(resourcePolicy ? { resourcePolicy } : {}),
  };
  const outcome = await runSimulation(simulation, {});
  if (outcome.resultType === 'error') {
    // A resource of a type the action does not act on (DeleteSnapshot on an image): IAM's
    // simulator still matches the ARN against the statements' patterns (a Deny on * denies it),
    // so evaluate without the validation; which statement decided is not known then.
    if (outcome.errors.message === 'no.resource.types') {
      return { resource, decision: DECISION[runUnsafeSimulation(simulation, {})] ?? 'implicitDeny', matched: [], missing: [] };
    }
    return { error: outcome.errors.message };
  }
  const analyses = (outcome.resultType === 'single' ? [outcome.result] : outcome.results).map((r) => r.analysis);
  const decision = DECISION[outcome.overallResult] ?? 'implicitDeny';
  const matched: MatchedStatement[] = [];
  const missing = new Set<string>();
  for (const analysis of analyses) {
    const identity = analysis.identityAnalysis;
    const decisive =
      decision === 'explicitDeny' ? (identity?.denyStatements ?? []) : decision === 'allowed' ? (identity?.allowStatements ?? []) : [];
    for (const s of decisive) matched.push({ SourcePolicyId: s.policyId, SourcePolicyType: typeOf.get(s.policyId) ?? 'none' });
    for (const s of (identity?.unmatchedStatements ?? []) as StatementAnalysisLike[]) {
      if (!s.actionMatch || !s.resourceMatch) continue;
      for (const c of s.explain.conditions ?? []) if (c.failedBecauseMissing) missing.add(c.conditionKeyValue);
    }
  }
  const boundary = analyses[0]?.permissionBoundaryAnalysis;
  return {
    resource,
    decision,
    matched: [...new Map(matched.map((m) => [m.SourcePolicyId, m])).values()],
    missing: [...missing],
    ...(boundary ? { allowedByBoundary: boundary.result === 'Allowed' } : {}),
  };
}

function statementsXml(matched: MatchedStatement[]): string {
  return `<MatchedStatements>${matched
    .map(
      (m) =>
        `<member><SourcePolicyId>${escapeXml(m.SourcePolicyId)}</SourcePolicyId>` +
        `<SourcePolicyType>${m.SourcePolicyType}</SourcePolicyType></member>`,
    )
    .join('')}</MatchedStatements>`;
}

const missingXml = (keys: string[]) =>
  `<MissingContextValues>${keys.map((k) => `<member>${escapeXml(k)}</member>`).join('')}</MissingContextValues>`;

const boundaryXml = (r: { allowedByBoundary?: boolean }) =>
  r.allowedByBoundary === undefined
    ? ''
    : '<PermissionsBoundaryDecisionDetail>' +
      `<AllowedByPermissionsBoundary>${r.allowedByBoundary}</AllowedByPermissionsBoundary>` +
      '</PermissionsBoundaryDecisionDetail>';

function evaluationResultXml(action: string, results: ResourceResult[]): string {
  const worst = results.reduce((a, b) => (RANK[b.decision] > RANK[a.decision] ? b : a));
  const aggregateMissing = [...new Set(results.flatMap((r) => r.missing))];
  const specific = results
    .map(
      (r) =>
        `<member><EvalResourceName>${escapeXml(r.resource)}</EvalResourceName><EvalResourceDecision>${r.decision}</EvalResourceDecision>` +
        `${statementsXml(r.matched)}${missingXml(r.missing)}${boundaryXml(r)}</member>`,
    )
    .join('');
  return (
    `<member><EvalActionName>${escapeXml(action)}</EvalActionName>` +
    (results.length === 1 ? `<EvalResourceName>${escapeXml(results[0]!.resource)}</EvalResourceName>` : '') +
    `<EvalDecision>${worst.decision}</EvalDecision>${statementsXml(worst.matched)}${missingXml(aggregateMissing)}${boundaryXml(worst)}` +
    `<ResourceSpecificResults>${specific}</ResourceSpecificResults></member>`
  );
}

function iamError(request: ProxiedRequest, status: number, code: string, message: string): ProxiedResponse {
  return errorResponseFor(request, status, code, message);
}

/** Answers one SimulatePrincipalPolicy request, reading the role from moto through `iam`. */
export async function answerSimulatePrincipalPolicy(request: ProxiedRequest, iam: IAMClient): Promise<ProxiedResponse> {
  const form = request.form!;
  const source = form.get('PolicySourceArn') ?? '';
  const arn = /^arn:[^:]+:iam::(\d{12}):(role|user|group)\/(?:.*\/)?([^/]+)$/.exec(source);
  if (!arn) return iamError(request, 400, 'InvalidInput', `PolicySourceArn ${source} is not the ARN of a user, group or role`);
  const [, account, kind, name] = arn as unknown as [string, string, string, string];
  if (kind !== 'role') throw new Error(`the harness simulates roles only, not ${kind}s (${source})`);
  const actions = listOf(form, 'ActionNames');
  if (actions.length === 0) {
    const message = "1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null";
    return iamError(request, 400, 'ValidationError', message);
  }
  const resources = listOf(form, 'ResourceArns');
  const read = await rolePolicies(iam, name);
  if (!read) return iamError(request, 404, 'NoSuchEntity', `The role with name ${name} cannot be found.`);
  const inputs = listOf(form, 'PolicyInputList').map((doc, i) => ({
    name: `PolicyInputList.${i + 1}`,
    type: 'none' as const,
    document: JSON.parse(doc),
  }));
  const boundaryInputs = listOf(form, 'PermissionsBoundaryPolicyInputList').map((doc, i) => ({
    name: `PermissionsBoundaryPolicyInputList.${i + 1}`,
    type: 'none' as const,
    document: JSON.parse(doc),
  }));
  const resourcePolicy = form.get('ResourcePolicy');
  const policies = {
    identity: [...read.identity, ...inputs],
    boundary: [...read.boundary, ...boundaryInputs],
    ...(resourcePolicy ? { resource: JSON.parse(resourcePolicy) } : {}),
  };
  const context = contextOf(form);

  const members: string[] = [];
  for (const action of actions) {
    const results: ResourceResult[] = [];
    for (const resource of resources.length > 0 ? resources : ['*']) {
      const result = await evaluate(source, account, action, resource, context, policies);
      if ('error' in result) return iamError(request, 400, 'InvalidInput', result.error);
      results.push(result);
    }
    members.push(evaluationResultXml(action, results));
  }
  // MaxItems and Marker page the results as IAM does (the marker is an offset here).
  const start = Number(form.get('Marker') ?? 0);
  const maxItems = Number(form.get('MaxItems') ?? 100);
  const page = members.slice(start, start + maxItems);
  const truncated = start + maxItems < members.length;
  const body =
    `<SimulatePrincipalPolicyResponse xmlns="${NS}"><SimulatePrincipalPolicyResult>` +
    `<EvaluationResults>${page.join('')}</EvaluationResults><IsTruncated>${truncated}</IsTruncated>` +
    (truncated ? `<Marker>${start + maxItems}</Marker>` : '') +
    '</SimulatePrincipalPolicyResult>' +
    `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>`;
  return { status: 200, headers: { 'content-type': 'text/xml' }, body: Buffer.from(body, 'utf8') };
}
