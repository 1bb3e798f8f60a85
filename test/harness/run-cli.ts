/**
 * Runs the operator CLI in-process, as `ami-lifecycle <argv...>`, capturing what it writes to
 * stdout and stderr; the streams and process.exitCode are put back whatever happens.
 * TEST-ONLY.
 */
import { vi } from 'vitest';
import { main } from '../../cli/main.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(argv: string[]): Promise<CliRun> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const capture = (into: string[]) =>
    ((chunk: string | Uint8Array) => {
      into.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    }) as typeof process.stdout.write;
  const outSpy = vi.spyOn(process.stdout, 'write').mockImplementation(capture(stdout));
  const errSpy = vi.spyOn(process.stderr, 'write').mockImplementation(capture(stderr));
  try {
    const code = await main(['node', 'ami-lifecycle', ...argv]);
    return { code, stdout: stdout.join(''), stderr: stderr.join('') };
  } finally {
    outSpy.mockRestore();
    errSpy.mockRestore();
    // main() reports through process.exitCode too: do not let it become the test worker's.
    process.exitCode = undefined;
  }
}
