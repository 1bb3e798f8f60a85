/**
 * A KMS key is usable only as its key policy allows. The default key policy lets the account's
 * IAM policies decide ("Default key policy: allows access to the AWS account and enables IAM
 * policies", https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html): the
 * harness assumes every key has it, since moto checks no key policy. A key whose policy names
 * only some principals is something only a real account shows (docs/operations.md, "What no emulator can check").
 * TEST-ONLY.
 */
export function defaultKeyPolicy(partition: string, account: string): unknown {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'Enable IAM User Permissions',
        Effect: 'Allow',
        Principal: { AWS: `arn:${partition}:iam::${account}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
    ],
  };
}
