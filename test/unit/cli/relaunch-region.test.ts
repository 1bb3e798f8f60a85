/**
 * `relaunch <lineage> --region R` (issue 17): commander reads every --region as the one global
 * option; the position tells the stack's region (before the command) from the DR region (after).
 */
import { describe, expect, it } from 'vitest';
import { regionsAround } from '../../../cli/main.js';

const argv = (...args: string[]) => ['node', 'ami-lifecycle', ...args];

describe('the regions of a relaunch', () => {
  it('tells the stack’s region from the DR region by where each is given', () => {
    expect(regionsAround(argv('relaunch', 'web', '--region', 'eu-west-1'), 'relaunch')).toEqual({ after: 'eu-west-1' });
    expect(regionsAround(argv('--region', 'us-east-1', 'relaunch', 'web', '-r', 'eu-west-1'), 'relaunch')).toEqual({
      before: 'us-east-1',
      after: 'eu-west-1',
    });
    expect(
      regionsAround(argv('--stage', 'relaunch', '--region=us-east-1', 'relaunch', 'web', '--region=eu-west-1', '--dry-run'), 'relaunch'),
    ).toEqual({
      before: 'us-east-1',
      after: 'eu-west-1',
    });
    // As before issue 17: a region before the command is the stack's.
    expect(
      regionsAround(argv('-r', 'eu-west-1', '--endpoint', 'http://127.0.0.1:5000', 'relaunch', 'i-0123456789abcdef0'), 'relaunch'),
    ).toEqual({
      before: 'eu-west-1',
    });
    expect(regionsAround(argv('status', '--region', 'eu-west-1'), 'relaunch')).toEqual({});
  });
});
