/**
 * The API model checker (test/harness/api-model) on requests as the SDK really sends them: each
 * request is captured at the SDK's HTTP handler, then read back per protocol and checked
 * against botocore's model. Needs botocore (it comes with moto).
 */
import { describe, expect, it } from 'vitest';
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import {
  CreateImageCommand,
  DescribeImageReferencesCommand,
  DescribeImagesCommand,
  EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { checkRequest } from '../../harness/api-model/index.js';
import { loadService } from '../../harness/api-model/botocore.js';
import { decodeForm, decodeJson, decodeRestJson, routeRest, Unparsable } from '../../harness/api-model/deserialize.js';
import { javaPattern, translateJavaRegex } from '../../harness/api-model/java-regex.js';
import { validateInput } from '../../harness/api-model/validate.js';

/** What the SDK hands its HTTP handler. */
interface HttpRequest {
  method: string;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: unknown;
}

/** The HTTP request an SDK command would send, signed, never sent. */
async function wire(
  client: { send(c: unknown): Promise<unknown>; destroy(): void },
  command: unknown,
): Promise<{
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Buffer;
}> {
  try {
    await client.send(command);
  } catch (error) {
    const captured = (error as { captured?: HttpRequest }).captured;
    if (!captured) throw error;
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(captured.query ?? {})) {
      for (const item of Array.isArray(v) ? v : [v]) if (item !== null && item !== undefined) query.append(k, item);
    }
    const qs = query.toString();
    const headers: Record<string, string> = Object.fromEntries(Object.entries(captured.headers).map(([k, v]) => [k.toLowerCase(), v]));
    const body = captured.body === undefined ? Buffer.alloc(0) : Buffer.from(captured.body as string | Uint8Array);
    return { method: captured.method, url: `${captured.path}${qs ? `?${qs}` : ''}`, headers, body };
  } finally {
    client.destroy();
  }
  throw new Error('the request was sent');
}

const capture = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  maxAttempts: 1,
  requestHandler: {
    handle: async (request: HttpRequest) => {
      throw Object.assign(new Error('captured'), { captured: request });
    },
  },
};

const ids = (n: number) => Array.from({ length: n }, (_, i) => `ami-${i.toString(16).padStart(17, '0')}`);
const entry = (over: Partial<PutEventsRequestEntry> = {}): PutEventsRequestEntry => ({
  Source: 'ami-lifecycle',
  DetailType: 'ImageBaked',
  Detail: '{}',
  ...over,
});

describe('reading requests back (deserialisers)', () => {
  it('EC2 query: nested lists of structures, flattened as Name.N, under queryName / locationName', () => {
    const ec2 = loadService('ec2')!;
    const params = new URLSearchParams([
      ['Action', 'RunInstances'],
      ['Version', '2016-11-15'],
      ['ImageId', 'ami-1'],
      ['MinCount', '1'],
      ['MaxCount', '1'],
      ['TagSpecification.1.ResourceType', 'instance'],
      ['TagSpecification.1.Tag.2.Key', 'b'],
      ['TagSpecification.1.Tag.2.Value', 'B'],
      ['TagSpecification.1.Tag.1.Key', 'a'],
      ['TagSpecification.1.Tag.1.Value', 'A'],
      // locationName networkInterfaceId capitalised; queryName PrivateIpAddresses
      ['NetworkInterface.1.DeviceIndex', '0'],
      ['NetworkInterface.1.PrivateIpAddresses.1.PrivateIpAddress', '10.0.0.5'],
      ['NetworkInterface.1.PrivateIpAddresses.1.Primary', 'true'],
    ]);
    const { input, unknown } = decodeForm(ec2, ec2.operations.RunInstances!, params);
    expect(unknown).toEqual([]);
    expect(input.TagSpecifications).toEqual([
      {
        ResourceType: 'instance',
        Tags: [
          { Key: 'a', Value: 'A' },
          { Key: 'b', Value: 'B' },
        ],
      },
    ]);
    expect(input.NetworkInterfaces).toEqual([{ DeviceIndex: 0, PrivateIpAddresses: [{ PrivateIpAddress: '10.0.0.5', Primary: true }] }]);
    expect(input.MinCount).toBe(1);
  });

  it('EC2 query: Filter.1.Value.3 is the third value of the first filter; unknown names are kept', () => {
    const ec2 = loadService('ec2')!;
    const params = new URLSearchParams([
      ['Action', 'DescribeImages'],
      ['Filter.1.Name', 'tag:x'],
      ['Filter.1.Value.3', 'c'],
      ['Filter.1.Value.1', 'a'],
      ['Filter.1.Value.2', 'b'],
      ['Filter.2.Name', 'state'],
      ['Filter.2.Value.1', 'available'],
      ['Filter.2.Bogus', 'x'],
      ['Owner.1', 'self'],
      ['Filters.1.Name', 'plural is the SDK name, not the wire name'],
    ]);
    const { input, unknown } = decodeForm(ec2, ec2.operations.DescribeImages!, params);
    expect(input.Filters).toEqual([
      { Name: 'tag:x', Values: ['a', 'b', 'c'] },
      { Name: 'state', Values: ['available'] },
    ]);
    expect(input.Owners).toEqual(['self']);
    expect(unknown.sort()).toEqual(['Filter.2.Bogus', 'Filters']);
  });

  it('EC2 query: a value that does not parse as its type stays Unparsable', () => {
    const ec2 = loadService('ec2')!;
    const params = new URLSearchParams([
      ['MaxResults', 'ten'],
      ['DryRun', 'yes'],
    ]);
    const { input } = decodeForm(ec2, ec2.operations.DescribeImages!, params);
    expect(input.MaxResults).toBeInstanceOf(Unparsable);
    expect(input.DryRun).toBeInstanceOf(Unparsable);
  });

  it('query protocol: lists as Name.member.N, maps as Name.entry.N.key/value, an empty list as Name=', () => {
    const cfn = loadService('cloudformation')!;
    const params = new URLSearchParams([
      ['Action', 'CreateStack'],
      ['StackName', 's'],
      ['Parameters.member.2.ParameterKey', 'B'],
      ['Parameters.member.1.ParameterKey', 'A'],
      ['Parameters.member.1.ParameterValue', '1'],
      ['Capabilities', ''],
      ['Tags.member.1.Key', 'k'],
      ['Tags.member.1.Value', 'v'],
    ]);
    const { input } = decodeForm(cfn, cfn.operations.CreateStack!, params);
    expect(input.Parameters).toEqual([{ ParameterKey: 'A', ParameterValue: '1' }, { ParameterKey: 'B' }]);
    expect(input.Capabilities).toEqual([]);
    expect(input.Tags).toEqual([{ Key: 'k', Value: 'v' }]);

    const sqs = loadService('sns')!; // a query service with a map input
    const map = decodeForm(
      sqs,
      sqs.operations.SetTopicAttributes ?? sqs.operations.CreateTopic!,
      new URLSearchParams([
        ['Name', 't'],
        ['Attributes.entry.2.key', 'Policy'],
        ['Attributes.entry.2.value', '{}'],
        ['Attributes.entry.1.key', 'DisplayName'],
        ['Attributes.entry.1.value', 'x'],
      ]),
    );
    if (map.input.Attributes !== undefined) {
      expect([...(map.input.Attributes as Map<string, unknown>)]).toEqual([
        ['DisplayName', 'x'],
        ['Policy', '{}'],
      ]);
    }
  });

  it('json: members by name, a value of the wrong JSON type stays Unparsable', () => {
    const events = loadService('events')!;
    const body = Buffer.from(JSON.stringify({ Entries: [{ Source: 's', Detail: 5 }], EndpointId: null }));
    const { input } = decodeJson(events, events.operations.PutEvents!, body);
    const entries = input.Entries as Array<Record<string, unknown>>;
    expect(entries[0]!.Source).toBe('s');
    expect(entries[0]!.Detail).toBeInstanceOf(Unparsable);
    expect('EndpointId' in input).toBe(false);
  });

  it('rest-json: the route, URI labels (decoded), query string, headers and a blob payload', () => {
    const lambda = loadService('lambda')!;
    const routed = routeRest(lambda, 'POST', '/2015-03-31/functions/my%3Afn/invocations?Qualifier=live');
    expect(routed?.op.name).toBe('Invoke');
    const { input } = decodeRestJson(lambda, routed!.op, routed!.labels, {
      method: 'POST',
      url: '/2015-03-31/functions/my%3Afn/invocations?Qualifier=live',
      headers: { 'x-amz-invocation-type': 'Event' },
      body: Buffer.from('{"a":1}'),
    });
    expect(input.FunctionName).toBe('my:fn');
    expect(input.Qualifier).toBe('live');
    expect(input.InvocationType).toBe('Event');
    expect((input.Payload as { bytes: Buffer }).bytes.toString()).toBe('{"a":1}');
    expect(routeRest(lambda, 'GET', '/2015-03-31/functions/f/configuration')?.op.name).toBe('GetFunctionConfiguration');
  });
});

describe('checking requests as the SDK sends them', () => {
  it('DescribeImageReferences: 11 ids refused naming ImageIds, 10 pass', async () => {
    const refused = checkRequest(
      await wire(new EC2Client(capture), new DescribeImageReferencesCommand({ ImageIds: ids(11), IncludeAllResourceTypes: true })),
    );
    expect(refused?.action).toBe('DescribeImageReferences');
    expect(refused?.answer?.code).toBe('InvalidParameterValue');
    expect(refused?.answer?.message).toContain('ImageIds');
    expect(refused?.answer?.message).toContain('Expecting at most 10 values, not 11.');
    expect(refused?.answer?.response.status).toBe(400);
    const passed = checkRequest(
      await wire(new EC2Client(capture), new DescribeImageReferencesCommand({ ImageIds: ids(10), IncludeAllResourceTypes: true })),
    );
    expect(passed).toMatchObject({ service: 'ec2', action: 'DescribeImageReferences', failures: [] });
  });

  it('EC2: a missing required member is MissingParameter; an enum value AWS does not know is InvalidParameterValue', async () => {
    const missing = checkRequest(await wire(new EC2Client(capture), new CreateImageCommand({ InstanceId: 'i-1' } as never)));
    expect(missing?.answer).toMatchObject({ code: 'MissingParameter', message: 'The request must contain the parameter Name' });
    const badEnum = checkRequest(
      await wire(
        new EC2Client(capture),
        new RunInstancesCommand({ MinCount: 1, MaxCount: 1, TagSpecifications: [{ ResourceType: 'instanse' as never, Tags: [] }] }),
      ),
    );
    expect(badEnum?.answer?.code).toBe('InvalidParameterValue');
    expect(badEnum?.answer?.message).toContain('TagSpecifications.1.ResourceType');
  });

  it('EC2: a request of the right shape passes (DescribeImages with filters and paging)', async () => {
    const ok = checkRequest(
      await wire(
        new EC2Client(capture),
        new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:a', Values: ['1', '2'] }], MaxResults: 1000 }),
      ),
    );
    expect(ok?.failures).toEqual([]);
  });

  it('EventBridge PutEvents: 11 entries is the Coral ValidationException naming entries; 10 pass', async () => {
    const refused = checkRequest(
      await wire(new EventBridgeClient(capture), new PutEventsCommand({ Entries: Array.from({ length: 11 }, () => entry()) })),
    );
    expect(refused?.answer?.code).toBe('ValidationException');
    expect(refused?.answer?.message).toMatch(
      /^1 validation error detected: Value '\[PutEventsRequestEntry(, PutEventsRequestEntry)*.*' at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10$/,
    );
    const ok = checkRequest(
      await wire(new EventBridgeClient(capture), new PutEventsCommand({ Entries: Array.from({ length: 10 }, () => entry()) })),
    );
    expect(ok?.failures).toEqual([]);
  });

  it('CloudWatch over JSON 1.0 (gzipped, as the SDK sends a large body) keeps its query-era code: InvalidParameterValue', async () => {
    const dimensions = Array.from({ length: 31 }, (_, i) => ({ Name: `d${i}`, Value: 'v' }));
    const data = Array.from({ length: 500 }, (_, i) => ({ MetricName: 'm', Value: 1, ...(i === 0 ? { Dimensions: dimensions } : {}) }));
    const sent = await wire(new CloudWatchClient(capture), new PutMetricDataCommand({ Namespace: 'n', MetricData: data }));
    expect(sent.headers['content-encoding']).toBe('gzip');
    const refused = checkRequest(sent);
    expect(refused?.service).toBe('cloudwatch');
    expect(refused?.answer?.code).toBe('InvalidParameterValue');
    expect(refused?.answer?.response.headers['x-amzn-query-error']).toBe('InvalidParameterValue;Sender');
    expect(refused?.answer?.message).toBe('The collection MetricData.member.1.Dimensions must not have a size greater than 30.');
  });

  it('IAM (query): a pattern violation is ValidationError naming roleName', async () => {
    const refused = checkRequest(await wire(new IAMClient(capture), new GetRoleCommand({ RoleName: 'has space' })));
    expect(refused?.answer?.code).toBe('ValidationError');
    expect(refused?.answer?.message).toContain(
      "Value 'has space' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern",
    );
    expect(refused?.answer?.response.body.toString()).toContain('<Code>ValidationError</Code>');
  });

  it('SSM and Scheduler: string too long, number out of range, pattern', async () => {
    const ssm = checkRequest(await wire(new SSMClient(capture), new GetParameterCommand({ Name: 'x'.repeat(2049) })));
    expect(ssm?.answer?.message).toContain("at 'name' failed to satisfy constraint: Member must have length less than or equal to 2048");
    const scheduler = checkRequest(
      await wire(
        new SchedulerClient(capture),
        new CreateScheduleCommand({
          Name: 'bad name!',
          ScheduleExpression: 'rate(1 day)',
          FlexibleTimeWindow: { Mode: 'FLEXIBLE', MaximumWindowInMinutes: 1441 },
          Target: { Arn: 'arn:aws:lambda:us-east-1:123456789012:function:f', RoleArn: 'arn:aws:iam::123456789012:role/r' },
        }),
      ),
    );
    expect(scheduler?.action).toBe('CreateSchedule');
    expect(scheduler?.answer?.code).toBe('ValidationException');
    expect(scheduler?.answer?.response.headers['x-amzn-errortype']).toBe('ValidationException');
    expect(scheduler?.answer?.message).toMatch(/^2 validation errors detected: /);
    expect(scheduler?.answer?.message).toContain("at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern");
    expect(scheduler?.answer?.message).toContain(
      "Value '1441' at 'flexibleTimeWindow.maximumWindowInMinutes' failed to satisfy constraint: Member must have value less than or equal to 1440",
    );
  });

  it('Lambda (rest-json): an invocation passes; an unknown InvocationType is refused', async () => {
    const ok = checkRequest(await wire(new LambdaClient(capture), new InvokeCommand({ FunctionName: 'f', Payload: Buffer.from('{}') })));
    expect(ok).toMatchObject({ service: 'lambda', action: 'Invoke', failures: [] });
    const bad = checkRequest(
      await wire(new LambdaClient(capture), new InvokeCommand({ FunctionName: 'f', InvocationType: 'Later' as never })),
    );
    expect(bad?.answer?.message).toContain(
      "Value 'Later' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set",
    );
  });

  it('validateInput reports every failure in model order', () => {
    const events = loadService('events')!;
    const failures = validateInput(events, events.operations.PutEvents!.input, { Entries: [] });
    expect(failures.map((f) => f.rule)).toEqual(['length']);
  });
});

describe('Java patterns', () => {
  it.each([
    ['[\\w+=,.@-]+', 'role-name_1', 'has space'],
    ['[\\u0009\\u000A\\u000D\\u0020-\\u007E\\u00A1-\\u00FF]*', 'plain text', 'あ'],
    ['^[0-9A-Za-z_.\\-/~"\'\\[\\]]+$', "a-b/[c]'", 'a b'],
    ['\\p{Alnum}+', 'abc123', 'ab-c'],
    ['[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*', 'Név: 1', 'x!'],
    ['[a-z[0-9]]+', 'a1', 'A'],
    ['\\Qa.b\\E', 'a.b', 'axb'],
    ['a++b', 'aab', 'b'],
    ['[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\r\\n\\t]*', 'ok 😀', '\u0001'],
  ])('%s', (pattern, good, bad) => {
    expect(javaPattern(pattern).test(good)).toBe(true);
    expect(javaPattern(pattern).test(bad)).toBe(false);
  });

  it('matches the whole value, as AWS does', () => {
    expect(javaPattern('[a-z]+').test('abc1')).toBe(false);
  });

  it('every pattern of the services the project calls translates', () => {
    const untranslatable: string[] = [];
    for (const name of [
      'ec2',
      'events',
      'sqs',
      'cloudwatch',
      'iam',
      'ssm',
      'cloudformation',
      'lambda',
      'scheduler',
      'sts',
      'autoscaling',
      'kms',
    ]) {
      for (const shape of Object.values(loadService(name)!.shapes)) {
        if (shape.pattern === undefined) continue;
        try {
          javaPattern(shape.pattern);
        } catch (error) {
          untranslatable.push(`${name}: ${(error as Error).message}`);
        }
      }
    }
    expect(untranslatable).toEqual([]);
    expect(translateJavaRegex('(?i)abc').flags).toBe('i');
  });
});
