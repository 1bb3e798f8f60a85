/** What the gateway tests share: the mocked EC2 transport, the gateway under test, SDK-shaped errors. */
import { expect } from 'vitest';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { EC2Client } from '@aws-sdk/client-ec2';
import { Ec2Gateway } from '../../../shared/aws/ec2-gateway.js';

expect.extend(allCustomMatcher);

export const ec2Mock = mockClient(EC2Client);

/** A gateway whose client does not retry, so each test sees every call it causes. */
export const gateway = (pageSize?: number) => new Ec2Gateway(new EC2Client({ region: 'us-east-1', maxAttempts: 1 }), pageSize);

/** An error as the SDK throws it for an EC2 error response. */
export const awsError = (name: string, httpStatusCode = 400, fault: 'client' | 'server' = 'client') =>
  Object.assign(new Error(`${name}: something went wrong`), { name, $metadata: { httpStatusCode }, $fault: fault });

export async function collect<T>(pages: AsyncIterable<T[]>): Promise<T[][]> {
  const out: T[][] = [];
  for await (const page of pages) out.push(page);
  return out;
}

/** A callsFake that answers `pages` in turn and records each input as it was sent (the paginators reuse one object). */
export function answerPages<I extends object, O>(pages: O[]): { sent: I[]; fake: (input: I) => O } {
  const sent: I[] = [];
  return {
    sent,
    fake: (input: I) => {
      sent.push(structuredClone(input));
      const page = pages[sent.length - 1];
      if (!page) throw new Error(`no page ${sent.length}`);
      return page;
    },
  };
}
