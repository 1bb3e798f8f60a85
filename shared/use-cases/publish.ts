/** Publishing one event that a use case cannot go on without. */
import type { OutgoingEvent } from '../domain/events.js';
import type { EventPort } from './ports.js';

/**
 * Publishes the event, or throws so that the invocation is retried: what a run says must not be
 * lost, and every use case publishes before it records the outcome (a retry says it again).
 */
export async function publishOrThrow(events: EventPort, event: OutgoingEvent, about?: string): Promise<void> {
  const { failed } = await events.publish([event]);
  const failure = failed[0];
  if (failure) throw new Error(`could not publish ${event.detailType}${about ? ` for ${about}` : ''}: ${failure.code}: ${failure.message}`);
}
