/**
 * One LocalCloud for a test file: started before its tests, reset before each one
 * (unless `reset: false`), stopped after. The returned object stands for the
 * started cloud, so tests write `cloud.launch(...)` as with a plain variable.
 */
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { PACKAGING_HOOK_TIMEOUT_MS } from '../infra/packaged.js';
import { LocalCloud, type LocalCloudOptions } from './local-cloud.js';

export function cloudPerFile(options: LocalCloudOptions & { reset?: boolean } = {}): LocalCloud {
  const { reset = true, ...start } = options;
  let current: LocalCloud | undefined;
  beforeAll(async () => {
    current = await LocalCloud.start(start);
  }, PACKAGING_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    await current?.stop();
  });
  if (reset) beforeEach(async () => current!.reset());
  return new Proxy({} as LocalCloud, {
    get(_target, property) {
      if (!current) throw new Error('the LocalCloud is used before its beforeAll started it');
      const value: unknown = Reflect.get(current, property, current);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(current) : value;
    },
    // A test that stands in for a method (cloud.invokePayload = ...) replaces the cloud's own.
    set(_target, property, value) {
      if (!current) throw new Error('the LocalCloud is used before its beforeAll started it');
      return Reflect.set(current, property, value, current);
    },
  });
}
