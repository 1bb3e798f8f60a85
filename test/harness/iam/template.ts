/**
 * The packaged template as CloudFormation would deploy it: intrinsic functions resolved
 * (Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, Fn::Split, Fn::If with the template's
 * Conditions and Parameter defaults), pseudo parameters filled in for one account and
 * region, and each resource given the physical name CloudFormation would give it (the
 * name property where the template sets one, `<stack>-<LogicalId>-<suffix>` otherwise).
 * From that, each Lambda function's execution role and every policy attached to it:
 * the role's inline policies and the AWS::IAM::Policy resources naming it (those that
 * exist under their condition). TEST-ONLY.
 */
import { createHash } from 'node:crypto';
import type { Template } from '../../infra/template-rules.js';

export interface DeployContext {
  partition: string;
  region: string;
  account: string;
  stackName: string;
}

/** Where and as what LocalCloud, the sandbox and the benchmarks "deploy": moto's account. */
export function deployContext(service: string, stage: string): DeployContext {
  return { partition: 'aws', region: 'us-east-1', account: '123456789012', stackName: `${service}-${stage}` };
}

export interface PolicyDocument {
  Version?: string;
  Statement: Array<Record<string, unknown>>;
}

export interface FunctionRole {
  /** The function's name in serverless.yml (bake, imageState, ...). */
  functionKey: string;
  /** The deployed function name (<service>-<stage>-<key>): Lambda's session name for its role. */
  functionName: string;
  roleLogicalId: string;
  roleName: string;
  roleArn: string;
  /** Every identity policy attached to the role, resolved, by name. */
  policies: Array<{ name: string; document: PolicyDocument }>;
}

const NO_VALUE = Symbol('AWS::NoValue');

/** A template with its intrinsics resolvable for one deployment. */
export class ResolvedTemplate {
  private readonly conditions = new Map<string, boolean>();

  constructor(
    readonly template: Template,
    readonly context: DeployContext,
  ) {}

  /** The physical name CloudFormation gives a resource (what Ref returns for most types). */
  physicalName(logicalId: string): string {
    const resource = this.template.Resources[logicalId];
    if (!resource) throw new Error(`template: no resource ${logicalId}`);
    const p = resource.Properties ?? {};
    const named = (key: string) => (p[key] === undefined ? undefined : String(this.resolve(p[key])));
    const explicit =
      {
        'AWS::IAM::Role': named('RoleName'),
        'AWS::Logs::LogGroup': named('LogGroupName'),
        'AWS::SQS::Queue': named('QueueName'),
        'AWS::Events::EventBus': named('Name'),
        'AWS::Lambda::Function': named('FunctionName'),
        'AWS::CloudWatch::Alarm': named('AlarmName'),
        'AWS::IAM::Policy': named('PolicyName'),
        'AWS::Events::Rule': named('Name'),
        'AWS::Scheduler::Schedule': named('Name'),
      }[resource.Type] ?? undefined;
    if (explicit !== undefined) return explicit;
    // CloudFormation: stack name, logical id and a random suffix, 64 characters at most.
    const suffix = createHash('sha256').update(`${this.context.stackName}/${logicalId}`).digest('hex').slice(0, 12).toUpperCase();
    return `${`${this.context.stackName}-${logicalId}`.slice(0, 64 - 13)}-${suffix}`;
  }

  /** Ref of a resource, as CloudFormation documents it per type. */
  ref(logicalId: string): string | string[] {
    const pseudo = this.pseudo(logicalId);
    if (pseudo !== undefined) return pseudo;
    const parameter = this.template.Parameters?.[logicalId] as { Default?: unknown; Type?: string } | undefined;
    // A list parameter's Ref is the list (CloudFormation splits a CommaDelimitedList at its commas).
    if (parameter?.Type === 'CommaDelimitedList') return String(parameter.Default ?? '').split(',');
    if (parameter) return String(parameter.Default ?? '');
    const resource = this.template.Resources[logicalId];
    if (!resource) throw new Error(`template: Ref to unknown ${logicalId}`);
    const { partition, region, account } = this.context;
    const name = this.physicalName(logicalId);
    if (resource.Type === 'AWS::SQS::Queue') return `https://sqs.${region}.amazonaws.com/${account}/${name}`;
    if (resource.Type === 'AWS::SNS::Topic') return `arn:${partition}:sns:${region}:${account}:${name}`;
    return name;
  }

  /** Fn::GetAtt of a resource, as CloudFormation documents it per type. */
  getAtt(logicalId: string, attribute: string): string {
    const resource = this.template.Resources[logicalId];
    if (!resource) throw new Error(`template: GetAtt of unknown ${logicalId}`);
    const { partition, region, account } = this.context;
    const name = this.physicalName(logicalId);
    const key = `${resource.Type}.${attribute}`;
    switch (key) {
      case 'AWS::IAM::Role.Arn':
        return `arn:${partition}:iam::${account}:role/${name}`;
      case 'AWS::IAM::Role.RoleId':
        return `AROA${createHash('sha256').update(name).digest('hex').slice(0, 17).toUpperCase()}`;
      // CloudFormation's log group Arn ends in `:*` (every stream of the group).
      case 'AWS::Logs::LogGroup.Arn':
        return `arn:${partition}:logs:${region}:${account}:log-group:${name}:*`;
      case 'AWS::SQS::Queue.Arn':
        return `arn:${partition}:sqs:${region}:${account}:${name}`;
      case 'AWS::SQS::Queue.QueueName':
        return name;
      case 'AWS::SQS::Queue.QueueUrl':
        return `https://sqs.${region}.amazonaws.com/${account}/${name}`;
      case 'AWS::Events::EventBus.Arn':
        return `arn:${partition}:events:${region}:${account}:event-bus/${name}`;
      case 'AWS::Events::EventBus.Name':
        return name;
      case 'AWS::Lambda::Function.Arn':
        return `arn:${partition}:lambda:${region}:${account}:function:${name}`;
      case 'AWS::CloudWatch::Alarm.Arn':
        return `arn:${partition}:cloudwatch:${region}:${account}:alarm:${name}`;
      case 'AWS::Events::Rule.Arn':
        return `arn:${partition}:events:${region}:${account}:rule/${name}`;
      case 'AWS::Scheduler::Schedule.Arn':
        return `arn:${partition}:scheduler:${region}:${account}:schedule/default/${name}`;
      default:
        throw new Error(`template: Fn::GetAtt ${logicalId}.${attribute} (${resource.Type}) is not modelled`);
    }
  }

  private pseudo(name: string): string | undefined {
    const { partition, region, account, stackName } = this.context;
    return {
      'AWS::Partition': partition,
      'AWS::Region': region,
      'AWS::AccountId': account,
      'AWS::StackName': stackName,
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackId': `arn:${partition}:cloudformation:${region}:${account}:stack/${stackName}/00000000-0000-0000-0000-000000000000`,
    }[name];
  }

  /** Whether a condition of the template holds. */
  condition(name: string): boolean {
    let value = this.conditions.get(name);
    if (value === undefined) {
      const body = this.template.Conditions?.[name];
      if (body === undefined) throw new Error(`template: no condition ${name}`);
      value = Boolean(this.resolve(body));
      this.conditions.set(name, value);
    }
    return value;
  }

  /** A value with every intrinsic function resolved (AWS::NoValue removed). */
  resolve(value: unknown): unknown {
    const out = this.evaluate(value);
    return out === NO_VALUE ? undefined : out;
  }

  private evaluate(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => this.evaluate(v)).filter((v) => v !== NO_VALUE);
    if (value === null || typeof value !== 'object') return value;
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1) {
      const [k] = keys as [string];
      const v = o[k];
      switch (k) {
        case 'Ref':
          return v === 'AWS::NoValue' ? NO_VALUE : this.ref(String(v));
        case 'Fn::GetAtt': {
          const [id, attr] = Array.isArray(v) ? (v as string[]) : String(v).split(/\.(.*)/s);
          return this.getAtt(String(id), String(attr));
        }
        case 'Fn::Sub':
          return this.sub(v);
        case 'Fn::Join': {
          const [sep, parts] = v as [string, unknown[]];
          return (this.evaluate(parts) as unknown[]).map(String).join(sep);
        }
        case 'Fn::Select': {
          const [index, list] = v as [unknown, unknown];
          return (this.evaluate(list) as unknown[])[Number(this.evaluate(index))];
        }
        case 'Fn::Split': {
          const [sep, text] = v as [string, unknown];
          return String(this.evaluate(text)).split(sep);
        }
        case 'Fn::If': {
          const [cond, yes, no] = v as [string, unknown, unknown];
          return this.evaluate(this.condition(cond) ? yes : no);
        }
        case 'Fn::Equals': {
          const [a, b] = (v as unknown[]).map((x) => this.evaluate(x));
          return JSON.stringify(a) === JSON.stringify(b);
        }
        case 'Fn::Not':
          return !this.evaluate((v as unknown[])[0]);
        case 'Fn::And':
          return (v as unknown[]).every((x) => Boolean(this.evaluate(x)));
        case 'Fn::Or':
          return (v as unknown[]).some((x) => Boolean(this.evaluate(x)));
        case 'Condition':
          return this.condition(String(v));
      }
      if (k.startsWith('Fn::')) throw new Error(`template: ${k} is not modelled`);
    }
    const out: Record<string, unknown> = {};
    for (const [key, val] of Object.entries(o)) {
      const resolved = this.evaluate(val);
      if (resolved !== NO_VALUE) out[key] = resolved;
    }
    return out;
  }

  private sub(v: unknown): string {
    const [text, vars] = Array.isArray(v) ? [String(v[0]), (v[1] ?? {}) as Record<string, unknown>] : [String(v), {}];
    return text.replace(/\$\{([^}]+)\}/g, (whole, name: string) => {
      if (name.startsWith('!')) return `\${${name.slice(1)}}`;
      if (name in vars) return String(this.evaluate(vars[name]));
      const pseudo = this.pseudo(name);
      if (pseudo !== undefined) return pseudo;
      const dot = name.indexOf('.');
      if (dot > 0) return this.getAtt(name.slice(0, dot), name.slice(dot + 1));
      if (this.template.Parameters?.[name] || this.template.Resources[name]) return String(this.ref(name));
      throw new Error(`template: Fn::Sub cannot resolve ${whole}`);
    });
  }

  /** Whether a resource exists in this deployment (its Condition, if any, holds). */
  exists(logicalId: string): boolean {
    const condition = this.template.Resources[logicalId]?.Condition;
    return condition === undefined || this.condition(condition);
  }

  /** Each Lambda function's role and the policies attached to it. */
  functionRoles(service: string, stage: string): FunctionRole[] {
    const out: FunctionRole[] = [];
    for (const [id, resource] of Object.entries(this.template.Resources)) {
      if (resource.Type !== 'AWS::Lambda::Function' || !this.exists(id)) continue;
      const functionName = this.physicalName(id);
      const prefix = `${service}-${stage}-`;
      if (!functionName.startsWith(prefix)) throw new Error(`template: function ${functionName} is not named ${prefix}<key>`);
      const roleArn = String(this.resolve(resource.Properties?.Role));
      const roleLogicalId = Object.keys(this.template.Resources).find(
        (rid) => this.template.Resources[rid]!.Type === 'AWS::IAM::Role' && this.getAtt(rid, 'Arn') === roleArn,
      );
      if (!roleLogicalId) throw new Error(`template: the role ${roleArn} of ${functionName} is not a role of this template`);
      out.push({
        functionKey: functionName.slice(prefix.length),
        functionName,
        roleLogicalId,
        roleName: this.physicalName(roleLogicalId),
        roleArn,
        policies: this.rolePolicies(roleLogicalId),
      });
    }
    return out;
  }

  /** The identity policies attached to a role: inline ones, and policy resources that name it. */
  rolePolicies(roleLogicalId: string): Array<{ name: string; document: PolicyDocument }> {
    const role = this.template.Resources[roleLogicalId]!;
    const props = role.Properties ?? {};
    if (props.ManagedPolicyArns !== undefined && (this.resolve(props.ManagedPolicyArns) as unknown[]).length > 0) {
      throw new Error(`template: ${roleLogicalId} has managed policies, which the harness cannot read`);
    }
    const policies = ((this.resolve(props.Policies) ?? []) as Array<{ PolicyName: string; PolicyDocument: PolicyDocument }>).map((p) => ({
      name: p.PolicyName,
      document: p.PolicyDocument,
    }));
    const roleName = this.physicalName(roleLogicalId);
    for (const [id, r] of Object.entries(this.template.Resources)) {
      if (r.Type !== 'AWS::IAM::Policy' || !this.exists(id)) continue;
      const roles = (this.resolve(r.Properties?.Roles) ?? []) as string[];
      if (!roles.includes(roleName)) continue;
      policies.push({
        name: String(this.resolve(r.Properties?.PolicyName)),
        document: this.resolve(r.Properties?.PolicyDocument) as PolicyDocument,
      });
    }
    return policies;
  }
}
