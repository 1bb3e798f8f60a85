/**
 * Moto gap: moto's EventBridge Scheduler stores any ScheduleExpression it is given (moto 5.2.1,
 * moto/scheduler/models.py checks none) and never fires a schedule. What AWS documents:
 *
 * - "CreateSchedule" / "UpdateSchedule", ScheduleExpression
 *   (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html): "at
 *   expression - at(yyyy-mm-ddThh:mm:ss)", "rate expression - rate(value unit)" with a positive
 *   integer value and a unit of "minute | minutes | hour | hours | day | days", "cron expression -
 *   cron(fields)" of six fields. An `at()` names "the time and in the time zone, that you
 *   specify" (ScheduleExpressionTimezone, UTC by default): "Schedule types in EventBridge
 *   Scheduler", one-time schedules (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#one-time).
 *   Anything else is refused with HTTP 400 `ValidationException` "Invalid Schedule Expression
 *   <expression>" (AWS's answer as a user quotes it, https://github.com/localstack/localstack/issues/9284).
 *   Cron fields are read by ../cron.ts; only what it knows to be invalid is refused, never what it
 *   merely cannot simulate.
 * - An `at()` time already past: AWS documents nothing for it (neither the API reference nor the
 *   user guide says it is refused, nor when such a schedule runs). So nothing is refused here, and
 *   LocalCloud.fireDueSchedules fires it at its next call, as a schedule already due.
 * - "ActionAfterCompletion" (same API pages, and "Deleting a schedule in EventBridge Scheduler",
 *   https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-delete.html): with
 *   DELETE, "EventBridge Scheduler deletes the schedule after its last target invocation. For
 *   one-time schedules, this occurs after the schedule has invoked its target once." Done by
 *   LocalCloud.fireDueSchedules, which fires one-time schedules on the harness's clock.
 * - UpdateSchedule "uses all values, including empty values, specified in the request and
 *   overrides the existing schedule ... if you do not set an optional field in your request, that
 *   field will be set to its system-default value" (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_UpdateSchedule.html).
 *   moto's update leaves ActionAfterCompletion as it was and State empty: closed inside moto
 *   (python/sitecustomize.py), where the schedule lives.
 * TEST-ONLY.
 */
import { InvalidCronExpression, parseCron, zonedInstant } from '../cron.js';
import type { Interceptor } from '../proxy/chain.js';
import { restJsonErrorResponse } from '../proxy/answers.js';
import { isRestJsonAction } from '../proxy/request.js';

/** The fields of an `at(yyyy-mm-ddThh:mm:ss)` expression; undefined when it is not one, or names no real time. */
export function parseAt(expression: string): { y: number; m: number; d: number; hour: number; minute: number; second: number } | undefined {
  const match = /^at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)$/.exec(expression);
  if (!match) return undefined;
  const [y, m, d, hour, minute, second] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(y, m, 0)).getUTCDate();
  if (m < 1 || m > 12 || d < 1 || d > daysInMonth || hour > 23 || minute > 59 || second > 59) return undefined;
  return { y, m, d, hour, minute, second };
}

/**
 * When a one-time schedule fires: its `at()` wall-clock time in its time zone (UTC when none).
 * Undefined for an expression that is not `at()`. Throws for a local time that daylight saving
 * skips: AWS does not say when such a schedule runs, and the harness does not guess.
 */
export function atInstant(expression: string, timeZone = 'UTC'): Date | undefined {
  const at = parseAt(expression);
  if (at === undefined) return undefined;
  const instant = zonedInstant(timeZone, at.y, at.m, at.d, at.hour, at.minute, at.second);
  if (instant === undefined) throw new Error(`the harness cannot fire ${expression} in ${timeZone}: that local time does not exist there`);
  return instant;
}

/** Whether EventBridge Scheduler accepts this ScheduleExpression (see the header). */
export function isValidScheduleExpression(expression: string): boolean {
  if (expression.startsWith('at(')) return parseAt(expression) !== undefined;
  if (expression.startsWith('rate(')) return /^rate\([1-9]\d* (minute|minutes|hour|hours|day|days)\)$/.test(expression);
  if (expression.startsWith('cron(')) {
    try {
      parseCron(expression);
    } catch (error) {
      if (error instanceof InvalidCronExpression) return false;
    }
    return true;
  }
  return false;
}

/** CreateSchedule and UpdateSchedule with an expression AWS refuses: refused as AWS does, before moto stores it. */
export const scheduleExpressions: Interceptor = async (request, next) => {
  const writes = isRestJsonAction(request, 'scheduler', 'CreateSchedule') || isRestJsonAction(request, 'scheduler', 'UpdateSchedule');
  if (!writes) return next(request);
  const body = JSON.parse(request.body.toString('utf8') || '{}') as { ScheduleExpression?: unknown };
  const expression = body.ScheduleExpression;
  // A missing or mistyped expression is the API model's refusal, made before this link.
  if (typeof expression !== 'string' || isValidScheduleExpression(expression)) return next(request);
  return restJsonErrorResponse(400, 'ValidationException', `Invalid Schedule Expression ${expression}`);
};
