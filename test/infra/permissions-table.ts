/**
 * docs/permissions.md's table, generated from the packaged template so that the two
 * cannot drift: one row per function, the actions its role allows on `*` (reads EC2 cannot
 * scope) and those on named resources; an action that only a conditional policy grants says
 * under which condition. Each role's own log group and dead-letter queue (logs:*, sqs:SendMessage)
 * are left out: docs/permissions.md says every role has them, and the template rules check it.
 */
import type { Template } from './template-rules.js';
import { templateStatements } from './iam-validation.js';
import { deployContext, ResolvedTemplate } from '../harness/iam/template.js';

/** The stage the docs describe: serverless.yml's default params. */
export const DOCS_STAGE = 'ci';

const OWN_DELIVERY = new Set(['logs:CreateLogStream', 'logs:PutLogEvents', 'sqs:SendMessage']);
const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const code = (s: string) => `\`${s}\``;

/** A CloudFormation condition in words, for the two shapes the template uses. */
function conditionInWords(template: Template, name: string): string {
  const body = template.Conditions?.[name] as Record<string, unknown> | undefined;
  const equals = (body?.['Fn::Equals'] ?? undefined) as [{ Ref?: string }, unknown] | undefined;
  if (equals?.[0]?.Ref) return `only where ${code(equals[0].Ref)} is ${code(`'${String(equals[1])}'`)}`;
  return `only under the condition ${code(name)}`;
}

/** The table's Markdown, rows in the order of `functionKeys`. */
export function permissionsTable(template: Template, service: string, stage: string, functionKeys: string[]): string {
  const roles = new ResolvedTemplate(template, deployContext(service, stage)).functionRoles(service, stage);
  const statements = templateStatements(template, service, stage);
  const rows = functionKeys.map((key) => {
    const role = roles.find((r) => r.functionKey === key);
    if (!role) throw new Error(`permissions table: no function ${key} in the template`);
    const onStar = new Map<string, Set<string>>(); // action -> conditions it exists under ('' = always)
    const named = new Map<string, Set<string>>(); // action -> conditions it exists under ('' = always)
    for (const f of statements.filter((s) => s.role === role.roleLogicalId && s.statement.Effect === 'Allow')) {
      const resources = list(f.statement.Resource as string | string[]);
      for (const action of list(f.statement.Action as string | string[])) {
        if (OWN_DELIVERY.has(action)) continue;
        if (resources.includes('*')) onStar.set(action, (onStar.get(action) ?? new Set()).add(f.when ?? ''));
        else named.set(action, (named.get(action) ?? new Set()).add(f.when ?? ''));
      }
    }
    // The reads in code-point order, the rest as before: each column keeps the order it always had.
    const described = (actions: Map<string, Set<string>>, order: (a: string, b: string) => number) =>
      [...actions.entries()]
        .sort(([a], [b]) => order(a, b))
        .map(([action, when]) =>
          when.has('') ? code(action) : `${code(action)} (${[...when].map((w) => conditionInWords(template, w)).join('; ')})`,
        );
    const codePoints = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    const locale = (a: string, b: string) => a.localeCompare(b);
    return `| ${code(key)} | ${described(onStar, codePoints).join(', ') || '—'} | ${described(named, locale).join(', ') || '—'} |`;
  });
  return ['| function | on `*` (reads EC2 cannot scope) | on named resources, under the conditions below |', '|---|---|---|', ...rows].join(
    '\n',
  );
}
