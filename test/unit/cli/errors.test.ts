import { describe, expect, it } from 'vitest';
import { EXIT, explain } from '../../../cli/errors.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import { UnknownTarget } from '../../../shared/use-cases/operator-actions.js';

const ctx = { region: 'eu-west-1' };

describe('explain', () => {
  it.each([
    ['CredentialsProviderError', EXIT.credentials],
    ['AuthFailure', EXIT.credentials],
    ['InvalidClientTokenId', EXIT.credentials],
    ['ExpiredToken', EXIT.credentials],
    ['ECONNREFUSED', EXIT.unreachable],
    ['ENOTFOUND', EXIT.unreachable],
    ['TimeoutError', EXIT.unreachable],
    ['InvalidInstanceID.NotFound', EXIT.unknown],
    ['InvalidInstanceID.Malformed', EXIT.unknown],
    ['UnauthorizedOperation', EXIT.failed],
    ['RequestLimitExceeded', EXIT.failed],
  ])('maps an AWS call failing with %s to exit code %i', (code, exit) => {
    // Prepare
    const error = new AwsCallError(code, 'DescribeInstances', 'it went wrong', false);

    // Act
    const result = explain(error, ctx);

    // Assess
    expect(result.code).toBe(exit);
    expect(result.message.length).toBeGreaterThan(10);
  });

  it('names the endpoint that did not answer, or the region when there is none', () => {
    // Prepare
    const error = new AwsCallError('ECONNREFUSED', 'DescribeImages', 'connect ECONNREFUSED', true);

    // Act
    const withEndpoint = explain(error, { ...ctx, endpoint: 'http://127.0.0.1:1' });
    const withRegion = explain(error, ctx);

    // Assess
    expect(withEndpoint.message).toContain('http://127.0.0.1:1');
    expect(withRegion.message).toContain('eu-west-1');
  });

  it('tells how to provide credentials, and that any will do for an emulator', () => {
    // Prepare
    const error = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });

    // Act
    const real = explain(error, ctx);
    const emulated = explain(error, { ...ctx, endpoint: 'http://127.0.0.1:5000' });

    // Assess
    expect(real).toMatchObject({ code: EXIT.credentials, message: expect.stringContaining('--profile') });
    expect(emulated.message).toContain('any values do');
  });

  it('passes an unknown target through with its own words, and anything else as a failure', () => {
    expect(explain(new UnknownTarget('web: no instance or image carries this lineage'), ctx)).toEqual({
      code: EXIT.unknown,
      message: 'web: no instance or image carries this lineage',
    });
    expect(explain(new Error('boom'), ctx)).toEqual({ code: EXIT.failed, message: 'boom' });
  });
});
