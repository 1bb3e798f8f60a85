'use strict';
// CloudFormation in JavaScript, for resources.cjs and roles.cjs: the intrinsic functions, the
// ARNs the roles name, IAM statements and roles. Strings may hold serverless variables
// (${self:...}, ${sls:stage}, ${param:...}): osls resolves them in what a file returns, as in
// serverless.yml itself; ${AWS::...} inside Fn::Sub is CloudFormation's.

const ref = (id) => ({ Ref: id });
const getAtt = (id, attribute) => ({ 'Fn::GetAtt': [id, attribute] });
const arnOf = (id) => getAtt(id, 'Arn');
const sub = (text) => ({ 'Fn::Sub': text });

const MANAGED_BY = '${self:custom.managedBy}';

// Images and snapshots are regional resources without an account in their ARN.
const EC2 = 'arn:${AWS::Partition}:ec2:${AWS::Region}:';
const ec2 = (type) => sub(`${EC2}\${AWS::AccountId}:${type}/*`);
const inRegion = (service, resource) => sub(`arn:\${AWS::Partition}:${service}:\${AWS::Region}:\${AWS::AccountId}:${resource}`);
const arn = {
  image: sub(`${EC2}:image/*`),
  snapshot: sub(`${EC2}:snapshot/*`),
  instance: ec2('instance'),
  volume: ec2('volume'),
  elasticIp: ec2('elastic-ip'),
  launchTemplate: ec2('launch-template'),
  networkInterface: ec2('network-interface'),
  subnet: ec2('subnet'),
  securityGroup: ec2('security-group'),
  keyPair: ec2('key-pair'),
  inRegion,
  /** The roles recovery may pass to EC2 (params.recoveryPassRoles). */
  passRoles: sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${param:recoveryPassRoles}'),
  /** An EventBridge rule of the default bus, or of the stack's own. */
  rule: (name, bus) => inRegion('events', `rule/${bus ? `${bus}/` : ''}${name}`),
  /** Issue 17: in every region (the copies in destination regions). */
  anyRegion: {
    image: sub('arn:${AWS::Partition}:ec2:*::image/*'),
    snapshot: sub('arn:${AWS::Partition}:ec2:*::snapshot/*'),
    of: (service, resource) => sub(`arn:\${AWS::Partition}:${service}:*:\${AWS::AccountId}:${resource}`),
  },
};

/** The object without its undefined properties: a statement without Condition, a role's trust without one. */
const defined = (object) => Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));

/** A statement; Condition and Principal only when given. */
const statement = (Effect) => (Sid, Action, Resource, Condition, Principal) =>
  defined({ Sid, Effect, Principal, Action, Resource, Condition });
const allow = statement('Allow');
const deny = statement('Deny');

/** A policy document of these statements. */
const policy = (Statement) => ({ Version: '2012-10-17', Statement });

/** A role the service may assume (under the condition given), with one inline policy. */
const role = (Description, Service, Condition, PolicyName, Statement) => ({
  Type: 'AWS::IAM::Role',
  Properties: {
    Description,
    AssumeRolePolicyDocument: policy([defined({ Effect: 'Allow', Principal: { Service }, Action: 'sts:AssumeRole', Condition })]),
    Policies: [{ PolicyName, PolicyDocument: policy(Statement) }],
  },
});

module.exports = { defined, ref, getAtt, arnOf, sub, MANAGED_BY, arn, allow, deny, policy, role };
