/**
 * SigV4, as far as the harness reads and rewrites it: the credential in a request's
 * `Authorization` header. AWS documents its form (IAM User Guide, "Authentication methods",
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-authentication-methods.html):
 *
 *   AWS4-HMAC-SHA256 Credential=<access key id>/<YYYYMMDD>/<region>/<service>/aws4_request,
 *   SignedHeaders=..., Signature=...
 *
 * The harness never signs and never checks a signature (moto checks none). It reads who signed
 * (the access key: moto derives the account from it, the IAM link the function), where (the
 * region) and for which service (the signing name), and swaps the access key (iam/identity.ts
 * puts a function's key in, iam/enforcer.ts puts the caller's back). This is the only place
 * that parses or rewrites the header. TEST-ONLY.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** The credential scope of a signed request. */
export interface Credential {
  accessKeyId: string;
  /** YYYYMMDD. */
  date: string;
  region: string;
  /** The signing name, e.g. ec2, events, monitoring. */
  service: string;
}

const CREDENTIAL = /Credential=([^/,\s]+)\/([^/]+)\/([^/]+)\/([^/]+)\//;
const ACCESS_KEY = /Credential=[^/,\s]+\//;

/** What moto answers an unsigned request as: its default key and region. */
const MOTO_DEFAULT = { accessKeyId: 'testing', region: 'us-east-1' };

/** The credential of an `Authorization` header; undefined when it carries none. */
export function credentialOf(authorization: string | undefined): Credential | undefined {
  const match = CREDENTIAL.exec(authorization ?? '');
  if (!match) return undefined;
  return { accessKeyId: match[1]!, date: match[2]!, region: match[3]!, service: match[4]! };
}

/** The service a request is signed for (SigV4 credential scope), e.g. ec2, events, sqs. */
export function serviceOf(headers: IncomingHttpHeaders): string | undefined {
  return credentialOf(headers.authorization)?.service;
}

/** The caller's access key and region; moto's defaults for an unsigned request. */
export function callerOf(headers: IncomingHttpHeaders): { accessKeyId: string; region: string } {
  const credential = credentialOf(headers.authorization);
  return credential ? { accessKeyId: credential.accessKeyId, region: credential.region } : { ...MOTO_DEFAULT };
}

/** The same `Authorization` header, signed (as far as moto can tell) with another access key. */
export function withAccessKey(authorization: string, accessKeyId: string): string {
  return authorization.replace(ACCESS_KEY, () => `Credential=${accessKeyId}/`);
}
