/**
 * Moto gap: moto stamps every stop and termination Client.UserInitiatedShutdown. EC2 reports why
 * an instance changed state in its StateReason, with codes such as Server.InternalError,
 * Server.SpotInstanceTermination or Client.InternalError (API reference, StateReason:
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_StateReason.html).
 * TEST-ONLY.
 */
import type { Interceptor } from '../proxy/chain.js';
import { bufferBody, isEc2Action } from '../proxy/request.js';

/** Instance id -> the state reason DescribeInstances reports for it. */
export type StateReasons = Map<string, { code: string; message: string }>;

/**
 * moto stamps every stop and termination `Client.UserInitiatedShutdown`. Instances
 * given a reason with setStateReason report it instead, so that failures by AWS
 * (`Server.InternalError`, spot interruptions) can be staged. In moto's answer an
 * instance's stateReason comes before its own instanceId.
 */
export function simulatedStateReasons(reasons: StateReasons): Interceptor {
  return async (request, next) => {
    if (!isEc2Action(request, 'DescribeInstances') || reasons.size === 0) return next(request);
    const response = await next(request);
    if (response.status !== 200) return response;
    const body = (await bufferBody(response.body))
      .toString('utf8')
      .replace(
        /<stateReason>(?:(?!<stateReason)[\s\S])*?<\/stateReason>((?:(?!<stateReason)[\s\S])*?)<instanceId>(i-[0-9a-f]+)<\/instanceId>/g,
        (whole, between: string, id: string) => {
          const reason = reasons.get(id);
          if (!reason) return whole;
          return `<stateReason><code>${reason.code}</code><message>${reason.message}</message></stateReason>${between}<instanceId>${id}</instanceId>`;
        },
      );
    const headers = { ...response.headers };
    delete headers['content-length'];
    return { ...response, headers, body: Buffer.from(body, 'utf8') };
  };
}
