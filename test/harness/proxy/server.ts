/**
 * The fidelity proxy's HTTP server: the two ends of the chain (chain.ts). It decodes what the
 * client sent (the body buffered, the API action named, a Query body parsed; a rest-json action
 * is named from botocore's model, as the API model check routes it), hands it to the
 * chain, and sends the chain's answer back, or cuts the connection when a fault says so. At the
 * far end, Upstream forwards a request to moto over kept-alive connections and times moto.
 * moto's own API (`/moto-api/`, e.g. reset) goes straight to moto, uncounted.
 * TEST-ONLY.
 */
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { restOperationOf } from '../api-model/index.js';
import { CUT_CONNECTION } from './answers.js';
import type { Next, ProxiedRequest, ProxiedResponse } from './chain.js';
import { bufferBody } from './request.js';

/** moto, at the end of the chain. */
export class Upstream {
  private readonly agent = new Agent({ keepAlive: true });
  private readonly ms = new Map<string, number>();

  constructor(private readonly url: URL) {}

  /** Sends the request to moto, adding the time moto takes to answer to its action's total. */
  readonly forward: Next = async (request) => {
    const started = performance.now();
    const response = await forwardToUpstream(this.url, this.agent, request);
    const key = request.action ?? '(none)';
    const done = () => this.ms.set(key, (this.ms.get(key) ?? 0) + performance.now() - started);
    if (Buffer.isBuffer(response.body)) done();
    else response.body.once('end', done);
    return response;
  };

  /** Time moto took, by action (ms). */
  upstreamMs(): Record<string, number> {
    return Object.fromEntries([...this.ms].map(([action, ms]) => [action, Math.round(ms)]));
  }

  resetCounts(): void {
    this.ms.clear();
  }

  destroy(): void {
    this.agent.destroy();
  }
}

export interface ProxyServer {
  /** e.g. http://127.0.0.1:41234 */
  endpoint: string;
  /** Calls seen, by action (moto's own API not counted). */
  calls(): Record<string, number>;
  resetCounts(): void;
  stop(): Promise<void>;
}

/** Listens on a free loopback port: each request goes through `chain`, or to moto for moto's own API. */
export async function listen(upstream: Upstream, chain: Next): Promise<ProxyServer> {
  const counts = new Map<string, number>();
  const server = createServer((req, res) => {
    void (async () => {
      const request = await readRequest(req);
      const isMotoApi = request.url.startsWith('/moto-api/');
      if (request.action !== undefined && !isMotoApi) {
        counts.set(request.action, (counts.get(request.action) ?? 0) + 1);
      }
      const response = isMotoApi ? await upstream.forward(request) : await chain(request);
      if (response === CUT_CONNECTION) {
        // No answer at all: the client sees its connection reset (ECONNRESET / socket hang up).
        req.socket.destroy();
        return;
      }
      sendResponse(res, response);
    })().catch((error: unknown) => {
      // A harness bug, not an emulated AWS error: make it loud and obvious.
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      console.error(`[fidelity-proxy] ${req.method} ${req.url} failed: ${message}`);
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
      }
      res.end(`fidelity proxy error: ${message}`);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls: () => Object.fromEntries(counts),
    resetCounts: () => counts.clear(),
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

async function readRequest(req: IncomingMessage): Promise<ProxiedRequest> {
  const body = await bufferBody(req);
  const url = req.url ?? '/';
  const contentType = req.headers['content-type'] ?? '';
  const form = contentType.startsWith('application/x-www-form-urlencoded') ? new URLSearchParams(body.toString('utf8')) : undefined;
  const method = req.method ?? 'GET';
  return { method, url, headers: req.headers, body, form, action: actionOf(method, req.headers, url, form, body) };
}

/** The API operation name, for counting and for interceptors (and IAM) to match on. */
function actionOf(
  method: string,
  headers: IncomingHttpHeaders,
  url: string,
  form: URLSearchParams | undefined,
  body: Buffer,
): string | undefined {
  // JSON protocols: X-Amz-Target: AWSEvents.PutEvents / AmazonSQS.SendMessage
  const target = headers['x-amz-target'];
  if (typeof target === 'string' && target !== '') return target.slice(target.lastIndexOf('.') + 1);
  // Query protocol: Action in the form body (or, for GETs, the query string).
  const fromForm = form?.get('Action');
  if (fromForm) return fromForm;
  const fromQuery = new URL(url, 'http://proxy').searchParams.get('Action');
  if (fromQuery) return fromQuery;
  // Smithy RPC v2 CBOR: POST /service/<Service>/operation/<Operation>
  const cbor = /^\/service\/[^/]+\/operation\/([^/?]+)/.exec(url)?.[1];
  if (cbor) return cbor;
  // rest-json (Lambda, Scheduler): the method and path, routed through botocore's model of the
  // service the request is signed for. moto's own API is not an AWS action.
  if (url.startsWith('/moto-api/')) return undefined;
  return restOperationOf({ method, url, headers, body })?.op.name;
}

/** Hop-by-hop headers, which a proxy must not pass on. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function endToEndHeaders<T extends IncomingHttpHeaders | OutgoingHttpHeaders>(headers: T): T {
  const result = {} as Record<string, unknown>;
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name.toLowerCase())) result[name] = value;
  }
  return result as T;
}

/**
 * Sends the request to moto. The Host header is kept as the client sent it,
 * so URLs that moto builds from it (e.g. SQS QueueUrl) point back at the proxy.
 * moto does not verify SigV4 signatures, so rewritten bodies are fine.
 */
function forwardToUpstream(upstream: URL, agent: Agent, request: ProxiedRequest): Promise<ProxiedResponse> {
  const headers = endToEndHeaders(request.headers);
  delete headers['content-length'];
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      {
        protocol: upstream.protocol,
        hostname: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: request.url,
        headers: { ...headers, 'content-length': String(request.body.length) },
        agent,
      },
      (incoming) => resolve({ status: incoming.statusCode ?? 502, headers: incoming.headers, body: incoming }),
    );
    outgoing.once('error', reject);
    outgoing.end(request.body);
  });
}

function sendResponse(res: ServerResponse, response: ProxiedResponse): void {
  const headers = endToEndHeaders(response.headers);
  if (Buffer.isBuffer(response.body)) {
    for (const name of Object.keys(headers)) {
      if (name.toLowerCase() === 'content-length') delete headers[name];
    }
    res.writeHead(response.status, { ...headers, 'content-length': String(response.body.length) });
    res.end(response.body);
    return;
  }
  res.writeHead(response.status, headers);
  response.body.once('error', (error) => res.destroy(error));
  response.body.pipe(res);
}
