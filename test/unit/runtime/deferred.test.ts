import { describe, expect, it } from 'vitest';
import { deferredPort } from '../../../shared/runtime/deferred.js';

class Gateway {
  readonly calls: string[] = [];
  async read(name: string): Promise<string> {
    this.calls.push(name);
    return `value of ${name}`;
  }
  async write(name: string, value: string): Promise<number> {
    this.calls.push(`${name}=${value}`);
    return 2;
  }
}

describe('deferredPort', () => {
  it('makes the gateway on the first call, once, and hands every call to it', async () => {
    // Prepare
    const made: Gateway[] = [];
    const port = deferredPort(
      async () => {
        const gateway = new Gateway();
        made.push(gateway);
        return gateway;
      },
      { read: true, write: true },
    );

    // Act / Assess
    expect(made).toEqual([]);
    const [a, b] = await Promise.all([port.read('a'), port.write('b', 'x')]);
    expect([a, b]).toEqual(['value of a', 2]);
    expect(await port.read('c')).toBe('value of c');
    expect(made).toHaveLength(1);
    expect(made[0]!.calls).toEqual(['a', 'b=x', 'c']);
    expect(Object.keys(port).sort()).toEqual(['read', 'write']);
  });

  it('answers a failed load with that call failing, and loads again on the next call', async () => {
    // Prepare
    let attempts = 0;
    const port = deferredPort(
      async () => {
        attempts += 1;
        if (attempts === 1) throw new Error('no module');
        return new Gateway();
      },
      { read: true },
    );

    // Act / Assess
    await expect(port.read('a')).rejects.toThrow('no module');
    expect(await port.read('a')).toBe('value of a');
    expect(attempts).toBe(2);
  });
});
