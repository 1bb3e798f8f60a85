/**
 * Test harness: runs a real `moto_server` (the Python AWS emulator) as a child
 * process on a free loopback port. Test-only code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface MotoServer {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  endpoint: string;
  port: number;
  /** Wipes all emulated state (POST /moto-api/reset). */
  reset(): Promise<void>;
  /** Kills the process and waits until it has exited. Idempotent. */
  stop(): Promise<void>;
}

export interface StartMotoOptions {
  /** Fixed port; by default a free loopback port is picked. */
  port?: number;
}

const MOTO_BINARY = 'moto_server';
const HARNESS_PYTHON = join(dirname(fileURLToPath(import.meta.url)), 'python');
/**
 * The public images moto lists: its 44 default AMIs (moto's own amis.json, MOTO_BASE_AMI among them),
 * without the 1,133 regional "latest" and ECS-optimized ones it adds unless MOTO_AMIS_PATH is set.
 * moto creates those again, each with a volume and a snapshot, on the first EC2 call after every reset,
 * and lists their snapshots in every DescribeSnapshots: about half a second per reset and per state
 * read (test/harness/state.ts), which the crash suites make hundreds of times. No test launches from them.
 */
const MOTO_AMIS = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'moto-amis.json');
const NOT_FOUND_MESSAGE = "moto_server not found on PATH: install it with pip install 'moto[server]'";
const STARTUP_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;
const STDERR_TAIL_CHARS = 4_000;
const MAX_PORT_ATTEMPTS = 3;

/** Every moto process this module started and has not yet seen exit. */
const liveChildren = new Set<ChildProcess>();
let exitHooksInstalled = false;

export async function startMoto(options: StartMotoOptions = {}): Promise<MotoServer> {
  // Picking a free port and then handing it to another process is racy; retry
  // with a new port if moto could not bind it (only when we chose the port).
  const attempts = options.port === undefined ? MAX_PORT_ATTEMPTS : 1;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const port = options.port ?? (await findFreePort());
    try {
      return await launch(port);
    } catch (error) {
      lastError = error;
      if (!(error instanceof Error) || !/address already in use/i.test(error.message)) throw error;
    }
  }
  throw lastError;
}

/**
 * A moto_server started by someone else (for instance the one AWS_ENDPOINT_URL names):
 * checked to answer, then used as is. stop() leaves it running; reset() wipes it.
 */
export async function useRunningMoto(endpoint: string): Promise<MotoServer> {
  const url = new URL(endpoint);
  const base = url.origin;
  if (!(await waitUntilAnswering(base, 5_000, new AbortController().signal))) {
    throw new Error(`nothing answers at ${base}: start moto_server there first, or leave AWS_ENDPOINT_URL unset`);
  }
  return {
    endpoint: base,
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    reset: async () => {
      const response = await fetch(`${base}/moto-api/reset`, { method: 'POST' });
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`moto reset failed: HTTP ${response.status}`);
    },
    stop: async () => undefined,
  };
}

/**
 * Whether startMoto failed because moto_server is not installed: not on PATH at all,
 * or a shim (pyenv, asdf) that found no moto_server behind it and exited 127.
 */
export function isMotoMissing(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return error.message === NOT_FOUND_MESSAGE || error.message.startsWith(`${MOTO_BINARY} exited before it was ready (code 127,`);
}

export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not determine a free port'));
        return;
      }
      const { port } = address;
      server.close(() => resolve(port));
    });
  });
}

async function launch(port: number): Promise<MotoServer> {
  installExitHooks();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(MOTO_BINARY, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      PYTHONUNBUFFERED: '1',
      // Loads python/sitecustomize.py into moto: a cache that makes its EventBridge routing fast.
      PYTHONPATH: [HARNESS_PYTHON, process.env.PYTHONPATH].filter(Boolean).join(delimiter),
      MOTO_AMIS_PATH: process.env.MOTO_AMIS_PATH ?? MOTO_AMIS,
    },
  });
  liveChildren.add(child);

  // moto logs every request; keep only a tail, and keep draining the pipes so
  // the child never blocks on a full pipe buffer.
  let output = '';
  const keepTail = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-STDERR_TAIL_CHARS);
  };
  child.stdout?.on('data', keepTail);
  child.stderr?.on('data', keepTail);

  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once('close', () => resolve());
    child.once('error', () => resolve()); // spawn failure: there never was a process
  });
  void exited.then(() => liveChildren.delete(child));

  const failure = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'ENOENT' ? new Error(NOT_FOUND_MESSAGE) : new Error(`could not start ${MOTO_BINARY}: ${error.message}`));
    });
    child.once('exit', (code, signal) => {
      // Give the pipes a moment to deliver the last stderr lines.
      setTimeout(() => {
        reject(new Error(`${MOTO_BINARY} exited before it was ready (code ${code}, signal ${signal}); output tail:\n${output.trim()}`));
      }, 50);
    });
  });
  failure.catch(() => undefined); // handled via Promise.race below; avoid unhandled rejection later

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      liveChildren.delete(child);
    })();
    return stopping;
  };

  const polling = new AbortController();
  try {
    const answered = await Promise.race([waitUntilAnswering(endpoint, STARTUP_TIMEOUT_MS, polling.signal), failure]);
    if (!answered) {
      throw new Error(`timed out after ${STARTUP_TIMEOUT_MS} ms waiting for ${MOTO_BINARY} at ${endpoint}; output tail:\n${output.trim()}`);
    }
  } catch (error) {
    await stop();
    throw error;
  } finally {
    polling.abort();
  }

  return {
    endpoint,
    port,
    reset: async () => {
      const response = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`moto reset failed: HTTP ${response.status}`);
    },
    stop,
  };
}

/** Polls until the server gives any HTTP answer at all; false on timeout. */
async function waitUntilAnswering(endpoint: string, timeoutMs: number, cancelled: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !cancelled.aborted) {
    try {
      // `/` is cheap (moto answers an empty S3 ListBuckets); /moto-api/data.json is megabytes.
      const response = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(1_000) });
      await response.arrayBuffer();
      return true;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return false;
}

/**
 * A crashed or interrupted test run must not leave moto running. 'exit'
 * handlers may only do synchronous work, and kill() is synchronous.
 */
function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  const killAll = (): void => {
    for (const child of liveChildren) child.kill('SIGKILL');
    liveChildren.clear();
  };
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAll();
      // Keep the default behaviour (terminate) unless someone else handles it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.once(signal, onSignal);
  }
}
