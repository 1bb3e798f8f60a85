/**
 * AWS's API model in the fidelity proxy: a request that botocore's service model says AWS
 * refuses is answered as AWS answers it (HTTP 400, the service's error code, a message naming
 * the member), is recorded, and never reaches moto; a request of the right shape passes.
 * One violation of each kind, for EC2 (query), EventBridge (JSON 1.1) and EventBridge Scheduler
 * (rest-json). Each test declares the violations it causes on purpose: any other fails it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateImageCommand,
  CreateLaunchTemplateCommand,
  DescribeImageReferencesCommand,
  DescribeImagesCommand,
  EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient, ListRulesCommand, PutEventsCommand, PutRuleCommand } from '@aws-sdk/client-eventbridge';
import { CreateScheduleCommand, ListSchedulesCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { settleApiModelExpectations } from '../harness/api-model/index.js';
import { startMoto, type MotoServer } from '../harness/moto.js';
import { startFidelityProxy, type FidelityProxy } from '../harness/proxy/index.js';

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const MOTO_DEFAULT_AMI = 'ami-760aaa0f';

let moto: MotoServer;
let proxy: FidelityProxy;
let ec2: EC2Client;
let events: EventBridgeClient;
let scheduler: SchedulerClient;

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startFidelityProxy(moto.endpoint);
  // No retries: each test sees each call once.
  const config = { endpoint: proxy.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 };
  ec2 = new EC2Client(config);
  events = new EventBridgeClient(config);
  scheduler = new SchedulerClient(config);
}, 30_000);

afterAll(async () => {
  ec2?.destroy();
  events?.destroy();
  scheduler?.destroy();
  await proxy?.stop();
  await moto?.stop();
}, 30_000);

const ids = (n: number) => Array.from({ length: n }, (_, i) => `ami-${i.toString(16).padStart(17, '0')}`);

/** The error the SDK raised: its code, HTTP status and message. */
async function refusal(promise: Promise<unknown>): Promise<{ name: string; status: number | undefined; message: string }> {
  try {
    await promise;
  } catch (error) {
    const e = error as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
  }
  throw new Error('the call was not refused');
}

/** A form request signed for `service`, sent as is (the SDK cannot send a parameter its model lacks). */
async function rawQuery(service: string, params: Record<string, string>): Promise<{ status: number; body: string }> {
  const response = await fetch(proxy.endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      // moto and the proxy read the credential scope; neither checks the signature.
      authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/${service}/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: new URLSearchParams(params).toString(),
  });
  return { status: response.status, body: await response.text() };
}

/** Whether moto was asked anything for this action since the last resetCalls(). */
const reachedMoto = (action: string) => action in proxy.upstreamMs();

describe('EC2 (query protocol)', () => {
  it('DescribeImageReferences with 11 image ids is refused, named, counted, and never reaches moto; 10 pass', async () => {
    proxy.resetCalls();
    proxy.expectApiViolations([{ action: 'DescribeImageReferences', member: 'ImageIds', rule: 'length', code: 'InvalidParameterValue' }]);

    const refused = await refusal(ec2.send(new DescribeImageReferencesCommand({ ImageIds: ids(11), IncludeAllResourceTypes: true })));
    expect(refused.status).toBe(400);
    expect(refused.name).toBe('InvalidParameterValue');
    expect(refused.message).toMatch(/parameter ImageIds is invalid\. Expecting at most 10 values, not 11\./);
    expect(proxy.apiViolations()).toHaveLength(1);

    // Ten ids pass the model: whatever answers next (not the model) answers.
    const next = await ec2.send(new DescribeImageReferencesCommand({ ImageIds: ids(10), IncludeAllResourceTypes: true })).then(
      () => 'answered',
      (error: { name: string }) => error.name,
    );
    expect(next).not.toBe('InvalidParameterValue');
    expect(proxy.apiViolations()).toHaveLength(1);
    expect(proxy.apiRequestsChecked()).toBe(2);
    expect(proxy.calls().DescribeImageReferences).toBe(2);
    expect(reachedMoto('DescribeImageReferences')).toBe(false);
  });

  it('a required member missing is MissingParameter', async () => {
    proxy.resetCalls();
    proxy.expectApiViolations([{ action: 'CreateImage', member: 'Name', rule: 'required', code: 'MissingParameter' }]);
    const refused = await refusal(ec2.send(new CreateImageCommand({ InstanceId: 'i-0123456789abcdef0' } as never)));
    expect(refused).toEqual({ name: 'MissingParameter', status: 400, message: 'The request must contain the parameter Name' });
    expect(reachedMoto('CreateImage')).toBe(false);
  });

  it('a string too long, a pattern not matched: InvalidParameterValue naming LaunchTemplateName', async () => {
    proxy.resetCalls();
    proxy.expectApiViolations([
      { action: 'CreateLaunchTemplate', member: 'LaunchTemplateName', rule: 'length' },
      { action: 'CreateLaunchTemplate', member: 'LaunchTemplateName', rule: 'pattern' },
    ]);
    const data = { ImageId: MOTO_DEFAULT_AMI };
    const long = await refusal(
      ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName: 'x'.repeat(129), LaunchTemplateData: data })),
    );
    expect(long.name).toBe('InvalidParameterValue');
    expect(long.message).toMatch(/parameter LaunchTemplateName is invalid\. Expecting a length of at most 128 characters\./);
    const spaced = await refusal(ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName: 'has space', LaunchTemplateData: data })));
    expect(spaced.message).toMatch(
      /^Value \(has space\) for parameter LaunchTemplateName is invalid\. Expecting a value that matches the pattern/,
    );
    expect(reachedMoto('CreateLaunchTemplate')).toBe(false);
  });

  it('a number out of range: MaxResults below 5', async () => {
    proxy.resetCalls();
    proxy.expectApiViolations([{ member: 'MaxResults', rule: 'range', code: 'InvalidParameterValue' }]);
    const refused = await refusal(
      ec2.send(new DescribeImageReferencesCommand({ ImageIds: ids(1), IncludeAllResourceTypes: true, MaxResults: 4 })),
    );
    expect(refused.message).toBe('Value (4) for parameter MaxResults is invalid. Expecting a value greater than or equal to 5.');
  });

  it('an enum value AWS does not know: TagSpecifications.1.ResourceType', async () => {
    proxy.resetCalls();
    proxy.expectApiViolations([{ action: 'RunInstances', member: 'TagSpecifications.1.ResourceType', rule: 'enum' }]);
    const refused = await refusal(
      ec2.send(
        new RunInstancesCommand({
          ImageId: MOTO_DEFAULT_AMI,
          MinCount: 1,
          MaxCount: 1,
          TagSpecifications: [{ ResourceType: 'instanse' as never, Tags: [{ Key: 'a', Value: 'b' }] }],
        }),
      ),
    );
    expect(refused.name).toBe('InvalidParameterValue');
    expect(refused.message).toContain('Value (instanse) for parameter TagSpecifications.1.ResourceType is invalid. Expecting one of:');
    expect(reachedMoto('RunInstances')).toBe(false);
  });

  it('an unknown parameter is UnknownParameter, in EC2 XML', async () => {
    proxy.resetCalls();
    proxy.expectApiViolations([{ action: 'DescribeImages', member: 'ImageType', rule: 'unknown', code: 'UnknownParameter' }]);
    const { status, body } = await rawQuery('ec2', { Action: 'DescribeImages', Version: '2016-11-15', ImageType: 'machine' });
    expect(status).toBe(400);
    expect(body).toMatch(
      /^<\?xml version="1.0" encoding="UTF-8"\?><Response><Errors><Error><Code>UnknownParameter<\/Code><Message>The parameter ImageType is not recognized<\/Message><\/Error><\/Errors><RequestID>[0-9a-f-]+<\/RequestID><\/Response>$/,
    );
    expect(reachedMoto('DescribeImages')).toBe(false);
  });

  it('a request of the right shape reaches moto and counts as checked', async () => {
    proxy.resetCalls();
    const { Images = [] } = await ec2.send(
      new DescribeImagesCommand({ ImageIds: [MOTO_DEFAULT_AMI], Filters: [{ Name: 'state', Values: ['available'] }] }),
    );
    expect(Images.map((i) => i.ImageId)).toEqual([MOTO_DEFAULT_AMI]);
    expect(reachedMoto('DescribeImages')).toBe(true);
    expect(proxy.apiRequestsChecked()).toBe(1);
    expect(proxy.apiViolations()).toEqual([]);
  });
});

describe('EventBridge (JSON 1.1): Coral ValidationException', () => {
  const entry = { Source: 'ami-lifecycle', DetailType: 'ImageBaked', Detail: '{}' };

  it('PutEvents with 11 entries is refused naming entries (limit 10); with 0, too few', async () => {
    proxy.resetCalls();
    proxy.expectApiViolations([
      { action: 'PutEvents', member: 'Entries', rule: 'length', code: 'ValidationException' },
      { action: 'PutEvents', member: 'Entries', rule: 'length', code: 'ValidationException' },
    ]);
    const many = await refusal(events.send(new PutEventsCommand({ Entries: Array.from({ length: 11 }, () => entry) })));
    expect(many.status).toBe(400);
    expect(many.name).toBe('ValidationException');
    expect(many.message).toMatch(
      /^1 validation error detected: Value '\[PutEventsRequestEntry, .*' at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10$/,
    );
    const none = await refusal(events.send(new PutEventsCommand({ Entries: [] })));
    expect(none.message).toBe(
      "1 validation error detected: Value '[]' at 'entries' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
    expect(reachedMoto('PutEvents')).toBe(false);
    // Ten pass and reach moto.
    const { FailedEntryCount } = await events.send(new PutEventsCommand({ Entries: Array.from({ length: 10 }, () => entry) }));
    expect(FailedEntryCount).toBe(0);
    expect(reachedMoto('PutEvents')).toBe(true);
  });

  it('required, too long, enum, pattern and range, each named; several at once are listed together', async () => {
    proxy.resetCalls();
    proxy.expectApiViolations(5);
    expect((await refusal(events.send(new PutRuleCommand({} as never)))).message).toBe(
      "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null",
    );
    expect((await refusal(events.send(new PutRuleCommand({ Name: 'r'.repeat(65) })))).message).toContain(
      "at 'name' failed to satisfy constraint: Member must have length less than or equal to 64",
    );
    expect((await refusal(events.send(new PutRuleCommand({ Name: 'r', State: 'ON' as never })))).message).toBe(
      "1 validation error detected: Value 'ON' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]",
    );
    expect((await refusal(events.send(new ListRulesCommand({ Limit: 101 })))).message).toBe(
      "1 validation error detected: Value '101' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100",
    );
    const both = await refusal(events.send(new PutRuleCommand({ Name: 'has space', State: 'ON' as never })));
    expect(both.message).toMatch(
      /^2 validation errors detected: Value 'has space' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: .*; Value 'ON' at 'state'/,
    );
    expect(proxy.apiViolations().map((v) => v.rule)).toEqual(['required', 'length', 'enum', 'range', 'pattern']);
    expect(reachedMoto('PutRule')).toBe(false);
  });
});

describe('EventBridge Scheduler (rest-json)', () => {
  it('CreateSchedule with a bad name and too wide a window is a ValidationException listing both; ListSchedules passes', async () => {
    proxy.resetCalls();
    // The first failure in model order (members sorted by name) names the violation.
    proxy.expectApiViolations([
      {
        service: 'scheduler',
        action: 'CreateSchedule',
        member: 'FlexibleTimeWindow.MaximumWindowInMinutes',
        rule: 'range',
        code: 'ValidationException',
      },
    ]);
    const refused = await refusal(
      scheduler.send(
        new CreateScheduleCommand({
          Name: 'bad name!',
          ScheduleExpression: 'rate(1 day)',
          FlexibleTimeWindow: { Mode: 'FLEXIBLE', MaximumWindowInMinutes: 1441 },
          Target: { Arn: 'arn:aws:lambda:us-east-1:123456789012:function:f', RoleArn: 'arn:aws:iam::123456789012:role/r' },
        }),
      ),
    );
    expect(refused.status).toBe(400);
    expect(refused.name).toBe('ValidationException');
    expect(refused.message).toBe(
      "2 validation errors detected: Value '1441' at 'flexibleTimeWindow.maximumWindowInMinutes' failed to satisfy constraint: " +
        "Member must have value less than or equal to 1440; Value 'bad name!' at 'name' failed to satisfy constraint: " +
        'Member must satisfy regular expression pattern: ^[0-9a-zA-Z-_.]+$',
    );
    expect(proxy.apiViolations()[0]!.failures).toEqual(['FlexibleTimeWindow.MaximumWindowInMinutes range', 'Name pattern']);
    expect(Object.keys(proxy.upstreamMs())).toEqual([]); // nothing reached moto
    await scheduler.send(new ListSchedulesCommand({}));
    expect(proxy.apiRequestsChecked()).toBe(2);
  });
});

describe('a test that did not declare a violation', () => {
  it('is failed by the setup file: the settle step reports the refused request, a declared one passes', async () => {
    proxy.resetCalls();
    await refusal(ec2.send(new DescribeImageReferencesCommand({ ImageIds: ids(11), IncludeAllResourceTypes: true })));
    // resetCalls() forgets apiViolations(), not what the test still has to answer for.
    proxy.resetCalls();
    expect(proxy.apiViolations()).toEqual([]);
    const problems = settleApiModelExpectations();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^1 request\(s\) violated AWS's API model \(botocore\) and were refused as AWS would:\n {2}ec2\.DescribeImageReferences: InvalidParameterValue: /,
    );

    proxy.expectApiViolations(1);
    await refusal(ec2.send(new DescribeImageReferencesCommand({ ImageIds: ids(11), IncludeAllResourceTypes: true })));
    expect(settleApiModelExpectations()).toEqual([]);

    proxy.expectApiViolations(1); // declared, but nothing refused: also a failure
    expect(settleApiModelExpectations()).toEqual(['expected 1 API model violation(s), saw 0']);
    expect(proxy.apiModelTotals()).toMatchObject({ violations: expect.any(Number) as number });
  });
});
