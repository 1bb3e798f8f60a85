/**
 * The roles a LocalCloud's functions run with: read from the packaged template (cached,
 * see test/infra/packaged.ts) and resolved as CloudFormation would deploy the stage.
 */
import type { Template } from '../../infra/template-rules.js';
import { packagedTemplate } from '../../infra/packaged.js';
import { deployContext, ResolvedTemplate, type FunctionRole } from './template.js';

/** The stage LocalCloud runs unless told otherwise. */
export const LOCAL_CLOUD_STAGE = 'dev';

export interface RoleOptions {
  service: string;
  stage: string;
  /** Stage parameters (serverless.yml `params`) overridden, as `--param key=value` would. */
  params?: Record<string, string>;
  /** Edits a copy of the packaged template first: how a harness test plants a defect in a role. */
  editTemplate?: (template: Template) => void;
}

export async function loadFunctionRoles(options: RoleOptions): Promise<FunctionRole[]> {
  const { template } = await packagedTemplate({ stage: options.stage, ...(options.params ? { params: options.params } : {}) });
  const copy = structuredClone(template);
  options.editTemplate?.(copy);
  return new ResolvedTemplate(copy, deployContext(options.service, options.stage)).functionRoles(options.service, options.stage);
}

/**
 * The environment each function is deployed with, resolved from the packaged template as
 * CloudFormation would (Fn::Sub, Fn::GetAtt): provider.environment and the function's own
 * variables, e.g. the recover function's RECHECK_ROLE_ARN. By function name in serverless.yml.
 */
export async function loadFunctionEnvironments(options: RoleOptions): Promise<Record<string, Record<string, string>>> {
  const { template } = await packagedTemplate({ stage: options.stage, ...(options.params ? { params: options.params } : {}) });
  const resolved = new ResolvedTemplate(template, deployContext(options.service, options.stage));
  const environments: Record<string, Record<string, string>> = {};
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function' || !logicalId.endsWith('LambdaFunction')) continue;
    const name = logicalId.slice(0, -'LambdaFunction'.length);
    const variables = (resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
    environments[name[0]!.toLowerCase() + name.slice(1)] = Object.fromEntries(
      Object.entries(variables).map(([key, value]) => [key, String(resolved.resolve(value))]),
    );
  }
  return environments;
}
