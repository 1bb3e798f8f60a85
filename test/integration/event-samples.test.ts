/**
 * The samples in events/ are in the shape AWS delivers, and serverless.yml's rules
 * route each one to the function that accepts it: sent to the right bus in moto,
 * each sample reaches exactly that function, whose schema takes it.
 */
import * as v from 'valibot';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import { PROJECT_ROOT } from '../../cli/serverless-config.js';
import { HEALTH_EVENT_TYPES } from '../../shared/domain/recovery.js';
import {
  AmiStateChangeEvent,
  BakeRequestedEvent,
  ImageGoodEvent,
  RecheckRequest,
  RecoverInput,
  RecoveryTriggerEvent,
  RotationRequest,
  ScheduledRun,
  CopySweepEvent,
  VerificationCheck,
  VerificationRequestedEvent,
  VerificationSweep,
  VerifyInput,
} from '../../shared/domain/incoming.js';

const sample = (name: string) => JSON.parse(readFileSync(`${PROJECT_ROOT}/events/${name}`, 'utf8')) as Record<string, unknown>;

const cloud = cloudPerFile({ reset: false });

describe('event samples', () => {
  it.each([
    ['bake-requested.json', 'bake', BakeRequestedEvent],
    // Issue 17: the copy function's queue takes ImageBaked too (its copies start at once), of an image that
    // carries copy-to (`copies`), as promote takes that of an image whose instance names targets (issue 18).
    ['image-baked.json', 'promote,copy', ImageGoodEvent],
    // Issue 17: what the copy sweep's rule sends on its schedule, from the default bus.
    ['copy-sweep.json', 'copy', CopySweepEvent],
    ['ami-state-available.json', 'imageState', AmiStateChangeEvent],
    ['ami-state-failed.json', 'imageState', AmiStateChangeEvent],
    ['instance-stopped.json', 'recover', RecoveryTriggerEvent],
    ['instance-terminated.json', 'recover', RecoveryTriggerEvent],
    ['alarm-status-check-failed.json', 'recover', RecoveryTriggerEvent],
    ['health-instance-retirement.json', 'recover', RecoveryTriggerEvent],
    ['health-retirement-expedited.json', 'recover', RecoveryTriggerEvent],
    ['health-instance-stop-scheduled.json', 'recover', RecoveryTriggerEvent],
    ['health-instance-termination-scheduled.json', 'recover', RecoveryTriggerEvent],
  ] as const)('%s parses and is routed by serverless.yml to %s only', async (file, functionName, schema) => {
    // Prepare
    const event = sample(file);
    expect(v.safeParse(schema, event).success).toBe(true);
    const bus = String(event.source).startsWith('aws.') ? undefined : cloud.wiring.eventBusName;

    // Act: as its producer would send it
    await cloud.putEvent({ source: String(event.source), detailType: String(event['detail-type']), detail: event.detail, bus });
    const deliveries = await cloud.deliver({ maxRounds: 1 });

    // Assess: one delivery, to the function, which did not reject it
    expect(deliveries.map((d) => d.function)).toEqual(functionName.split(','));
    expect(deliveries[0]!.result).not.toMatchObject({ status: 'rejected' });
  });

  it('ami-state-batch.json is the SQS batch Lambda hands imageState: its bodies are the AMI samples, and the function takes it', async () => {
    // Prepare
    const batch = sample('ami-state-batch.json') as { Records: Array<Record<string, unknown>> };
    const bodies = batch.Records.map((r) => JSON.parse(String(r.body)) as unknown);

    // Act: as its queue's event source mapping would hand it over
    const result = await cloud.invokePayload('imageState', batch);

    // Assess: the samples, whole, as EventBridge puts them in the queue; no record failed (their images do not exist)
    expect(bodies).toEqual([sample('ami-state-available.json'), sample('ami-state-failed.json')]);
    for (const body of bodies) expect(v.safeParse(AmiStateChangeEvent, body).success).toBe(true);
    for (const r of batch.Records)
      expect(r).toMatchObject({ eventSource: 'aws:sqs', messageId: expect.any(String), md5OfBody: expect.any(String) });
    expect(result).toEqual({ batchItemFailures: [] });
  });

  it('the Health rule matches exactly the event types recovery acts on, and each has a sample', () => {
    // Prepare
    const recover = cloud.wiring.functions.find((f) => f.name === 'recover')!;
    const rule = recover.eventBridge.find((e) => (e.pattern.source as string[]).includes('aws.health'))!;
    const codes = (rule.pattern.detail as { eventTypeCode: string[] }).eventTypeCode;
    const sampled = readdirSync(`${PROJECT_ROOT}/events`)
      .filter((f) => f.startsWith('health-'))
      .map((f) => (sample(f).detail as { eventTypeCode: string }).eventTypeCode);

    // Assess: one list, said twice (the rule and the domain), and the kinds AWS announces sampled
    expect([...codes].sort()).toEqual([...HEALTH_EVENT_TYPES].sort());
    for (const code of sampled) expect(HEALTH_EVENT_TYPES).toContain(code);
    expect(sampled).toEqual(
      expect.arrayContaining([
        'AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED',
        'AWS_EC2_PERSISTENT_INSTANCE_RETIREMENT_EXPEDITED',
        'AWS_EC2_INSTANCE_STOP_SCHEDULED',
        'AWS_EC2_INSTANCE_TERMINATION_SCHEDULED',
      ]),
    );
  });

  it('recovery-recheck.json is what a deferred recovery hands its one-time schedule, parses, and no rule routes it', async () => {
    // Prepare
    const event = sample('recovery-recheck.json');

    // Act
    const parsed = v.safeParse(RecoverInput, event);
    await cloud.putEvent({ source: 'ami-lifecycle', detailType: String(event['detail-type']), detail: event.recheck });
    const deliveries = await cloud.deliver({ maxRounds: 1 });

    // Assess
    expect(parsed.success).toBe(true);
    expect(v.safeParse(RecheckRequest, event).success).toBe(true);
    expect(deliveries).toEqual([]);
  });

  it("verification-requested.json parses and is routed from the stack's bus to verify only", async () => {
    // Prepare
    const event = sample('verification-requested.json');

    // Act
    await cloud.putEvent({
      source: 'ami-lifecycle',
      detailType: 'VerificationRequested',
      detail: event.detail,
      bus: cloud.wiring.eventBusName,
    });
    const drained = await cloud.drain();

    // Assess
    expect(v.safeParse(VerificationRequestedEvent, event).success).toBe(true);
    expect(v.safeParse(VerifyInput, event).success).toBe(true);
    expect(drained.map((d) => d.functionName)).toEqual(['verify']);
  });

  it('verification-check.json is what a verification hands its one-time schedule, parses, and no rule routes it', async () => {
    // Prepare
    const event = sample('verification-check.json');

    // Act
    await cloud.putEvent({ source: 'ami-lifecycle', detailType: String(event['detail-type']), detail: event });
    const deliveries = await cloud.deliver({ maxRounds: 1 });

    // Assess
    expect(v.safeParse(VerificationCheck, event).success).toBe(true);
    expect(v.safeParse(VerifyInput, event).success).toBe(true);
    expect(deliveries).toEqual([]);
  });

  it.each([
    ['verification-sweep.json', VerificationSweep],
    ['schedule-nightly.json', ScheduledRun],
    ['schedule-weekly.json', ScheduledRun],
    ['rotate-scheduled.json', RotationRequest],
    ['rotate-dry-run.json', RotationRequest],
  ] as const)('%s is what the schedule input in serverless.yml produces, and parses', (file, schema) => {
    // Prepare
    const event = sample(file);

    // Act / Assess
    expect(v.safeParse(schema, event).success).toBe(true);
    const inputs = cloud.wiring.functions.flatMap((f) => f.schedules.map((s) => s.input));
    if ('scheduledTime' in event) {
      expect(inputs).toContainEqual({ ...event, scheduledTime: '<aws.scheduler.scheduled-time>' });
    } else if (event.trigger === 'schedule') {
      expect(inputs).toContainEqual(event);
    }
  });

  it.each([
    [
      'an alarm on another metric',
      'alarm-status-check-failed.json',
      (e: Sample) => ((e.detail.configuration.metrics[0].metricStat.metric.name = 'CPUUtilization'), e),
    ],
    ['an alarm back to OK', 'alarm-status-check-failed.json', (e: Sample) => ((e.detail.state.value = 'OK'), e)],
    ['a running instance', 'instance-stopped.json', (e: Sample) => ((e.detail.state = 'running'), e)],
    ['a health event of another service', 'health-instance-stop-scheduled.json', (e: Sample) => ((e.detail.service = 'RDS'), e)],
    [
      'a health event of another type',
      'health-instance-stop-scheduled.json',
      (e: Sample) => ((e.detail.eventTypeCode = 'AWS_EC2_OPERATIONAL_ISSUE'), e),
    ],
  ] as const)('%s is routed to no function', async (_what, file, change) => {
    // Prepare
    const event = change(sample(file) as Sample);

    // Act
    await cloud.putEvent({ source: String(event.source), detailType: String(event['detail-type']), detail: event.detail });
    const deliveries = await cloud.deliver({ maxRounds: 1 });

    // Assess
    expect(deliveries).toEqual([]);
  });
});

type Sample = Record<string, any>;
