/**
 * Per-function identity for handlers that all run in one process and share their SDK
 * clients (and so the SDK's one default credential chain). In Lambda each function signs
 * its calls with its own role's session credentials; here LocalCloud.invoke runs a handler
 * inside an AsyncLocalStorage store naming the function, and a diagnostics_channel
 * subscriber puts that function's own access key id into the SigV4 `Authorization`
 * header of every request made inside the store to the LocalCloud's proxy. The proxy
 * maps the key back to the function (and its role), evaluates the call, and hands moto
 * the caller's original key again, so that moto and the proxy's own per-key state see
 * the account exactly as before. (moto derives the account from the access key and
 * answers any key it has not issued with its default account 123456789012:
 * moto/iam/models.py get_account_id_from, moto/core/responses.py get_current_account.)
 *
 * Requests made outside any invocation (a test's own setup through the proxy, the CLI
 * in tests) keep the caller's key and are not evaluated: they act as an administrator.
 *
 * 'http.client.request.created' is published synchronously in the ClientRequest
 * constructor, in the caller's async context and before the headers are written, so
 * the header can still be set there (Node 24; see node:http diagnostics channels).
 * TEST-ONLY. Product code knows nothing of it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { credentialOf, withAccessKey } from '../sigv4.js';

export interface Invocation {
  /** The deployed function name (Lambda's role session name). */
  functionName: string;
  accessKeyId: string;
  /** host:port of the proxy whose requests carry this identity. */
  proxyHost: string;
}

const store = new AsyncLocalStorage<Invocation>();
/** Function access key -> the key the caller signed with before it was rewritten. */
const callerKeys = new Map<string, string>();
let subscribed = false;

/** The access key id a function signs with: stable per function name, shaped like a session key (ASIA + 16). */
export function functionAccessKey(functionName: string): string {
  const digest = createHash('sha256').update(functionName).digest();
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let key = 'ASIA';
  for (let i = 0; key.length < 20; i++) key += alphabet[digest[i]! % 32];
  return key;
}

/** The key the caller had signed with before a function key replaced it (undefined: not a function key). */
export function callerKeyOf(accessKeyId: string): string | undefined {
  return callerKeys.get(accessKeyId);
}

/** Runs `fn` as the function: requests it makes to `proxyEndpoint` carry the function's access key. */
export function runAsFunction<T>(functionName: string, proxyEndpoint: string, fn: () => T): T {
  subscribeOnce();
  const invocation: Invocation = { functionName, accessKeyId: functionAccessKey(functionName), proxyHost: new URL(proxyEndpoint).host };
  return store.run(invocation, fn);
}

/** The invocation the current async context runs in, if any. */
export function currentInvocation(): Invocation | undefined {
  return store.getStore();
}

function subscribeOnce(): void {
  if (subscribed) return;
  subscribed = true;
  subscribe('http.client.request.created', (message) => {
    const invocation = store.getStore();
    if (invocation === undefined) return;
    const request = (message as { request: ClientRequest }).request;
    if (request.headersSent || String(request.getHeader('host') ?? '') !== invocation.proxyHost) return;
    const authorization = request.getHeader('authorization');
    if (typeof authorization !== 'string') return;
    const original = credentialOf(authorization)?.accessKeyId;
    if (original === undefined || original === invocation.accessKeyId) return;
    callerKeys.set(invocation.accessKeyId, original);
    request.setHeader('authorization', withAccessKey(authorization, invocation.accessKeyId));
  });
}
