/**
 * A refused call, answered as AWS answers it.
 *
 * - EC2: HTTP 403 `UnauthorizedOperation`, "You are not authorized to perform this operation.
 *   User: arn:aws:sts::<account>:assumed-role/<role>/<session> is not authorized to perform:
 *   ec2:RunInstances on resource: arn:aws:ec2:<region>:<account>:instance/* with an explicit deny
 *   in a service control policy. Encoded authorization failure message: ..." (as reported in
 *   https://github.com/aws/karpenter-provider-aws/issues/7370; status 403 in
 *   https://github.com/DataDog/stratus-red-team/issues/387). Where no statement allows the
 *   action, the reason reads "because no identity-based policy allows the ec2:X action".
 *   The encoded message is what sts:DecodeAuthorizationMessage would decode, as base64url JSON.
 * - EventBridge (JSON 1.1): HTTP 400 `AccessDeniedException`, "User: ... is not authorized to
 *   perform: events:PutRule on resource: ... because no identity-based policy allows the
 *   events:PutRule action" (https://github.com/ministryofjustice/modernisation-platform/pull/1253).
 * - CloudWatch (JSON 1.0, Query-compatible): HTTP 403 `AccessDenied` with the same message
 *   (https://github.com/aws-samples/amazon-cloudwatch-auto-alarms/issues/18,
 *   https://github.com/tomaszkiewicz/prometheus-alertmanager-cloudwatch-webhook/issues/3).
 * - rest-json services (Scheduler, Lambda): `AccessDeniedException` with the same message, in
 *   the `x-amzn-errortype` header and the body's `Message`; HTTP 400 as the API references'
 *   "Common Errors" list it ("AccessDeniedException: You do not have sufficient access to perform
 *   this action. HTTP Status Code: 400", https://docs.aws.amazon.com/scheduler/latest/APIReference/CommonErrors.html).
 * TEST-ONLY.
 */
import { randomUUID } from 'node:crypto';
import { ec2ErrorResponse, restJsonErrorResponse } from '../proxy/answers.js';
import type { ProxiedResponse } from '../proxy/chain.js';
import type { Authorization } from './authorizations.js';

export interface DenialReason {
  principalArn: string;
  authorization: Authorization;
  /** 'explicit': a Deny statement matched; 'implicit': no statement allowed it. */
  kind: 'explicit' | 'implicit';
}

/** AWS's reason sentence for a refusal. */
export function denialMessage({ principalArn, authorization, kind }: DenialReason): string {
  const { action, resource } = authorization;
  const why =
    kind === 'explicit'
      ? 'with an explicit deny in an identity-based policy'
      : `because no identity-based policy allows the ${action} action`;
  return `User: ${principalArn} is not authorized to perform: ${action} on resource: ${resource} ${why}`;
}

/** What sts:DecodeAuthorizationMessage returns for a refusal, base64url-encoded. */
function encodedMessage({ principalArn, authorization, kind }: DenialReason): string {
  const decoded = {
    allowed: false,
    explicitDeny: kind === 'explicit',
    matchedStatements: { items: [] },
    failures: { items: [] },
    context: {
      principal: { arn: principalArn },
      action: authorization.action,
      resource: authorization.resource,
      conditions: {
        items: Object.entries(authorization.context).map(([key, value]) => ({
          key,
          values: { items: (Array.isArray(value) ? value : [value]).map((v) => ({ value: v })) },
        })),
      },
    },
  };
  return Buffer.from(JSON.stringify(decoded), 'utf8').toString('base64url');
}

/** The refusal in the protocol of the request's service (by its SigV4 signing name; `restJson` for Scheduler, Lambda). */
export function denialResponse(signingName: string, reason: DenialReason, restJson = false): ProxiedResponse {
  const message = denialMessage(reason);
  if (restJson) return restJsonErrorResponse(400, 'AccessDeniedException', message);
  if (signingName === 'ec2') {
    return ec2ErrorResponse(
      403,
      'UnauthorizedOperation',
      `You are not authorized to perform this operation. ${message}. Encoded authorization failure message: ${encodedMessage(reason)}`,
    );
  }
  if (signingName === 'monitoring') {
    const body = JSON.stringify({ __type: 'AccessDenied', message });
    return {
      status: 403,
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amzn-query-error': 'AccessDenied;Sender',
        'x-amzn-requestid': randomUUID(),
      },
      body: Buffer.from(body, 'utf8'),
    };
  }
  const body = JSON.stringify({ __type: 'AccessDeniedException', message });
  return {
    status: 400,
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amzn-errortype': 'AccessDeniedException',
      'x-amzn-requestid': randomUUID(),
    },
    body: Buffer.from(body, 'utf8'),
  };
}
