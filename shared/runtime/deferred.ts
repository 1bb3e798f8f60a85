/**
 * Ports whose gateway is made on their first call: its module, and its AWS SDK client's, are
 * evaluated then, never at load. For what a function needs on one path only (SSM: a verification's
 * command, the scheduled adoption, an ssm: promotion target), so that a cold start on the other
 * paths pays nothing for it (issue 18). esbuild keeps a module reached through `import()` in the
 * bundle but evaluates it when the import runs; a static import of it anywhere else would undo that.
 */
import { ssmClient } from '../aws/clients.js';
import type { SsmGateway } from '../aws/ssm-gateway.js';

/** The keys of G's methods that answer a promise: the ones a deferred port can stand in for. */
type AsyncMethod<G> = {
  // biome-ignore lint/suspicious/noExplicitAny: any parameter list: only the promise matters.
  [K in keyof G]: G[K] extends (...args: any[]) => Promise<unknown> ? K : never;
}[keyof G];

/**
 * The methods named of the gateway `load` makes, each loading it on the first call of any (once;
 * a load that failed is tried again on the next call).
 */
export function deferredPort<G, K extends AsyncMethod<G>>(load: () => Promise<G>, methods: Record<K, true>): Pick<G, K> {
  let loading: Promise<G> | undefined;
  const gateway = () =>
    (loading ??= load().catch((error: unknown) => {
      loading = undefined;
      throw error;
    }));
  const port: Partial<Record<K, unknown>> = {};
  for (const name of Object.keys(methods) as K[]) {
    port[name] = async (...args: unknown[]) => {
      const loaded = await gateway();
      return (loaded[name] as (...args: unknown[]) => Promise<unknown>).apply(loaded, args);
    };
  }
  return port as Pick<G, K>;
}

/** SSM's gateway, with the methods named, loaded on the first call of one. */
export function deferredSsm<K extends AsyncMethod<SsmGateway>>(methods: Record<K, true>): Pick<SsmGateway, K> {
  return deferredPort(async () => {
    const [{ SsmGateway }, client] = await Promise.all([import('../aws/ssm-gateway.js'), ssmClient()]);
    return new SsmGateway(client);
  }, methods);
}
