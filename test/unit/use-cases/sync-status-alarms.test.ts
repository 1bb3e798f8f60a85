import { beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import { CloudWatchClient, DeleteAlarmsCommand, DescribeAlarmsCommand, PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import { CloudWatchGateway } from '../../../shared/aws/cloudwatch-gateway.js';
import { statusAlarmName } from '../../../shared/domain/status-alarms.js';
import { TAG, type Tags } from '../../../shared/domain/tags.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import { syncStatusAlarms } from '../../../shared/use-cases/sync-status-alarms.js';
import {
  InMemoryAlarms,
  instanceIdOf,
  STACK,
  statusAlarmsEc2,
  throttled,
  world as worldOf,
  type World,
  type WorldOptions,
} from '../fakes.js';

/** A world of the status-alarms slice only: the use case sees nothing else of EC2. */
const world = (options?: WorldOptions) => worldOf(statusAlarmsEc2, options);

expect.extend(allCustomMatcher);

const PREFIX = `${STACK}-status-`;
const alarmOf = (n: number) => statusAlarmName(STACK, instanceIdOf(n));
const recover = (value: string): Tags => ({ [TAG.recover]: value });
const invalid = (action = 'PutMetricAlarm') => new AwsCallError('ValidationError', action, 'Invalid value for the parameter', false, 400);

/** An alarm already in the account, as an earlier run (or someone else) left it. */
const existingAlarm = (w: World, name: string, instanceId: string, tags: Tags = { [TAG.managedBy]: STACK }) =>
  w.alarms.alarms.set(name, { instanceId, tags });

const callsOf = (alarms: InMemoryAlarms, action: 'DescribeAlarms' | 'PutMetricAlarm' | 'DeleteAlarms') =>
  alarms.calls.filter((c) => c.action === action);

/** `n` running instances opted in to recovery, numbered from `from`. */
const optedIn = (w: World, n: number, from = 1) =>
  Array.from({ length: n }, (_, i) => w.account.addInstance(instanceIdOf(from + i), recover('on-failure')).instanceId);

describe('syncStatusAlarms', () => {
  it('creates the missing alarms, removes the stale ones, keeps the rest and leaves other alarms alone', async () => {
    // Prepare
    const w = world();
    w.account.addInstance(instanceIdOf(1), recover('on-failure'));
    w.account.addInstance(instanceIdOf(2), recover('always'), 'stopped');
    w.account.addInstance(instanceIdOf(3), recover('off'));
    w.account.addInstance(instanceIdOf(4), { Name: 'plain' });
    w.account.addInstance(instanceIdOf(5), recover('sometimes'));
    w.account.addInstance(instanceIdOf(6), recover('always'), 'terminated');
    existingAlarm(w, alarmOf(2), instanceIdOf(2));
    existingAlarm(w, alarmOf(3), instanceIdOf(3));
    existingAlarm(w, alarmOf(6), instanceIdOf(6));
    existingAlarm(w, alarmOf(7), instanceIdOf(7));
    existingAlarm(w, `cpu-${instanceIdOf(1)}`, instanceIdOf(1), {});
    existingAlarm(w, statusAlarmName('other-stack', instanceIdOf(1)), instanceIdOf(1), { [TAG.managedBy]: 'other-stack' });

    // Act
    const report = await syncStatusAlarms(w.deps, w.alarms);

    // Assess
    expect(report).toEqual({ instancesSeen: 4, created: 1, removed: 3, kept: 1, failures: [] });
    expect([...w.alarms.alarms.keys()].sort()).toEqual(
      [alarmOf(1), alarmOf(2), `cpu-${instanceIdOf(1)}`, statusAlarmName('other-stack', instanceIdOf(1))].sort(),
    );
    expect(w.alarms.alarms.get(alarmOf(1))).toEqual({ instanceId: instanceIdOf(1), tags: { [TAG.managedBy]: STACK } });
    expect(callsOf(w.alarms, 'PutMetricAlarm').map((c) => c.names)).toEqual([[alarmOf(1)]]);
    expect(callsOf(w.alarms, 'DeleteAlarms').map((c) => c.names)).toEqual([[alarmOf(3), alarmOf(6), alarmOf(7)]]);
  });

  it('lists only this stack’s alarms, by its prefix', async () => {
    // Prepare
    const w = world();
    const listed: string[] = [];
    const alarms = new InMemoryAlarms();
    const listAlarmNames = alarms.listAlarmNames.bind(alarms);
    alarms.listAlarmNames = (prefix: string) => {
      listed.push(prefix);
      return listAlarmNames(prefix);
    };

    // Act
    await syncStatusAlarms(w.deps, alarms);

    // Assess
    expect(listed).toEqual([PREFIX]);
  });

  it('logs its report', async () => {
    // Prepare
    const w = world();
    optedIn(w, 2);

    // Act
    const report = await syncStatusAlarms(w.deps, w.alarms);

    // Assess
    expect(w.log.at('info')).toContainEqual({ level: 'info', message: 'status-check alarms synchronised', extra: [report] });
  });

  it('makes no PutMetricAlarm or DeleteAlarms call on a second run', async () => {
    // Prepare
    const w = world();
    optedIn(w, 3);
    w.account.addInstance(instanceIdOf(9), recover('off'));
    existingAlarm(w, alarmOf(9), instanceIdOf(9));
    await syncStatusAlarms(w.deps, w.alarms);
    w.alarms.calls.length = 0;

    // Act
    const report = await syncStatusAlarms(w.deps, w.alarms);

    // Assess
    expect(report).toEqual({ instancesSeen: 4, created: 0, removed: 0, kept: 3, failures: [] });
    expect(w.alarms.calls.map((c) => c.action)).toEqual(['DescribeAlarms']);
    expect([...w.alarms.alarms.keys()].sort()).toEqual([alarmOf(1), alarmOf(2), alarmOf(3)]);
  });

  it('reads every page of instances and of alarms', async () => {
    // Prepare
    const w = world({ pageSize: 2 });
    const alarms = new InMemoryAlarms(2);
    optedIn(w, 5);
    for (const n of [1, 2, 3, 20, 21]) alarms.alarms.set(alarmOf(n), { instanceId: instanceIdOf(n), tags: {} });

    // Act
    const report = await syncStatusAlarms(w.deps, alarms);

    // Assess
    expect(report).toEqual({ instancesSeen: 5, created: 2, removed: 2, kept: 3, failures: [] });
    expect(callsOf(alarms, 'DescribeAlarms')).toHaveLength(3);
    expect([...alarms.alarms.keys()].sort()).toEqual([1, 2, 3, 4, 5].map(alarmOf));
  });

  it('creates alarms four at a time', async () => {
    // Prepare
    const w = world();
    optedIn(w, 10);
    let inFlight = 0;
    let most = 0;
    class SlowAlarms extends InMemoryAlarms {
      override async putStatusAlarm(name: string, instanceId: string, tags: Tags): Promise<void> {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 2));
        inFlight--;
        return super.putStatusAlarm(name, instanceId, tags);
      }
    }
    const alarms = new SlowAlarms();

    // Act
    const report = await syncStatusAlarms(w.deps, alarms);

    // Assess
    expect(report.created).toBe(10);
    expect(most).toBe(4);
  });

  it('goes on with the other instances when one PutMetricAlarm fails, and reports it', async () => {
    // Prepare
    const w = world();
    const ids = optedIn(w, 9);
    existingAlarm(w, alarmOf(50), instanceIdOf(50));
    w.alarms.failPut(instanceIdOf(4), invalid());

    // Act
    const report = await syncStatusAlarms(w.deps, w.alarms);

    // Assess
    expect(report).toEqual({
      instancesSeen: 9,
      created: 8,
      removed: 1,
      kept: 0,
      failures: [
        { instanceId: instanceIdOf(4), errorCode: 'ValidationError', message: expect.stringContaining('Invalid value for the parameter') },
      ],
    });
    expect(callsOf(w.alarms, 'PutMetricAlarm')).toHaveLength(9);
    expect([...w.alarms.alarms.keys()].sort()).toEqual(ids.filter((id) => id !== instanceIdOf(4)).map((id) => statusAlarmName(STACK, id)));
  });

  it('only reports a permanent failure, and the next run tries that alarm again', async () => {
    // Prepare
    const w = world();
    optedIn(w, 2);
    w.alarms.failPut(instanceIdOf(2), invalid());
    const first = await syncStatusAlarms(w.deps, w.alarms);
    w.alarms.failPut(instanceIdOf(2), undefined);

    // Act
    const second = await syncStatusAlarms(w.deps, w.alarms);

    // Assess
    expect(first).toMatchObject({ created: 1, failures: [{ instanceId: instanceIdOf(2), errorCode: 'ValidationError' }] });
    expect(second).toEqual({ instancesSeen: 2, created: 1, removed: 0, kept: 1, failures: [] });
    expect([...w.alarms.alarms.keys()].sort()).toEqual([alarmOf(1), alarmOf(2)]);
  });

  it('throws a transient failure, after creating the other alarms and removing the stale ones', async () => {
    // Prepare
    const w = world();
    optedIn(w, 6);
    existingAlarm(w, alarmOf(50), instanceIdOf(50));
    const error = throttled('PutMetricAlarm');
    w.alarms.failPut(instanceIdOf(2), error);

    // Act
    const act = syncStatusAlarms(w.deps, w.alarms);

    // Assess
    await expect(act).rejects.toBe(error);
    expect([...w.alarms.alarms.keys()].sort()).toEqual([1, 3, 4, 5, 6].map(alarmOf));
    expect(callsOf(w.alarms, 'DeleteAlarms').map((c) => c.names)).toEqual([[alarmOf(50)]]);
    const logged = w.log.at('info').find((r) => r.message === 'status-check alarms synchronised');
    expect(logged?.extra[0]).toMatchObject({
      created: 5,
      removed: 1,
      failures: [{ instanceId: instanceIdOf(2), errorCode: 'RequestLimitExceeded' }],
    });
  });

  it('throws a transient failure even when a permanent one came first', async () => {
    // Prepare
    const w = world();
    optedIn(w, 3);
    w.alarms.failPut(instanceIdOf(1), invalid());
    const error = throttled('PutMetricAlarm');
    w.alarms.failPut(instanceIdOf(3), error);

    // Act
    const act = syncStatusAlarms(w.deps, w.alarms);

    // Assess
    await expect(act).rejects.toBe(error);
    expect([...w.alarms.alarms.keys()]).toEqual([alarmOf(2)]);
  });
});

describe('syncStatusAlarms through the CloudWatch gateway', () => {
  const cloudwatchMock = mockClient(CloudWatchClient);

  beforeEach(() => {
    cloudwatchMock.reset();
  });

  it('deletes 250 stale alarms in three DeleteAlarms calls', async () => {
    // Prepare: 250 alarms of instances long gone, over three DescribeAlarms pages
    const w = world();
    const stale = Array.from({ length: 250 }, (_, i) => alarmOf(1000 + i));
    cloudwatchMock
      .on(DescribeAlarmsCommand)
      .resolvesOnce({ NextToken: 't1', MetricAlarms: stale.slice(0, 100).map((AlarmName) => ({ AlarmName })) })
      .resolvesOnce({ NextToken: 't2', MetricAlarms: stale.slice(100, 200).map((AlarmName) => ({ AlarmName })) })
      .resolvesOnce({ MetricAlarms: stale.slice(200).map((AlarmName) => ({ AlarmName })) });
    cloudwatchMock.on(DeleteAlarmsCommand).resolves({});
    const alarms = new CloudWatchGateway(new CloudWatchClient({ region: 'us-east-1', maxAttempts: 1 }));

    // Act
    const report = await syncStatusAlarms(w.deps, alarms);

    // Assess
    expect(report).toEqual({ instancesSeen: 0, created: 0, removed: 250, kept: 0, failures: [] });
    expect(cloudwatchMock).toHaveReceivedCommandTimes(DeleteAlarmsCommand, 3);
    expect(cloudwatchMock).not.toHaveReceivedCommand(PutMetricAlarmCommand);
    const batches = cloudwatchMock.commandCalls(DeleteAlarmsCommand).map((c) => c.args[0].input.AlarmNames ?? []);
    expect(batches.map((b) => b.length)).toEqual([100, 100, 50]);
    expect(batches.flat().sort()).toEqual([...stale].sort());
  });
});
