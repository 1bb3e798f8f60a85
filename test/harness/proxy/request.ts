/**
 * What the fidelity proxy's links read from a request, and how they rewrite a request or
 * buffer an answer. TEST-ONLY.
 */
import type { Readable } from 'node:stream';
import { serviceOf } from '../sigv4.js';
import type { ProxiedRequest } from './chain.js';

/** An EC2 Query call: a form body with an action, signed for ec2 (or not signed at all). */
export function isEc2Request(request: ProxiedRequest): boolean {
  const service = serviceOf(request.headers);
  return request.form !== undefined && request.action !== undefined && (service === undefined || service === 'ec2');
}

/** An EC2 call of this action. */
export function isEc2Action(request: ProxiedRequest, action: string): boolean {
  return request.action === action && isEc2Request(request);
}

/** A rest-json call (Lambda, Scheduler): an action named from its method and path, no form, target nor CBOR. */
export function isRestJsonRequest(request: ProxiedRequest): boolean {
  const headers = request.headers;
  return (
    request.action !== undefined &&
    request.form === undefined &&
    typeof headers['x-amz-target'] !== 'string' &&
    headers['smithy-protocol'] === undefined
  );
}

/** A rest-json call of this action to the service signed as `service` (e.g. scheduler). */
export function isRestJsonAction(request: ProxiedRequest, service: string, action: string): boolean {
  return request.action === action && isRestJsonRequest(request) && serviceOf(request.headers) === service;
}

/** The same request with another form body. */
export function withForm(request: ProxiedRequest, form: URLSearchParams): ProxiedRequest {
  return { ...request, form, body: Buffer.from(form.toString(), 'utf8') };
}

/** The whole body of a request or an answer. */
export async function bufferBody(body: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body;
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

/** Minimal async mutex: runs tasks one after another, in call order. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
