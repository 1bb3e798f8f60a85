/** EventBridge Scheduler's one-time schedules, by name: what recovery scheduled to look again, and when. */
import type { Journal } from './ec2-account.js';
import type { RecheckPort } from '../../../shared/use-cases/ports.js';

export class InMemoryRechecks implements RecheckPort {
  readonly schedules = new Map<string, { at: Date; input: unknown }>();
  /** CreateSchedule (or UpdateSchedule, for a name that exists) calls, in order. */
  readonly calls: Array<{ action: 'CreateSchedule' | 'UpdateSchedule'; name: string; at: Date }> = [];
  private failure: Error | undefined;

  constructor(private readonly journal?: Journal) {}

  /** The next calls fail with `error` (until cleared with undefined). */
  fail(error: Error | undefined): void {
    this.failure = error;
  }

  async scheduleOnce(name: string, at: Date, input: unknown): Promise<'created' | 'updated'> {
    const action = this.schedules.has(name) ? 'UpdateSchedule' : 'CreateSchedule';
    this.journal?.push(action);
    if (this.failure) throw this.failure;
    this.calls.push({ action, name, at });
    this.schedules.set(name, { at, input: JSON.parse(JSON.stringify(input)) });
    return action === 'CreateSchedule' ? 'created' : 'updated';
  }

  /** Takes the schedules due at `now` (Scheduler deletes a one-time schedule once it has fired), oldest first. */
  takeDue(now: Date): unknown[] {
    const due = [...this.schedules]
      .filter(([, s]) => s.at.getTime() <= now.getTime())
      .sort(([, a], [, b]) => a.at.getTime() - b.at.getTime());
    for (const [name] of due) this.schedules.delete(name);
    return due.map(([, s]) => s.input);
  }
}
