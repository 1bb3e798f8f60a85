/** The recovery triggers: every sample in events/ parses with its schema and yields the right signal. */
import * as v from 'valibot';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AlarmStateChangeEvent, HealthEvent, InstanceStateChangeEvent } from '../../../shared/domain/incoming.js';
import { signalsOf } from '../../../shared/domain/recovery.js';

const sample = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../../events/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;
const ID = 'i-0123456789abcdef0';

describe('recovery trigger samples', () => {
  it('a termination and a stop are state signals', () => {
    expect(signalsOf(v.parse(InstanceStateChangeEvent, sample('instance-terminated.json')))).toEqual([
      { kind: 'state', instanceId: ID, state: 'terminated' },
    ]);
    expect(signalsOf(v.parse(InstanceStateChangeEvent, sample('instance-stopped.json')))).toEqual([
      { kind: 'state', instanceId: ID, state: 'stopped' },
    ]);
  });

  it('other instance states are no signal', () => {
    const running = { ...sample('instance-stopped.json'), detail: { 'instance-id': ID, state: 'running' } };
    expect(signalsOf(v.parse(InstanceStateChangeEvent, running))).toEqual([]);
  });

  it('a status-check alarm names its instance through the metric dimensions, and only in ALARM', () => {
    const alarm = v.parse(AlarmStateChangeEvent, sample('alarm-status-check-failed.json'));
    expect(signalsOf(alarm)).toEqual([
      { kind: 'alarm', instanceId: ID, alarmName: `ami-lifecycle-dev-status-${ID}`, metric: 'StatusCheckFailed' },
    ]);
    expect(signalsOf({ ...alarm, detail: { ...alarm.detail, state: { value: 'OK' } } })).toEqual([]);
  });

  it('a health event names instances by ARN or bare id, each once', () => {
    const health = v.parse(HealthEvent, sample('health-instance-retirement.json'));
    expect(signalsOf(health)).toEqual([{ kind: 'health', instanceId: ID, eventTypeCode: 'AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED' }]);
    const bare = {
      ...health,
      resources: [],
      detail: { ...health.detail, affectedEntities: [{ entityValue: ID }, { entityValue: 'i-0fedcba9876543210' }] },
    };
    expect(signalsOf(bare).map((s) => s.instanceId)).toEqual([ID, 'i-0fedcba9876543210']);
    expect(signalsOf({ ...health, detail: { ...health.detail, service: 'RDS' } })).toEqual([]);
  });

  it('rejects an event of the wrong shape with the failing fields named', () => {
    const result = v.safeParse(InstanceStateChangeEvent, {
      ...sample('instance-stopped.json'),
      detail: { 'instance-id': 'vm-1', state: 'exploded' },
    });
    expect(result.success).toBe(false);
    expect(result.issues!.map((i) => v.getDotPath(i))).toEqual(['detail.instance-id', 'detail.state']);
  });
});
