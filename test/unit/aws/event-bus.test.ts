import { beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  EventBridgeClient,
  PutEventsCommand,
  type PutEventsCommandInput,
  type PutEventsCommandOutput,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import {
  chunkEntries,
  entrySize,
  EventBusPublisher,
  MAX_ENTRIES_PER_CALL,
  MAX_REQUEST_BYTES,
  type PublisherOptions,
} from '../../../shared/aws/event-bus.js';
import { outgoing, type OutgoingEvent } from '../../../shared/domain/events.js';
import { bakeRequest } from '../fakes.js';

expect.extend(allCustomMatcher);

const ebMock = mockClient(EventBridgeClient);
const BUS = 'ami-lifecycle-test-bus';

/** Records every backoff the publisher asks for, without waiting. */
let sleeps: number[] = [];
const publisher = (options: PublisherOptions = {}) =>
  new EventBusPublisher(new EventBridgeClient({ region: 'us-east-1', maxAttempts: 1 }), BUS, {
    sleep: async (ms) => void sleeps.push(ms),
    ...options,
  });

const event = (n: number): OutgoingEvent => outgoing('BakeRequested', bakeRequest({ instanceId: `i-${n.toString(16).padStart(17, '0')}` }));
/** The instance id an event is about. */
const subject = (e: OutgoingEvent | undefined) => (e?.detail as { instanceId: string } | undefined)?.instanceId;
const events = (count: number) => Array.from({ length: count }, (_, i) => event(i + 1));

/** Which event an entry carries. */
const idOf = (entry: PutEventsRequestEntry) => (JSON.parse(entry.Detail ?? '{}') as { instanceId?: string }).instanceId;

/** PutEvents accepting every entry. */
const acceptAll = (input: PutEventsCommandInput): Partial<PutEventsCommandOutput> => ({
  FailedEntryCount: 0,
  Entries: (input.Entries ?? []).map((_, i) => ({ EventId: `evt-${i}` })),
});

/** Entries as sent, copied at call time. */
let sent: PutEventsRequestEntry[][] = [];
const record = (input: PutEventsCommandInput) => sent.push(structuredClone(input.Entries ?? []));

const awsError = (name: string, httpStatusCode: number, fault: 'client' | 'server' = 'client') =>
  Object.assign(new Error(`${name}: refused`), { name, $metadata: { httpStatusCode }, $fault: fault });

beforeEach(() => {
  ebMock.reset();
  sent = [];
  sleeps = [];
});

describe('EventBusPublisher.publish', () => {
  it('sends 25 events in three PutEvents calls of 10, 10 and 5 entries', async () => {
    // Prepare
    ebMock.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => {
      record(input);
      return acceptAll(input);
    });
    const batch = events(25);

    // Act
    const outcome = await publisher().publish(batch);

    // Assess
    expect(outcome).toEqual({ published: 25, failed: [] });
    expect(ebMock).toHaveReceivedCommandTimes(PutEventsCommand, 3);
    expect(sent.map((c) => c.length)).toEqual([10, 10, 5]);
    expect(sent.flat()).toEqual(
      batch.map((e) => ({ Source: 'ami-lifecycle', DetailType: 'BakeRequested', EventBusName: BUS, Detail: JSON.stringify(e.detail) })),
    );
    expect(sleeps).toEqual([]);
  });

  it('sends nothing for no events', async () => {
    // Act
    const outcome = await publisher().publish([]);

    // Assess
    expect(outcome).toEqual({ published: 0, failed: [] });
    expect(ebMock).not.toHaveReceivedAnyCommand();
  });

  it('re-sends only the entries PutEvents refused (entries 2 and 7 of a call)', async () => {
    // Prepare
    let calls = 0;
    ebMock.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => {
      record(input);
      calls++;
      if (calls > 1) return acceptAll(input);
      return {
        FailedEntryCount: 2,
        Entries: (input.Entries ?? []).map((_, i) =>
          i === 2 || i === 7 ? { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' } : { EventId: `evt-${i}` },
        ),
      };
    });
    const batch = events(10);

    // Act
    const outcome = await publisher().publish(batch);

    // Assess
    expect(outcome).toEqual({ published: 10, failed: [] });
    expect(ebMock).toHaveReceivedCommandTimes(PutEventsCommand, 2);
    expect(sent[1]!.map(idOf)).toEqual([subject(batch[2]), subject(batch[7])]);
    expect(sent[1]).toEqual([sent[0]![2], sent[0]![7]]);
    expect(sleeps).toHaveLength(1);
  });

  it('fails an entry refused on every attempt with its code, after `attempts` calls', async () => {
    // Prepare
    const batch = events(3);
    const stubborn = subject(batch[1]);
    ebMock.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => {
      record(input);
      const entries = (input.Entries ?? []).map((e, i) =>
        idOf(e) === stubborn ? { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' } : { EventId: `evt-${i}` },
      );
      return { FailedEntryCount: entries.filter((e) => 'ErrorCode' in e).length, Entries: entries };
    });

    // Act
    const outcome = await publisher({ attempts: 4 }).publish(batch);

    // Assess
    expect(outcome).toEqual({ published: 2, failed: [{ event: batch[1], code: 'ThrottlingException', message: 'Rate exceeded' }] });
    expect(ebMock).toHaveReceivedCommandTimes(PutEventsCommand, 4);
    expect(sent.slice(1).map((c) => c.map(idOf))).toEqual([[stubborn], [stubborn], [stubborn]]);
    expect(sleeps).toHaveLength(3);
  });

  it('fails an entry refused for what it is (MalformedDetail) at once, and retries only the throttled one', async () => {
    // Prepare
    ebMock.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => {
      record(input);
      if (sent.length === 1) {
        return {
          FailedEntryCount: 2,
          Entries: [
            { EventId: 'a' },
            { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' },
            { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' },
          ],
        };
      }
      return acceptAll(input);
    });
    const batch = events(3);

    // Act
    const outcome = await publisher().publish(batch);

    // Assess
    expect(outcome.published).toBe(2);
    expect(outcome.failed).toEqual([{ event: batch[1], code: 'MalformedDetail', message: 'Detail is malformed.' }]);
    expect(sent.map((c) => c.map(idOf))).toEqual([batch.map(subject), [subject(batch[2])]]);
  });

  it('treats an entry result without EventId as refused', async () => {
    // Prepare
    ebMock
      .on(PutEventsCommand)
      .resolvesOnce({ FailedEntryCount: 1, Entries: [{ EventId: 'a' }, {}] })
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'b' }] });

    // Act
    const outcome = await publisher().publish(events(2));

    // Assess
    expect(outcome).toEqual({ published: 2, failed: [] });
    expect(ebMock).toHaveReceivedCommandTimes(PutEventsCommand, 2);
  });

  it('fails the chunk of a non-retryable call error (AccessDeniedException) without retrying it', async () => {
    // Prepare: 15 events, two chunks; the chunk holding event 12 is refused outright
    const batch = events(15);
    const marker = subject(batch[11]);
    ebMock.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => {
      record(input);
      if ((input.Entries ?? []).some((e) => idOf(e) === marker)) throw awsError('AccessDeniedException', 400);
      return acceptAll(input);
    });

    // Act
    const outcome = await publisher().publish(batch);

    // Assess
    expect(ebMock).toHaveReceivedCommandTimes(PutEventsCommand, 2);
    expect(outcome.published).toBe(10);
    expect(outcome.failed.map((f) => f.event)).toEqual(batch.slice(10));
    for (const f of outcome.failed) {
      expect(f.code).toBe('AccessDeniedException');
      expect(f.message).toMatch(/refused/);
    }
    expect(sleeps).toEqual([]);
  });

  it('retries a whole call after a retryable call error', async () => {
    // Prepare
    let calls = 0;
    ebMock.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => {
      record(input);
      if (++calls === 1) throw awsError('InternalException', 500, 'server');
      return acceptAll(input);
    });

    // Act
    const outcome = await publisher().publish(events(4));

    // Assess
    expect(outcome).toEqual({ published: 4, failed: [] });
    expect(sent.map((c) => c.length)).toEqual([4, 4]);
    expect(sleeps).toHaveLength(1);
  });

  it('fails with the last call error when a retryable error outlasts the attempts', async () => {
    // Prepare
    ebMock.on(PutEventsCommand).rejects(awsError('ThrottlingException', 400));

    // Act
    const outcome = await publisher({ attempts: 3 }).publish(events(2));

    // Assess
    expect(ebMock).toHaveReceivedCommandTimes(PutEventsCommand, 3);
    expect(outcome.published).toBe(0);
    expect(outcome.failed.map((f) => f.code)).toEqual(['ThrottlingException', 'ThrottlingException']);
  });

  it('backs off exponentially, with jitter, between attempts', async () => {
    // Prepare
    ebMock.on(PutEventsCommand).rejects(awsError('ThrottlingException', 400));

    // Act
    await publisher({ attempts: 4, baseDelayMs: 100 }).publish(events(1));

    // Assess: attempt n waits between cap/2 and cap, cap = 100 * 2^(n-2)
    expect(sleeps).toHaveLength(3);
    const caps = [100, 200, 400];
    sleeps.forEach((ms, i) => {
      expect(ms).toBeGreaterThanOrEqual(caps[i]! / 2);
      expect(ms).toBeLessThanOrEqual(caps[i]!);
    });
  });

  it('fails an entry over 256 KB without sending it, and sends the others', async () => {
    // Prepare
    ebMock.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => {
      record(input);
      return acceptAll(input);
    });
    const huge = outgoing('PolicyInvalid', {
      managedBy: 'ami-lifecycle-test',
      instanceId: 'i-0123456789abcdef0',
      schedule: 'nightly',
      slot: '2026-11-26',
      problems: [{ tag: 'ami-lifecycle:bake', value: 'x'.repeat(MAX_REQUEST_BYTES), reason: 'too long' }],
      bakeSkipped: true,
    });
    const batch = [event(1), huge, event(2)];

    // Act
    const outcome = await publisher().publish(batch);

    // Assess
    expect(outcome.published).toBe(2);
    expect(outcome.failed).toEqual([
      { event: huge, code: 'EntryTooLarge', message: expect.stringMatching(/PutEvents takes at most 262144/) },
    ]);
    expect(sent.flat().map((e) => e.DetailType)).toEqual(['BakeRequested', 'BakeRequested']);
  });

  it('never has more PutEvents calls in flight than its concurrency', async () => {
    // Prepare: every call waits until the test releases it
    let inFlight = 0;
    let maxInFlight = 0;
    const waiting: Array<() => void> = [];
    ebMock.on(PutEventsCommand).callsFake(async (input: PutEventsCommandInput) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise<void>((resolve) => waiting.push(resolve));
      inFlight--;
      return acceptAll(input);
    });
    const flush = () => new Promise((resolve) => setImmediate(resolve));

    // Act
    const done = publisher({ concurrency: 2 }).publish(events(100));
    const observed: number[] = [];
    for (let released = 0; released < 10; released++) {
      await flush();
      observed.push(inFlight);
      waiting.shift()?.();
    }
    const outcome = await done;

    // Assess
    expect(outcome).toEqual({ published: 100, failed: [] });
    expect(ebMock).toHaveReceivedCommandTimes(PutEventsCommand, 10);
    expect(maxInFlight).toBe(2);
    expect(observed).toEqual([2, 2, 2, 2, 2, 2, 2, 2, 2, 1]);
  });
});

describe('entrySize', () => {
  it('counts 14 bytes for Time plus the UTF-8 bytes of Source, DetailType, Detail and Resources', () => {
    // Prepare
    const entry: PutEventsRequestEntry = {
      Source: 'abc',
      DetailType: 'de',
      Detail: '{"é":1}',
      Resources: ['r1', 'r22'],
      EventBusName: 'not counted',
    };

    // Act
    const size = entrySize(entry);

    // Assess
    expect(size).toBe(14 + 3 + 2 + Buffer.byteLength('{"é":1}') + 2 + 3);
    expect(Buffer.byteLength('{"é":1}')).toBe(8);
  });
});

describe('chunkEntries', () => {
  const items = (...bytes: number[]) => bytes.map((b, i) => ({ id: i, bytes: b }));
  const KB = 1024;

  it('cuts at 10 entries', () => {
    // Prepare
    const list = items(...Array.from({ length: 21 }, () => 100));

    // Act
    const chunks = chunkEntries(list);

    // Assess
    expect(chunks.map((c) => c.length)).toEqual([10, 10, 1]);
  });

  it('cuts before an entry that would take the call over 256 KB', () => {
    // Prepare
    const list = items(200 * KB, 56 * KB + 1, 100 * KB, 100 * KB, 56 * KB);

    // Act
    const chunks = chunkEntries(list);

    // Assess
    expect(chunks.map((c) => c.map((i) => i.id))).toEqual([[0], [1, 2], [3, 4]]);
  });

  it('fills a call to exactly 256 KB', () => {
    // Prepare
    const list = items(200 * KB, 56 * KB);

    // Act
    const chunks = chunkEntries(list);

    // Assess
    expect(chunks).toHaveLength(1);
  });

  it('returns no chunk for no entries', () => {
    // Act
    const chunks = chunkEntries([]);

    // Assess
    expect(chunks).toEqual([]);
  });

  it('keeps every entry once, in order, within both limits, without needless cuts (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: MAX_REQUEST_BYTES }), { maxLength: 60 }), (sizes) => {
        // Prepare
        const list = items(...sizes);

        // Act
        const chunks = chunkEntries(list);

        // Assess
        expect(chunks.flat()).toEqual(list);
        chunks.forEach((chunk, i) => {
          const total = chunk.reduce((s, x) => s + x.bytes, 0);
          expect(chunk.length).toBeGreaterThan(0);
          expect(chunk.length).toBeLessThanOrEqual(MAX_ENTRIES_PER_CALL);
          expect(total).toBeLessThanOrEqual(MAX_REQUEST_BYTES);
          // greedy: a chunk is cut only when the next entry would not fit
          const next = chunks[i + 1]?.[0];
          if (next) expect(chunk.length === MAX_ENTRIES_PER_CALL || total + next.bytes > MAX_REQUEST_BYTES).toBe(true);
        });
      }),
      { numRuns: 300 },
    );
  });
});
