/**
 * `relaunch <lineage> --region R` (issue 17): global options go before the command
 * (enablePositionalOptions), so a --region after `relaunch` is the DR region, and one before it
 * the stack's region.
 */
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../../cli/main.js';

/** The options commander gives the program and the relaunch command for these arguments (nothing is run). */
function parsed(...args: string[]): { global: Record<string, unknown>; relaunch: Record<string, unknown> } {
  const program = buildProgram();
  const relaunch = program.commands.find((c) => c.name() === 'relaunch')!;
  relaunch.action(() => undefined);
  program.parse(['node', 'ami-lifecycle', ...args]);
  return { global: program.opts(), relaunch: relaunch.opts() };
}

describe('the regions of a relaunch', () => {
  it('tells the stack’s region (before the command) from the DR region (after it)', () => {
    expect(parsed('relaunch', 'web', '--region', 'eu-west-1')).toMatchObject({ global: {}, relaunch: { region: 'eu-west-1' } });
    expect(parsed('--region', 'us-east-1', 'relaunch', 'web', '--region', 'eu-west-1', '--dry-run')).toMatchObject({
      global: { region: 'us-east-1' },
      relaunch: { region: 'eu-west-1', dryRun: true },
    });
    expect(parsed('--region=us-east-1', 'relaunch', 'web', '--region=eu-west-1')).toMatchObject({
      global: { region: 'us-east-1' },
      relaunch: { region: 'eu-west-1' },
    });
    // As before issue 17: a region before the command is the stack's, and relaunch has none of its own.
    const plain = parsed('-r', 'eu-west-1', '--endpoint', 'http://127.0.0.1:5000', 'relaunch', 'i-0123456789abcdef0');
    expect(plain.global).toMatchObject({ region: 'eu-west-1' });
    expect(plain.relaunch.region).toBeUndefined();
  });
});
