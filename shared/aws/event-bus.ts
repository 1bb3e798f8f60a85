/**
 * Publishing to the service's own EventBridge bus. PutEvents takes at most 10
 * entries and 256 KB per call and can accept some entries of a call while
 * refusing others: only the refused entries are sent again, with backoff, so a
 * partial failure never publishes an entry twice from here. Calls run a few at a
 * time to stay well under the PutEvents quota while a 10,000-instance run
 * finishes in seconds.
 */
import { PutEventsCommand, type EventBridgeClient, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import pLimit from 'p-limit';
import { EVENT_SOURCE } from '../domain/event-requests.js';
import type { OutgoingEvent } from '../domain/events.js';
import type { EventPort, PublishFailure, PublishOutcome } from '../use-cases/ports.js';
import { isTransientCode, toAwsCallError } from './errors.js';

export const MAX_ENTRIES_PER_CALL = 10;
export const MAX_REQUEST_BYTES = 256 * 1024;

export interface PublisherOptions {
  /** PutEvents calls in flight at once. */
  concurrency?: number;
  /** Attempts per entry, the first included, on top of the SDK's own retries of whole calls. */
  attempts?: number;
  baseDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

interface Pending {
  event: OutgoingEvent;
  entry: PutEventsRequestEntry;
  bytes: number;
}

/** Size of an entry as EventBridge counts it. */
export function entrySize(entry: PutEventsRequestEntry): number {
  let size = 14; // Time
  for (const s of [entry.Source, entry.DetailType, entry.Detail, ...(entry.Resources ?? [])]) {
    if (s) size += Buffer.byteLength(s, 'utf8');
  }
  return size;
}

/** Splits entries into calls of at most 10 entries and 256 KB. */
export function chunkEntries<T extends { bytes: number }>(items: T[]): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    if (current.length === MAX_ENTRIES_PER_CALL || (current.length > 0 && bytes + item.bytes > MAX_REQUEST_BYTES)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += item.bytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class EventBusPublisher implements EventPort {
  private readonly concurrency: number;
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
    options: PublisherOptions = {},
  ) {
    this.concurrency = options.concurrency ?? 8;
    this.attempts = options.attempts ?? 5;
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.sleep = options.sleep ?? defaultSleep;
  }

  async publish(events: OutgoingEvent[]): Promise<PublishOutcome> {
    const failed: PublishFailure[] = [];
    const sendable: Pending[] = [];
    for (const event of events) {
      const entry: PutEventsRequestEntry = {
        EventBusName: this.eventBusName,
        Source: EVENT_SOURCE,
        DetailType: event.detailType,
        Detail: JSON.stringify(event.detail),
      };
      const bytes = entrySize(entry);
      if (bytes > MAX_REQUEST_BYTES) {
        failed.push({ event, code: 'EntryTooLarge', message: `entry is ${bytes} bytes; PutEvents takes at most ${MAX_REQUEST_BYTES}` });
      } else {
        sendable.push({ event, entry, bytes });
      }
    }
    const limit = pLimit(this.concurrency);
    const results = await Promise.all(chunkEntries(sendable).map((chunk) => limit(() => this.sendChunk(chunk))));
    for (const r of results) failed.push(...r);
    return { published: events.length - failed.length, failed };
  }

  /**
   * Sends one chunk, re-sending only the entries EventBridge refused for a
   * transient reason (throttling, internal failure); an entry refused for what
   * it is (malformed, access denied) fails at once.
   */
  private async sendChunk(chunk: Pending[]): Promise<PublishFailure[]> {
    const failures: PublishFailure[] = [];
    let pending = chunk;
    let lastError = new Map<Pending, { code: string; message: string }>();
    for (let attempt = 1; attempt <= this.attempts && pending.length > 0; attempt++) {
      if (attempt > 1) await this.sleep(this.backoff(attempt));
      try {
        const out = await this.client.send(new PutEventsCommand({ Entries: pending.map((p) => p.entry) }));
        if (!out.FailedEntryCount) return failures;
        const retry: Pending[] = [];
        lastError = new Map();
        pending.forEach((p, i) => {
          const result = out.Entries?.[i];
          if (result?.EventId && !result.ErrorCode) return;
          const error = { code: result?.ErrorCode ?? 'Unknown', message: result?.ErrorMessage ?? '' };
          // No verdict at all is treated like throttling: asking again is safe.
          if (!result?.ErrorCode || isTransientCode(error.code)) {
            retry.push(p);
            lastError.set(p, error);
          } else {
            failures.push({ event: p.event, ...error });
          }
        });
        pending = retry;
      } catch (error) {
        const mapped = toAwsCallError('PutEvents', error);
        lastError = new Map(pending.map((p) => [p, { code: mapped.code, message: mapped.message }]));
        if (!mapped.retryable) break;
      }
    }
    for (const p of pending) failures.push({ event: p.event, ...(lastError.get(p) ?? { code: 'Unknown', message: '' }) });
    return failures;
  }

  private backoff(attempt: number): number {
    const cap = this.baseDelayMs * 2 ** (attempt - 2);
    return cap / 2 + Math.random() * (cap / 2);
  }
}
