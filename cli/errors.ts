/**
 * Exit codes of the CLI, and the plain words for the errors an operator meets most.
 *
 *   0  done
 *   1  the operation failed or part of it did (AWS refused, some instances not baked)
 *   2  usage: an unknown command or option, a missing argument
 *   3  no usable credentials (none found, expired, or refused as invalid)
 *   4  the endpoint did not answer (wrong --endpoint, no network, moto not running)
 *   5  unknown instance or lineage
 */
import { AwsCallError } from '../shared/use-cases/errors.js';
import { UnknownTarget } from '../shared/use-cases/operator-actions.js';

export const EXIT = { ok: 0, failed: 1, usage: 2, credentials: 3, unreachable: 4, unknown: 5 } as const;

const CREDENTIAL_CODES = new Set([
  'CredentialsProviderError',
  'AuthFailure',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'ExpiredToken',
  'ExpiredTokenException',
  'SignatureDoesNotMatch',
]);
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'TimeoutError']);

export function explain(error: unknown, context: { endpoint?: string | undefined; region: string }): { code: number; message: string } {
  const name = (error as { name?: string })?.name ?? '';
  const code = error instanceof AwsCallError ? error.code : name || ((error as { code?: string })?.code ?? '');
  if (error instanceof UnknownTarget) return { code: EXIT.unknown, message: error.message };
  if (CREDENTIAL_CODES.has(code) || CREDENTIAL_CODES.has(name)) {
    return {
      code: EXIT.credentials,
      message: `no usable AWS credentials (${code}): set AWS_PROFILE or pass --profile, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY${context.endpoint ? ' (any values do for an emulator)' : ''}`,
    };
  }
  if (UNREACHABLE_CODES.has(code)) {
    const where = context.endpoint ?? `the AWS endpoints of ${context.region}`;
    return { code: EXIT.unreachable, message: `${where} did not answer (${code}); check --endpoint / --region and the network` };
  }
  if (code === 'InvalidInstanceID.NotFound' || code === 'InvalidInstanceID.Malformed') {
    return { code: EXIT.unknown, message: error instanceof Error ? error.message : String(error) };
  }
  if (error instanceof AwsCallError) return { code: EXIT.failed, message: `AWS refused ${error.message}` };
  return { code: EXIT.failed, message: error instanceof Error ? error.message : String(error) };
}
