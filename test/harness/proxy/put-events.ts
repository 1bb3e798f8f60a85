/**
 * Observation, not a moto gap: what the service publishes, read from its own PutEvents calls
 * and moto's answers. TEST-ONLY.
 */
import type { Interceptor } from './chain.js';
import { bufferBody } from './request.js';

export interface RecordedEvent {
  source: string;
  'detail-type': string;
  detail: Record<string, unknown>;
  eventBusName: string;
  time: string;
}

/**
 * Records what the service publishes, read from its own PutEvents calls and
 * moto's answers, so tests see every accepted entry without routing a copy of
 * each through an SQS queue (moto's SQS slows down as a queue grows).
 */
export function recordPutEvents(recorded: RecordedEvent[]): Interceptor {
  return async (request, next) => {
    if (request.action !== 'PutEvents' || request.form !== undefined) return next(request);
    const response = await next(request);
    if (response.status !== 200) return response;
    const body = await bufferBody(response.body);
    const sent = (JSON.parse(request.body.toString('utf8')) as { Entries?: Array<Record<string, string>> }).Entries ?? [];
    const results = (JSON.parse(body.toString('utf8')) as { Entries?: Array<{ EventId?: string }> }).Entries ?? [];
    const time = new Date().toISOString();
    sent.forEach((entry, i) => {
      if (!results[i]?.EventId) return;
      recorded.push({
        source: entry.Source ?? '',
        'detail-type': entry.DetailType ?? '',
        detail: JSON.parse(entry.Detail ?? '{}') as Record<string, unknown>,
        eventBusName: entry.EventBusName ?? 'default',
        time,
      });
    });
    return { ...response, body };
  };
}
