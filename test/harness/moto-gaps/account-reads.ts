/**
 * Test harness: the account-level reads `ami-lifecycle doctor` makes that moto 5.2.1 lacks,
 * answered in the proxy as AWS answers them (one interceptor in the proxy's chain):
 *
 * - iam:SimulatePrincipalPolicy: see simulate-principal-policy.ts.
 * - lambda:GetAccountSettings (moto answers 404): the account's concurrency limit and what is
 *   left unreserved, computed from the functions moto holds and their reserved concurrency, with
 *   the default quotas of "Lambda quotas"
 *   (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html): 1,000 concurrent
 *   executions, 75 GB of code storage, 50 MB zipped and 250 MB unzipped per package.
 *
 * EC2's GetImageBlockPublicAccessState and GetEbsDefaultKmsKeyId are taught to moto itself
 * (python/sitecustomize.py), where their state lives and is reset with it.
 */
import { IAMClient } from '@aws-sdk/client-iam';
import { GetFunctionConcurrencyCommand, LambdaClient, paginateListFunctions } from '@aws-sdk/client-lambda';
import { callerOf, serviceOf } from '../sigv4.js';
import type { Interceptor, ProxiedRequest, ProxiedResponse } from '../proxy/chain.js';
import { answerSimulatePrincipalPolicy, isSimulatePrincipalPolicy } from './simulate-principal-policy.js';

/** Lambda's default quotas (bytes, executions). */
const LAMBDA_DEFAULTS = {
  ConcurrentExecutions: 1000,
  TotalCodeSize: 75 * 2 ** 30,
  CodeSizeUnzipped: 250 * 2 ** 20,
  CodeSizeZipped: 50 * 2 ** 20,
};

function isGetAccountSettings(request: ProxiedRequest): boolean {
  const path = /^\/2016-08-19\/account-settings\/?(\?|$)/;
  return request.method === 'GET' && path.test(request.url) && (serviceOf(request.headers) ?? 'lambda') === 'lambda';
}

async function answerGetAccountSettings(lambda: LambdaClient): Promise<ProxiedResponse> {
  let reserved = 0;
  let functions = 0;
  let codeSize = 0;
  for await (const page of paginateListFunctions({ client: lambda }, {})) {
    for (const fn of page.Functions ?? []) {
      functions++;
      codeSize += fn.CodeSize ?? 0;
      const { ReservedConcurrentExecutions } = await lambda.send(new GetFunctionConcurrencyCommand({ FunctionName: fn.FunctionName! }));
      reserved += ReservedConcurrentExecutions ?? 0;
    }
  }
  const body = {
    AccountLimit: { ...LAMBDA_DEFAULTS, UnreservedConcurrentExecutions: LAMBDA_DEFAULTS.ConcurrentExecutions - reserved },
    AccountUsage: { TotalCodeSize: codeSize, FunctionCount: functions },
  };
  return { status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(body), 'utf8') };
}

/** The interceptor; `upstream` is moto's origin, read directly (not through the proxy, so not counted). */
export function accountReads(upstream: string): Interceptor {
  const clients = new Map<string, { iam: IAMClient; lambda: LambdaClient }>();
  const clientsFor = (request: ProxiedRequest) => {
    const { accessKeyId, region } = callerOf(request.headers);
    const key = `${region}\u0000${accessKeyId}`;
    let found = clients.get(key);
    if (!found) {
      const config = { endpoint: upstream, region, credentials: { accessKeyId, secretAccessKey: 'testing' }, maxAttempts: 1 };
      found = { iam: new IAMClient(config), lambda: new LambdaClient(config) };
      clients.set(key, found);
    }
    return found;
  };
  return async (request, next) => {
    if (isSimulatePrincipalPolicy(request)) return answerSimulatePrincipalPolicy(request, clientsFor(request).iam);
    if (isGetAccountSettings(request)) return answerGetAccountSettings(clientsFor(request).lambda);
    return next(request);
  };
}
