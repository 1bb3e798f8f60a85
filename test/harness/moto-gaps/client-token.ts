/**
 * Moto gap: ClientToken is ignored. AWS documents it in "Ensuring idempotency in Amazon EC2 API
 * requests" (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html): a retry
 * with the same client token and the same parameters succeeds without doing anything more, and
 * with other parameters fails with IdempotentParameterMismatch.
 * TEST-ONLY.
 */
import type { Interceptor, ProxiedResponse } from '../proxy/chain.js';
import { ec2ErrorResponse } from '../proxy/answers.js';
import { bufferBody, isEc2Action, type Mutex } from '../proxy/request.js';
import { callerOf } from '../sigv4.js';

/**
 * Moto gap: moto ignores ClientToken, so a retried launch starts a second instance,
 * and a retried CreateLaunchTemplate whose first answer was lost meets
 * AlreadyExists (the SDK fills ClientToken in itself for these actions, the same on
 * each retry of one call). AWS answers a repeated token with the original result,
 * and a repeated token with other parameters with IdempotentParameterMismatch.
 * Calls are serialised so two concurrent calls with one token cannot both act.
 */
export type Launches = Map<string, { params: string; response: ProxiedResponse }>;

/**
 * Actions whose ClientToken the proxy honours as AWS does. CopyImage (issue 17) is among the
 * actions that take one ("CopyImage ... ClientToken: Unique, case-sensitive identifier you provide
 * to ensure idempotency of the request", API reference, CopyImage,
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CopyImage.html); moto ignores it.
 */
const IDEMPOTENT_BY_CLIENT_TOKEN = new Set(['RunInstances', 'CreateLaunchTemplate', 'CreateLaunchTemplateVersion', 'CopyImage']);

export function idempotentByClientToken(launches: Launches, lock: Mutex): Interceptor {
  return (request, next) => {
    const clientToken = request.form?.get('ClientToken');
    const action = request.action ?? '';
    if (
      !IDEMPOTENT_BY_CLIENT_TOKEN.has(action) ||
      !isEc2Action(request, action) ||
      !clientToken ||
      request.form?.get('DryRun') === 'true'
    ) {
      return next(request);
    }
    // A token is the request's in its region: a repeat "other than the Region" with other parameters is a mismatch
    // ("Ensuring idempotency in Amazon EC2 API requests"), so the same token in another region is another request.
    const token = `${action}\u0000${callerOf(request.headers).region}\u0000${clientToken}`;
    return lock.run(async () => {
      const params = [...request.form!.entries()]
        .filter(([key]) => key !== 'ClientToken')
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => `${k}=${v}`)
        .join('&');
      const earlier = launches.get(token);
      if (earlier) {
        if (earlier.params !== params) {
          return ec2ErrorResponse(400, 'IdempotentParameterMismatch', `The client token ${clientToken} was used with other parameters.`);
        }
        return { ...earlier.response, body: Buffer.from(earlier.response.body as Buffer) };
      }
      const response = await next(request);
      if (response.status !== 200) return response;
      const body = await bufferBody(response.body);
      const answered = { ...response, body };
      launches.set(token, { params, response: answered });
      return { ...answered, body: Buffer.from(body) };
    });
  };
}
