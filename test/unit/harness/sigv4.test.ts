/**
 * The harness's one SigV4 helper (test/harness/sigv4.ts): it reads the credential of the header
 * AWS documents and of the header the SDK really signs, and swaps the access key alone.
 */
import { describe, expect, it } from 'vitest';
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { callerOf, credentialOf, serviceOf, withAccessKey } from '../../harness/sigv4.js';

/** IAM User Guide, "Authentication methods": the SigV4 example header. */
const DOCUMENTED =
  'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ' +
  'SignedHeaders=host;range;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024';

/** The Authorization header the SDK signs for a call, captured at its HTTP handler (never sent). */
async function signedBySdk(): Promise<string> {
  const client = new EC2Client({
    region: 'eu-west-3',
    credentials: { accessKeyId: 'AKIDSIGNEDBYSDK', secretAccessKey: 'secret' },
    maxAttempts: 1,
    requestHandler: {
      handle: async (request: { headers: Record<string, string> }) => {
        throw Object.assign(new Error('captured'), { authorization: request.headers.authorization });
      },
    },
  });
  try {
    await client.send(new DescribeImagesCommand({ Owners: ['self'] }));
  } catch (error) {
    const authorization = (error as { authorization?: string }).authorization;
    if (authorization) return authorization;
    throw error;
  } finally {
    client.destroy();
  }
  throw new Error('the request was sent');
}

describe('sigv4', () => {
  it('reads the credential of the header AWS documents', () => {
    expect(credentialOf(DOCUMENTED)).toEqual({ accessKeyId: 'AKIAIOSFODNN7EXAMPLE', date: '20130524', region: 'us-east-1', service: 's3' });
    expect(serviceOf({ authorization: DOCUMENTED })).toBe('s3');
    expect(callerOf({ authorization: DOCUMENTED })).toEqual({ accessKeyId: 'AKIAIOSFODNN7EXAMPLE', region: 'us-east-1' });
  });

  it('reads the credential of the header the SDK signs', async () => {
    const authorization = await signedBySdk();
    expect(authorization).toMatch(/^AWS4-HMAC-SHA256 /);
    expect(credentialOf(authorization)).toEqual({
      accessKeyId: 'AKIDSIGNEDBYSDK',
      date: expect.stringMatching(/^\d{8}$/),
      region: 'eu-west-3',
      service: 'ec2',
    });
  });

  it("answers an unsigned request as moto does: no credential, moto's default key and region", () => {
    expect(credentialOf(undefined)).toBeUndefined();
    expect(credentialOf('Bearer token')).toBeUndefined();
    expect(serviceOf({})).toBeUndefined();
    expect(callerOf({})).toEqual({ accessKeyId: 'testing', region: 'us-east-1' });
  });

  it('swaps the access key and nothing else, and swaps it back', () => {
    const swapped = withAccessKey(DOCUMENTED, 'ASIAFUNCTIONKEY00000');
    expect(credentialOf(swapped)).toEqual({ ...credentialOf(DOCUMENTED), accessKeyId: 'ASIAFUNCTIONKEY00000' });
    expect(swapped.replace('ASIAFUNCTIONKEY00000', 'AKIAIOSFODNN7EXAMPLE')).toBe(DOCUMENTED);
    expect(withAccessKey(swapped, 'AKIAIOSFODNN7EXAMPLE')).toBe(DOCUMENTED);
    // A key with characters special to String.replace is put in as written.
    expect(credentialOf(withAccessKey(DOCUMENTED, 'KEY$&$1'))?.accessKeyId).toBe('KEY$&$1');
  });
});
