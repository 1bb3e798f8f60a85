import { afterEach, describe, expect, it, vi } from 'vitest';
import * as v from 'valibot';
import { ParseError } from '@aws-lambda-powertools/parser/errors';
import { logger } from '../../../shared/runtime/logger.js';
import { eventHandler, queueBatchHandler, queueHandler, rejectEvent } from '../../../shared/runtime/middleware.js';

const Schema = v.object({
  name: v.pipe(v.string(), v.trim(), v.minLength(1)),
  count: v.pipe(v.number(), v.integer()),
  nested: v.object({ flag: v.boolean() }),
});

const context = { awsRequestId: 'r', functionName: 'f' } as never;

const validEvent = { name: '  web  ', count: 3, nested: { flag: true } };

afterEach(() => {
  vi.restoreAllMocks();
});

describe('eventHandler', () => {
  it('hands a schema-valid event, as parsed, to the function and returns its result', async () => {
    // Prepare
    const run = vi.fn(async (event: v.InferOutput<typeof Schema>) => ({ status: 'ok', name: event.name }));
    const handler = eventHandler('f', Schema, run);

    // Act
    const result = await handler(validEvent, context);

    // Assess
    expect(result).toEqual({ status: 'ok', name: 'web' });
    expect(run).toHaveBeenCalledTimes(1);
    expect(run).toHaveBeenCalledWith({ name: 'web', count: 3, nested: { flag: true } });
  });

  it('rejects an invalid event with every failing path, without calling the function', async () => {
    // Prepare
    const run = vi.fn(async () => 'should not run');
    const handler = eventHandler('f', Schema, run);
    const errorLog = vi.spyOn(logger, 'error');

    // Act
    // the handler is typed for parsed events; the wire can carry anything
    const result = await handler({ name: '', count: 1.5, nested: { flag: 'yes' } } as never, context);

    // Assess
    expect(run).not.toHaveBeenCalled();
    expect(result).toEqual({ status: 'rejected', reason: expect.any(String) });
    const reason = (result as { reason: string }).reason;
    const paths = reason.split('; ').map((issue) => issue.split(': ')[0]);
    expect(paths).toEqual(['name', 'count', 'nested.flag']);
    expect(errorLog).toHaveBeenCalledTimes(1);
    expect(errorLog.mock.calls[0]![1]).toMatchObject({ function: 'f', issues: reason.split('; ') });
  });

  it('rejects an event that is not an object, naming the event itself', async () => {
    // Prepare
    const run = vi.fn(async () => 'should not run');
    const handler = eventHandler('f', Schema, run);

    // Act
    const results = [await handler(null as never, context), await handler('a string' as never, context)];

    // Assess
    expect(run).not.toHaveBeenCalled();
    for (const r of results) expect(r).toEqual({ status: 'rejected', reason: expect.stringMatching(/^\(event\): /) });
  });

  it('lets an error thrown by the function propagate, so that Lambda retries', async () => {
    // Prepare
    const boom = new Error('EC2 is down');
    const handler = eventHandler('f', Schema, async () => {
      throw boom;
    });

    // Act
    const act = handler(validEvent, context);

    // Assess
    await expect(act).rejects.toBe(boom);
  });

  it('does not mistake a ParseError thrown by the function for a rejected event', async () => {
    // Prepare
    const inner = new ParseError('a later parse failed', { cause: [{ path: ['x'], message: 'bad' }] });
    const handler = eventHandler('f', Schema, async () => {
      throw inner;
    });

    // Act
    const act = handler(validEvent, context);

    // Assess
    await expect(act).rejects.toBe(inner);
  });
});

describe('rejectEvent', () => {
  it('reads issues given as an array, with object path segments', () => {
    // Prepare
    const error = new ParseError('Failed to parse schema', {
      cause: [
        { path: ['detail', { key: 'ImageId' }], message: 'not an image id' },
        { path: [], message: 'expected object' },
      ],
    });

    // Act
    const result = rejectEvent('f', error, {});

    // Assess
    expect(result).toEqual({ status: 'rejected', reason: 'detail.ImageId: not an image id; (event): expected object' });
  });

  it('reads issues given as { issues }', () => {
    // Prepare
    const error = new ParseError('Failed to parse schema', { cause: { issues: [{ path: ['a', 0], message: 'bad' }] } });

    // Act
    const result = rejectEvent('f', error, {});

    // Assess
    expect(result).toEqual({ status: 'rejected', reason: 'a.0: bad' });
  });

  it("falls back to the error's message when there are no issues", () => {
    // Prepare
    const error = new ParseError('envelope could not be read');

    // Act
    const result = rejectEvent('f', error, { source: 'x' });

    // Assess
    expect(result).toEqual({ status: 'rejected', reason: 'envelope could not be read' });
  });

  it('logs a summary of the event, not the event itself', () => {
    // Prepare
    const errorLog = vi.spyOn(logger, 'error');
    const event = { source: 'aws.ec2', 'detail-type': 'EC2 AMI State Change', id: 'e-1', detail: { secret: 'x'.repeat(1000) } };

    // Act
    rejectEvent('imageState', new ParseError('bad'), event);

    // Assess
    expect(errorLog).toHaveBeenCalledTimes(1);
    expect(errorLog.mock.calls[0]![1]).toEqual({
      function: 'imageState',
      issues: [],
      event: { source: 'aws.ec2', detailType: 'EC2 AMI State Change', eventId: 'e-1', keys: ['source', 'detail-type', 'id', 'detail'] },
    });
  });
});

describe('queueHandler (a function fed by an SQS queue)', () => {
  const record = (messageId: string, body: unknown) => ({
    messageId,
    receiptHandle: `rh-${messageId}`,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    attributes: { ApproximateReceiveCount: '1' },
    eventSource: 'aws:sqs',
  });

  it('runs each record on its own and reports only the ones whose run threw', async () => {
    // Prepare
    const run = vi.fn(async (event: v.InferOutput<typeof Schema>) => {
      if (event.count === 2) throw new Error('throttled');
      return 'done';
    });
    const handler = queueHandler('f', Schema, run);

    // Act
    const result = await handler(
      {
        Records: [
          record('m1', { ...validEvent, count: 1 }),
          record('m2', { ...validEvent, count: 2 }),
          record('m3', { ...validEvent, count: 3 }),
        ],
      },
      context,
    );

    // Assess: the answer Lambda reads, nothing else
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm2' }] });
    expect(run).toHaveBeenCalledTimes(3);
    expect(run.mock.calls[0]![0]).toEqual({ name: 'web', count: 1, nested: { flag: true } });
  });

  it('deletes (never retries) a record whose body the schema refuses or that is not JSON, logging why', async () => {
    // Prepare
    const run = vi.fn(async () => 'done');
    const handler = queueHandler('f', Schema, run);
    const errorLog = vi.spyOn(logger, 'error');

    // Act
    const result = await handler(
      { Records: [record('bad', { name: '', count: 1.5, nested: {} }), record('junk', '{not json'), record('ok', validEvent)] },
      context,
    );

    // Assess
    expect(result).toEqual({ batchItemFailures: [] });
    expect(run).toHaveBeenCalledTimes(1);
    expect(errorLog).toHaveBeenCalledTimes(2);
    expect(errorLog.mock.calls[0]![1]).toMatchObject({ function: 'f', issues: expect.arrayContaining([expect.stringMatching(/^name: /)]) });
    expect(errorLog.mock.calls[1]![1]).toMatchObject({ function: 'f', issues: ['body: not JSON'] });
  });

  it('answers an event that is no SQS batch with no failures, and logs it', async () => {
    // Prepare
    const run = vi.fn(async () => 'done');
    const handler = queueHandler('f', Schema, run);
    const errorLog = vi.spyOn(logger, 'error');

    // Act / Assess
    expect(await handler({ detail: 'x' } as never, context)).toEqual({ batchItemFailures: [] });
    expect(await handler(null as never, context)).toEqual({ batchItemFailures: [] });
    expect(run).not.toHaveBeenCalled();
    expect(errorLog).toHaveBeenCalledTimes(2);
  });
});

describe('queueBatchHandler (a function that works on the whole SQS batch at once)', () => {
  const record = (messageId: string, body: unknown) => ({
    messageId,
    receiptHandle: `rh-${messageId}`,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    eventSource: 'aws:sqs',
  });

  it('hands every readable record to one run, and reports the ones it answers failed', async () => {
    // Prepare
    const run = vi.fn(async (records: Array<{ messageId: string; event: v.InferOutput<typeof Schema> }>) =>
      records.filter((r) => r.event.count === 2).map((r) => r.messageId),
    );
    const handler = queueBatchHandler('f', Schema, run);

    // Act
    const result = await handler(
      { Records: [record('m1', { ...validEvent, count: 1 }), record('m2', { ...validEvent, count: 2 }), record('m3', validEvent)] },
      context,
    );

    // Assess
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm2' }] });
    expect(run).toHaveBeenCalledTimes(1);
    expect(run.mock.calls[0]![0].map((r) => [r.messageId, r.event.count])).toEqual([
      ['m1', 1],
      ['m2', 2],
      ['m3', 3],
    ]);
    expect(run.mock.calls[0]![0][0]!.event.name).toBe('web');
  });

  it('reports a record whose body the schema refuses or that is not JSON as failed, alone, logging why', async () => {
    // Prepare
    const run = vi.fn(async (_records: Array<{ messageId: string }>) => [] as string[]);
    const handler = queueBatchHandler('f', Schema, run);
    const errorLog = vi.spyOn(logger, 'error');

    // Act
    const result = await handler(
      { Records: [record('bad', { name: '', count: 1.5, nested: {} }), record('junk', '{not json'), record('ok', validEvent)] },
      context,
    );

    // Assess: the readable one runs and is done; the two others are received again, then dead-lettered
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'bad' }, { itemIdentifier: 'junk' }] });
    expect(run.mock.calls[0]![0].map((r) => r.messageId)).toEqual(['ok']);
    expect(errorLog.mock.calls[0]![1]).toMatchObject({ function: 'f', issues: expect.arrayContaining([expect.stringMatching(/^name: /)]) });
    expect(errorLog.mock.calls[1]![1]).toMatchObject({ function: 'f', issues: ['body: not JSON'] });
  });

  it('fails every record it ran when the run throws', async () => {
    // Prepare
    const handler = queueBatchHandler('f', Schema, async () => {
      throw new Error('throttled');
    });

    // Act
    const result = await handler({ Records: [record('m1', validEvent), record('m2', validEvent)] }, context);

    // Assess
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }, { itemIdentifier: 'm2' }] });
  });

  it('does not run for a batch with no readable record, and answers an event that is no SQS batch with no failures', async () => {
    // Prepare
    const run = vi.fn(async () => []);
    const handler = queueBatchHandler('f', Schema, run);

    // Act / Assess
    expect(await handler({ Records: [record('junk', 'x')] }, context)).toEqual({ batchItemFailures: [{ itemIdentifier: 'junk' }] });
    expect(await handler({ detail: 'x' } as never, context)).toEqual({ batchItemFailures: [] });
    expect(run).not.toHaveBeenCalled();
  });
});
