/**
 * Answers the fidelity proxy gives by itself, in the protocol of the call: the error shapes
 * AWS sends (used by the faults, the API model, IAM and the moto-gap links), and the marker
 * that makes the server cut the connection instead of answering.
 * TEST-ONLY.
 */
import { randomUUID } from 'node:crypto';
import type { ProxiedRequest, ProxiedResponse } from './chain.js';
import { isEc2Request, isRestJsonRequest } from './request.js';

/** A marker answer: the proxy destroys the client's connection instead of answering. */
export const CUT_CONNECTION: ProxiedResponse = Object.freeze({ status: 0, headers: {}, body: Buffer.alloc(0) }) as ProxiedResponse;

function escapeXml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&apos;');
}

/** An error answer in EC2's XML shape, as AWS sends it. */
export function ec2ErrorResponse(status: number, code: string, message: string): ProxiedResponse {
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>' +
    `<Response><Errors><Error><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error></Errors>` +
    `<RequestID>${randomUUID()}</RequestID></Response>`;
  return { status, headers: { 'content-type': 'text/xml;charset=UTF-8' }, body: Buffer.from(body, 'utf8') };
}

/**
 * An error answer of a rest-json service (Lambda, Scheduler): the code in the
 * `x-amzn-errortype` header, the message in the body's `Message` (the member the
 * services' error shapes declare, e.g. Scheduler's ValidationException).
 */
export function restJsonErrorResponse(status: number, code: string, message: string): ProxiedResponse {
  return {
    status,
    headers: { 'content-type': 'application/json', 'x-amzn-errortype': code, 'x-amzn-requestid': randomUUID() },
    body: Buffer.from(JSON.stringify({ Message: message }), 'utf8'),
  };
}

/**
 * An error answer in the request's own protocol: EC2's XML for EC2, the JSON shape
 * for JSON protocols (EventBridge, SQS), the AWS Query shape for other Query calls,
 * the rest-json shape for Lambda and Scheduler, and a bare status for the rest
 * (Smithy RPC v2 CBOR).
 */
export function errorResponseFor(request: ProxiedRequest, status: number, code: string, message: string): ProxiedResponse {
  if (isEc2Request(request)) return ec2ErrorResponse(status, code, message);
  if (typeof request.headers['x-amz-target'] === 'string') {
    const body = JSON.stringify({ __type: code, message });
    return {
      status,
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': code, 'x-amzn-requestid': randomUUID() },
      body: Buffer.from(body, 'utf8'),
    };
  }
  if (request.form !== undefined) {
    const type = status >= 500 ? 'Receiver' : 'Sender';
    const body =
      `<ErrorResponse><Error><Type>${type}</Type><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error>` +
      `<RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
    return { status, headers: { 'content-type': 'text/xml' }, body: Buffer.from(body, 'utf8') };
  }
  if (isRestJsonRequest(request)) return restJsonErrorResponse(status, code, message);
  return {
    status,
    headers: { 'x-amzn-errortype': code, 'x-amzn-query-error': `${code};${status >= 500 ? 'Receiver' : 'Sender'}` },
    body: Buffer.alloc(0),
  };
}
