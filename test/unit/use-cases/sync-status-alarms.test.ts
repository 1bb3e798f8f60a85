import { beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import { CloudWatchClient, DeleteAlarmsCommand, DescribeAlarmsCommand, PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import { CloudWatchGateway } from '../../../shared/aws/cloudwatch-gateway.js';
import { STATUS_CHECKS, type StatusCheck, statusAlarmName } from '../../../shared/domain/status-alarms.js';
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
const CHECKS = Object.keys(STATUS_CHECKS) as StatusCheck[];
/** The alarm of one check of instance `n`. */
const alarmOf = (n: number, check: StatusCheck) => statusAlarmName(STACK, instanceIdOf(n), check);
/** Both alarms of instance `n`, in name order. */
const alarmsOf = (...ns: number[]) => ns.flatMap((n) => CHECKS.map((check) => alarmOf(n, check))).sort();
/** The single `StatusCheckFailed` alarm earlier versions kept for instance `n`. */
const combinedOf = (n: number) => `${PREFIX}${instanceIdOf(n)}`;
const recover = (value: string): Tags => ({ [TAG.recover]: value });
const invalid = (action = 'PutMetricAlarm') => new AwsCallError('ValidationError', action, 'Invalid value for the parameter', false, 400);

/** An alarm already in the account, as an earlier run (or someone else) left it. */
const existingAlarm = (w: World, name: string, instanceId: string, metricName: string, tags: Tags = { [TAG.managedBy]: STACK }) =>
  w.alarms.alarms.set(name, { instanceId, metricName, tags });
/** Both alarms of instance `n`, as a run of this version leaves them. */
const existingPair = (w: World | { alarms: InMemoryAlarms }, n: number) => {
  for (const check of CHECKS) {
    w.alarms.alarms.set(alarmOf(n, check), {
      instanceId: instanceIdOf(n),
      metricName: STATUS_CHECKS[check],
      tags: { [TAG.managedBy]: STACK },
    });
  }
};
/** The combined alarm of instance `n`, as earlier versions left it. */
const existingCombined = (w: World, n: number) => existingAlarm(w, combinedOf(n), instanceIdOf(n), 'StatusCheckFailed');

const callsOf = (alarms: InMemoryAlarms, action: 'DescribeAlarms' | 'PutMetricAlarm' | 'DeleteAlarms') =>
  alarms.calls.filter((c) => c.action === action);
const names = (alarms: InMemoryAlarms) => [...alarms.alarms.keys()].sort();

/** `n` running instances opted in to recovery, numbered from `from`. */
const optedIn = (w: World, n: number, from = 1) =>
  Array.from({ length: n }, (_, i) => w.account.addInstance(instanceIdOf(from + i), recover('on-failure')).instanceId);

describe('syncStatusAlarms', () => {
  it('creates the missing alarms, removes the stale ones, keeps the rest and leaves other alarms alone', async () => {
    // Prepare: instance 8 has its system alarm only
    const w = world();
    w.account.addInstance(instanceIdOf(1), recover('on-failure'));
    w.account.addInstance(instanceIdOf(2), recover('always'), 'stopped');
    w.account.addInstance(instanceIdOf(3), recover('off'));
    w.account.addInstance(instanceIdOf(4), { Name: 'plain' });
    w.account.addInstance(instanceIdOf(5), recover('sometimes'));
    w.account.addInstance(instanceIdOf(6), recover('always'), 'terminated');
    w.account.addInstance(instanceIdOf(8), recover('always'));
    existingPair(w, 2);
    existingPair(w, 3);
    existingAlarm(w, alarmOf(6, 'system'), instanceIdOf(6), STATUS_CHECKS.system);
    existingAlarm(w, alarmOf(7, 'instance'), instanceIdOf(7), STATUS_CHECKS.instance);
    existingAlarm(w, alarmOf(8, 'system'), instanceIdOf(8), STATUS_CHECKS.system);
    existingAlarm(w, `cpu-${instanceIdOf(1)}`, instanceIdOf(1), 'CPUUtilization', {});
    const theirs = statusAlarmName('other-stack', instanceIdOf(1), 'system');
    existingAlarm(w, theirs, instanceIdOf(1), STATUS_CHECKS.system, { [TAG.managedBy]: 'other-stack' });

    // Act
    const report = await syncStatusAlarms(w.deps, w.alarms);

    // Assess
    expect(report).toEqual({ instancesSeen: 5, created: 3, removed: 4, kept: 3, failures: [] });
    expect(names(w.alarms)).toEqual([...alarmsOf(1, 2, 8), `cpu-${instanceIdOf(1)}`, theirs].sort());
    for (const check of CHECKS) {
      expect(w.alarms.alarms.get(alarmOf(1, check))).toEqual({
        instanceId: instanceIdOf(1),
        metricName: STATUS_CHECKS[check],
        tags: { [TAG.managedBy]: STACK },
      });
    }
    expect(w.alarms.alarms.get(alarmOf(8, 'instance'))).toMatchObject({
      instanceId: instanceIdOf(8),
      metricName: 'StatusCheckFailed_Instance',
    });
    expect(
      callsOf(w.alarms, 'PutMetricAlarm')
        .flatMap((c) => c.names)
        .sort(),
    ).toEqual([...alarmsOf(1), alarmOf(8, 'instance')].sort());
    expect(callsOf(w.alarms, 'DeleteAlarms').map((c) => c.names)).toEqual([
      [...alarmsOf(3), alarmOf(6, 'system'), alarmOf(7, 'instance')].sort(),
    ]);
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

  it.each([1, 7, 60])('makes 2N PutMetricAlarm calls for %i new instances: one alarm per check, on that check’s metric', async (n) => {
    // Prepare
    const w = world();
    optedIn(w, n);

    // Act
    const report = await syncStatusAlarms(w.deps, w.alarms);

    // Assess
    expect(report).toEqual({ instancesSeen: n, created: 2 * n, removed: 0, kept: 0, failures: [] });
    expect(callsOf(w.alarms, 'PutMetricAlarm')).toHaveLength(2 * n);
    expect(callsOf(w.alarms, 'DeleteAlarms')).toHaveLength(0);
    for (let i = 1; i <= n; i++) {
      for (const check of CHECKS) {
        expect(w.alarms.alarms.get(alarmOf(i, check))).toEqual({
          instanceId: instanceIdOf(i),
          metricName: STATUS_CHECKS[check],
          tags: { [TAG.managedBy]: STACK },
        });
      }
    }
  });

  it('makes no PutMetricAlarm or DeleteAlarms call on a second run: a steady fleet costs only the reads', async () => {
    // Prepare
    const w = world();
    optedIn(w, 3);
    w.account.addInstance(instanceIdOf(9), recover('off'));
    existingPair(w, 9);
    existingCombined(w, 1);
    await syncStatusAlarms(w.deps, w.alarms);
    w.alarms.calls.length = 0;

    // Act
    const report = await syncStatusAlarms(w.deps, w.alarms);

    // Assess
    expect(report).toEqual({ instancesSeen: 4, created: 0, removed: 0, kept: 6, failures: [] });
    expect(w.alarms.calls.map((c) => c.action)).toEqual(['DescribeAlarms']);
    expect(names(w.alarms)).toEqual(alarmsOf(1, 2, 3));
  });

  it('reads every page of instances and of alarms', async () => {
    // Prepare: 10 alarms, 2 a page
    const w = world({ pageSize: 2 });
    const alarms = new InMemoryAlarms(2);
    optedIn(w, 5);
    for (const n of [1, 2, 3, 20, 21]) existingPair({ alarms }, n);

    // Act
    const report = await syncStatusAlarms(w.deps, alarms);

    // Assess
    expect(report).toEqual({ instancesSeen: 5, created: 4, removed: 4, kept: 6, failures: [] });
    expect(callsOf(alarms, 'DescribeAlarms')).toHaveLength(5);
    expect(names(alarms)).toEqual(alarmsOf(1, 2, 3, 4, 5));
  });

  it('creates alarms four at a time', async () => {
    // Prepare
    const w = world();
    optedIn(w, 10);
    let inFlight = 0;
    let most = 0;
    class SlowAlarms extends InMemoryAlarms {
      override async putStatusAlarm(name: string, instanceId: string, metricName: string, tags: Tags): Promise<void> {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 2));
        inFlight--;
        return super.putStatusAlarm(name, instanceId, metricName, tags);
      }
    }
    const alarms = new SlowAlarms();

    // Act
    const report = await syncStatusAlarms(w.deps, alarms);

    // Assess
    expect(report.created).toBe(20);
    expect(most).toBe(4);
  });

  it('goes on with the other alarms when one PutMetricAlarm fails, the other check of that instance included, and reports it', async () => {
    // Prepare
    const w = world();
    optedIn(w, 9);
    existingPair(w, 50);
    w.alarms.failPut(alarmOf(4, 'instance'), invalid());

    // Act
    const report = await syncStatusAlarms(w.deps, w.alarms);

    // Assess
    expect(report).toEqual({
      instancesSeen: 9,
      created: 17,
      removed: 2,
      kept: 0,
      failures: [
        {
          instanceId: instanceIdOf(4),
          alarmName: alarmOf(4, 'instance'),
          errorCode: 'ValidationError',
          message: expect.stringContaining('Invalid value for the parameter'),
        },
      ],
    });
    expect(callsOf(w.alarms, 'PutMetricAlarm')).toHaveLength(18);
    expect(names(w.alarms)).toEqual(alarmsOf(1, 2, 3, 4, 5, 6, 7, 8, 9).filter((n) => n !== alarmOf(4, 'instance')));
  });

  it('goes on with the other instances when both PutMetricAlarm calls of one instance fail, and reports each', async () => {
    // Prepare
    const w = world();
    optedIn(w, 9);
    existingPair(w, 50);
    w.alarms.failPut(instanceIdOf(4), invalid());

    // Act
    const report = await syncStatusAlarms(w.deps, w.alarms);

    // Assess
    const failure = (check: 'system' | 'instance') => ({
      instanceId: instanceIdOf(4),
      alarmName: alarmOf(4, check),
      errorCode: 'ValidationError',
      message: expect.stringContaining('Invalid value'),
    });
    expect(report).toEqual({
      instancesSeen: 9,
      created: 16,
      removed: 2,
      kept: 0,
      failures: expect.arrayContaining([failure('system'), failure('instance')]),
    });
    expect(report.failures).toHaveLength(2);
    expect(callsOf(w.alarms, 'PutMetricAlarm')).toHaveLength(18);
    expect(names(w.alarms)).toEqual(alarmsOf(1, 2, 3, 5, 6, 7, 8, 9));
  });

  it('only reports a permanent failure, and the next run tries that alarm again', async () => {
    // Prepare
    const w = world();
    optedIn(w, 2);
    w.alarms.failPut(alarmOf(2, 'system'), invalid());
    const first = await syncStatusAlarms(w.deps, w.alarms);
    w.alarms.failPut(alarmOf(2, 'system'), undefined);
    w.alarms.calls.length = 0;

    // Act
    const second = await syncStatusAlarms(w.deps, w.alarms);

    // Assess
    expect(first).toMatchObject({ created: 3, failures: [{ instanceId: instanceIdOf(2), errorCode: 'ValidationError' }] });
    expect(second).toEqual({ instancesSeen: 2, created: 1, removed: 0, kept: 3, failures: [] });
    expect(callsOf(w.alarms, 'PutMetricAlarm').map((c) => c.names)).toEqual([[alarmOf(2, 'system')]]);
    expect(names(w.alarms)).toEqual(alarmsOf(1, 2));
  });

  it('throws a transient failure, after creating the other alarms and removing the stale ones', async () => {
    // Prepare
    const w = world();
    optedIn(w, 6);
    existingPair(w, 50);
    const error = throttled('PutMetricAlarm');
    w.alarms.failPut(instanceIdOf(2), error);

    // Act
    const act = syncStatusAlarms(w.deps, w.alarms);

    // Assess
    await expect(act).rejects.toBe(error);
    expect(names(w.alarms)).toEqual(alarmsOf(1, 3, 4, 5, 6));
    expect(callsOf(w.alarms, 'DeleteAlarms').map((c) => c.names)).toEqual([alarmsOf(50)]);
    const logged = w.log.at('info').find((r) => r.message === 'status-check alarms synchronised');
    expect(logged?.extra[0]).toMatchObject({
      created: 10,
      removed: 2,
      failures: [
        { instanceId: instanceIdOf(2), errorCode: 'RequestLimitExceeded' },
        { instanceId: instanceIdOf(2), errorCode: 'RequestLimitExceeded' },
      ],
    });
  });

  it('throws a transient failure even when a permanent one came first', async () => {
    // Prepare
    const w = world();
    optedIn(w, 3);
    w.alarms.failPut(instanceIdOf(1), invalid());
    const error = throttled('PutMetricAlarm');
    w.alarms.failPut(alarmOf(3, 'system'), error);

    // Act
    const act = syncStatusAlarms(w.deps, w.alarms);

    // Assess
    await expect(act).rejects.toBe(error);
    expect(names(w.alarms)).toEqual([...alarmsOf(2), alarmOf(3, 'instance')].sort());
  });
});

describe('syncStatusAlarms: migration from the combined alarm of earlier versions', () => {
  it('replaces the combined alarm of each opted-in instance by its two, removes the others’, and leaves foreign alarms alone', async () => {
    // Prepare: three opted-in instances, one opted out and one gone, each with the alarm of an earlier version
    const w = world();
    optedIn(w, 3);
    w.account.addInstance(instanceIdOf(4), recover('off'));
    w.account.addInstance(instanceIdOf(5), recover('always'), 'terminated');
    for (const n of [1, 2, 3, 4, 5, 9]) existingCombined(w, n);
    const foreign = [
      `${PREFIX}${instanceIdOf(1)}-cpu`,
      `${STACK}-status-system-status-${instanceIdOf(1)}`,
      statusAlarmName(`${STACK}-status-instance`, instanceIdOf(1), 'system'),
    ];
    for (const name of foreign) existingAlarm(w, name, instanceIdOf(1), 'StatusCheckFailed', {});

    // Act
    const report = await syncStatusAlarms(w.deps, w.alarms);

    // Assess
    expect(report).toEqual({ instancesSeen: 4, created: 6, removed: 6, kept: 0, failures: [] });
    expect(names(w.alarms)).toEqual([...alarmsOf(1, 2, 3), ...foreign].sort());
    for (const n of [1, 2, 3]) {
      for (const check of CHECKS) expect(w.alarms.alarms.get(alarmOf(n, check))?.metricName).toBe(STATUS_CHECKS[check]);
    }
    expect(callsOf(w.alarms, 'DeleteAlarms').map((c) => c.names)).toEqual([[1, 2, 3, 4, 5, 9].map(combinedOf).sort()]);
  });

  it('finishes a migration a run left half done: removes the combined alarm, creates only what is missing', async () => {
    // Prepare: instance 1 has both new alarms and the old one, instance 2 the old one and its system alarm
    const w = world();
    optedIn(w, 2);
    existingPair(w, 1);
    existingCombined(w, 1);
    existingCombined(w, 2);
    existingAlarm(w, alarmOf(2, 'system'), instanceIdOf(2), STATUS_CHECKS.system);

    // Act
    const report = await syncStatusAlarms(w.deps, w.alarms);

    // Assess
    expect(report).toEqual({ instancesSeen: 2, created: 1, removed: 2, kept: 3, failures: [] });
    expect(callsOf(w.alarms, 'PutMetricAlarm').map((c) => c.names)).toEqual([[alarmOf(2, 'instance')]]);
    expect(names(w.alarms)).toEqual(alarmsOf(1, 2));
  });

  it('keeps the combined alarm of an instance whose new alarm could not be made: it is never left without one', async () => {
    // Prepare
    const w = world();
    optedIn(w, 2);
    existingCombined(w, 1);
    existingCombined(w, 2);
    w.alarms.failPut(alarmOf(2, 'instance'), invalid());

    // Act
    const first = await syncStatusAlarms(w.deps, w.alarms);
    w.alarms.failPut(alarmOf(2, 'instance'), undefined);
    const second = await syncStatusAlarms(w.deps, w.alarms);

    // Assess: the first run keeps instance 2's combined alarm; the second finishes the migration
    expect(first).toMatchObject({ created: 3, removed: 1, failures: [{ alarmName: alarmOf(2, 'instance') }] });
    expect(second).toEqual({ instancesSeen: 2, created: 1, removed: 1, kept: 3, failures: [] });
    expect(names(w.alarms)).toEqual(alarmsOf(1, 2));
  });

  it('is done after one run: the next costs only the reads', async () => {
    // Prepare
    const w = world();
    optedIn(w, 4);
    for (const n of [1, 2, 3, 4]) existingCombined(w, n);
    await syncStatusAlarms(w.deps, w.alarms);
    w.alarms.calls.length = 0;

    // Act
    const report = await syncStatusAlarms(w.deps, w.alarms);

    // Assess
    expect(report).toEqual({ instancesSeen: 4, created: 0, removed: 0, kept: 8, failures: [] });
    expect(w.alarms.calls.map((c) => c.action)).toEqual(['DescribeAlarms']);
  });
});

describe('syncStatusAlarms through the CloudWatch gateway', () => {
  const cloudwatchMock = mockClient(CloudWatchClient);

  beforeEach(() => {
    cloudwatchMock.reset();
  });

  it('deletes 250 stale alarms in three DeleteAlarms calls', async () => {
    // Prepare: the 250 alarms of 125 instances long gone, over three DescribeAlarms pages
    const w = world();
    const stale = alarmsOf(...Array.from({ length: 125 }, (_, i) => 1000 + i));
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

  it('puts two alarms per new instance, each on the metric its name says, through PutMetricAlarm', async () => {
    // Prepare
    const w = world();
    optedIn(w, 3);
    cloudwatchMock.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [] });
    cloudwatchMock.on(PutMetricAlarmCommand).resolves({});
    const alarms = new CloudWatchGateway(new CloudWatchClient({ region: 'us-east-1', maxAttempts: 1 }));

    // Act
    const report = await syncStatusAlarms(w.deps, alarms);

    // Assess
    expect(report).toMatchObject({ instancesSeen: 3, created: 6, failures: [] });
    expect(cloudwatchMock).toHaveReceivedCommandTimes(PutMetricAlarmCommand, 6);
    const sent = cloudwatchMock.commandCalls(PutMetricAlarmCommand).map((c) => c.args[0].input);
    const expected = [1, 2, 3].flatMap((n) =>
      CHECKS.map((check) => ({
        AlarmName: alarmOf(n, check),
        MetricName: STATUS_CHECKS[check],
        Dimensions: [{ Name: 'InstanceId', Value: instanceIdOf(n) }],
      })),
    );
    expect(sent.map(({ AlarmName, MetricName, Dimensions }) => ({ AlarmName, MetricName, Dimensions }))).toEqual(
      expect.arrayContaining(expected),
    );
    expect(cloudwatchMock).not.toHaveReceivedCommand(DeleteAlarmsCommand);
  });
});
