/**
 * Every policy statement in the packaged template, checked against AWS's Service
 * Authorization Reference (iam-data) as IAM Access Analyzer's policy validation would
 * (test/infra/iam-validation.ts): actions that exist, resources of the action's resource
 * types, condition keys that apply, dependent actions granted by the same role. The last
 * block plants one defect per rule and expects it found. The template is the one
 * template-rules.test.ts checks (the same cached packaging).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readServerless } from '../../cli/serverless-config.js';
import { packagedTemplate } from '../infra/packaged.js';
import type { Template } from '../infra/template-rules.js';
import { patternsIntersect, templateStatements, validateTemplatePolicies } from '../infra/iam-validation.js';

const STAGE = 'ci';
const SERVICE = readServerless({ stage: STAGE }).service;
let t: Template;

beforeAll(async () => {
  t = structuredClone((await packagedTemplate({ stage: STAGE })).template);
  // As a stage that names its fleet's KMS keys deploys it (params.kmsKeyArns): the key policy
  // then names real keys. Left empty, its resources would be no ARN at all.
  t.Parameters!.KmsKeyArns!.Default = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
});

/** A statement of a role's inline policy (or of a policy resource) by Sid. */
function stmt(x: Template, id: string, sid: string): Record<string, any> {
  const props = x.Resources[id]!.Properties!;
  const docs = props.PolicyDocument
    ? [props.PolicyDocument]
    : (props.Policies as Array<{ PolicyDocument: unknown }>).map((p) => p.PolicyDocument);
  const found = docs.flatMap((d) => (d as { Statement: Array<Record<string, any>> }).Statement).find((s) => s.Sid === sid);
  if (!found) throw new Error(`${id} has no statement ${sid}`);
  return found;
}

function removeStmt(x: Template, id: string, sid: string): void {
  for (const p of x.Resources[id]!.Properties!.Policies as Array<{ PolicyDocument: { Statement: Array<Record<string, any>> } }>) {
    p.PolicyDocument.Statement = p.PolicyDocument.Statement.filter((s) => s.Sid !== sid);
  }
}

describe('policy validation with the Service Authorization Reference', () => {
  it('finds nothing in the packaged template, every statement included (conditional policies too)', async () => {
    const statements = templateStatements(t, SERVICE, STAGE);
    expect(statements.map((s) => s.where)).toContain('RecoverTerminateReplacedPolicy/TerminateReplacedInstances');
    expect(statements.length).toBeGreaterThan(50);
    expect(await validateTemplatePolicies(t, SERVICE, STAGE)).toEqual([]);
  });

  it('compares ARNs as patterns: a reference variable is one field, a policy wildcard any text', () => {
    const logStream = 'arn:${Partition}:logs:${Region}:${Account}:log-group:${LogGroupName}:log-stream:${LogStreamName}';
    const image = 'arn:${Partition}:ec2:${Region}::image/${ImageId}';
    expect(patternsIntersect(logStream, 'arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:*')).toBe(true);
    expect(patternsIntersect(image, 'arn:aws:ec2:us-east-1::image/*')).toBe(true);
    expect(patternsIntersect(image, 'arn:aws:ec2:us-east-1:123456789012:instance/*')).toBe(false);
    expect(patternsIntersect(image, 'arn:aws:ec2:*:*:*')).toBe(true);
    expect(patternsIntersect('arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}', 'arn:aws:iam::123456789012:role/app-*')).toBe(
      true,
    );
    expect(
      patternsIntersect(
        'arn:${Partition}:cloudwatch:${Region}:${Account}:alarm:${AlarmName}',
        'arn:aws:cloudwatch:us-east-1:123456789012:dashboard/x',
      ),
    ).toBe(false);
  });
});

type Edit = (x: Template) => void;

describe('each rule finds a planted defect', () => {
  const planted: Array<[string, Edit, RegExp]> = [
    [
      'an action that does not exist',
      (x) => void (stmt(x, 'BakeRole', 'ImageOptedInInstances').Action = 'ec2:CreateImages'),
      /ImageOptedInInstances: ec2:CreateImages is not an action/,
    ],
    [
      'a resource of a type the action does not have',
      (x) => void (stmt(x, 'BakeRole', 'ImageOptedInInstances').Resource = 'arn:aws:ec2:us-east-1:123456789012:volume/*'),
      /ImageOptedInInstances: ec2:CreateImage on arn:aws:ec2:us-east-1:123456789012:volume\/\*, which matches no resource type/,
    ],
    [
      "'*' for an action that has resource types",
      (x) => void (stmt(x, 'RotateRole', 'DeleteOnlyManagedSnapshots').Resource = '*'),
      /DeleteOnlyManagedSnapshots: ec2:DeleteSnapshot on '\*', though/,
    ],
    [
      'a service condition key of another resource type',
      (x) => void (stmt(x, 'RotateRole', 'DeleteOnlyManagedSnapshots').Condition.StringEquals['ec2:InstanceType'] = 't3.micro'),
      /DeleteOnlyManagedSnapshots: condition key ec2:InstanceType does not apply to ec2:DeleteSnapshot/,
    ],
    [
      'a tag key AWS never sets there (a resource tag of an image not created yet)',
      (x) => {
        const s = stmt(x, 'BakeRole', 'CreateOnlyManagedImagesAndSnapshots');
        s.Condition = {
          StringEquals: { 'aws:ResourceTag/ami-lifecycle:managed-by': s.Condition.StringEquals['aws:RequestTag/ami-lifecycle:managed-by'] },
        };
      },
      /CreateOnlyManagedImagesAndSnapshots: condition key aws:ResourceTag\/ami-lifecycle:managed-by does not apply to ec2:CreateImage/,
    ],
    [
      'a dependent action missing: PassRole for the launch templates bake writes',
      (x) => removeStmt(x, 'BakeRole', 'PassInstanceProfileRolesIntoLaunchTemplates'),
      /ec2:CreateLaunchTemplate needs iam:PassRole \(the captured instance profile\), which BakeRole does not grant/,
    ],
    [
      'a dependent action missing: CreateTags for the tags RunInstances puts on replacements',
      (x) => {
        for (const sid of [
          'TagReplacementsAtLaunch',
          'RecordRecoveryOnOptedInInstances',
          'MarkManagedImagesAndSnapshotsBad',
          'TagElasticIpsWithTheirLineage',
          'TagFollowingVolumesWithTheirDestination',
        ]) {
          removeStmt(x, 'RecoverRole', sid);
        }
      },
      /ec2:RunInstances needs ec2:CreateTags \(tags on create\), which RecoverRole does not grant/,
    ],
  ];

  it.each(planted)('%s', async (_name, edit, expected) => {
    const x = structuredClone(t);
    edit(x);
    const problems = await validateTemplatePolicies(x, SERVICE, STAGE);
    expect(
      problems.some((p) => expected.test(p)),
      problems.join('\n') || 'no problems',
    ).toBe(true);
  });
});
