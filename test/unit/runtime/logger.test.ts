import { afterEach, describe, expect, it, vi } from 'vitest';
import { JsonLogger, logLevel } from '../../../shared/runtime/logger.js';

/** A logger at `level` whose lines are kept, parsed, with the console method each went to. */
function recording(level: Parameters<typeof logLevel>[0]) {
  const logger = new JsonLogger('ami-lifecycle-ci', logLevel(level));
  const lines: Array<{ via: string; entry: Record<string, unknown> }> = [];
  const keep = (via: string) => (line: string) => void lines.push({ via, entry: JSON.parse(line) as Record<string, unknown> });
  logger.console = { debug: keep('debug'), info: keep('info'), warn: keep('warn'), error: keep('error') };
  return { logger, lines };
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('JsonLogger', () => {
  it('writes one JSON line per entry with level, message, timestamp, service and the fields', () => {
    // Prepare
    const { logger, lines } = recording('INFO');

    // Act
    logger.info('bake requested', { instanceId: 'i-1' }, { slot: '2026-12-04' });

    // Assess
    expect(lines).toEqual([
      {
        via: 'info',
        entry: {
          level: 'INFO',
          message: 'bake requested',
          timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          service: 'ami-lifecycle-ci',
          instanceId: 'i-1',
          slot: '2026-12-04',
        },
      },
    ]);
  });

  it('writes what the level lets through: INFO drops debug, ERROR drops warnings, SILENT everything', () => {
    for (const [level, kept] of [
      ['DEBUG', ['DEBUG', 'INFO', 'WARN', 'ERROR']],
      ['info', ['INFO', 'WARN', 'ERROR']],
      ['ERROR', ['ERROR']],
      ['SILENT', []],
      [undefined, ['INFO', 'WARN', 'ERROR']],
      ['LOUD', ['INFO', 'WARN', 'ERROR']],
    ] as const) {
      // Prepare
      const { logger, lines } = recording(level);

      // Act
      logger.debug('d');
      logger.info('i');
      logger.warn('w');
      logger.error('e');

      // Assess
      expect(
        lines.map((l) => l.entry.level),
        String(level),
      ).toEqual(kept);
      expect(lines.map((l) => l.via)).toEqual(kept.map((k) => k.toLowerCase()));
    }
  });

  it("adds the invocation's context to every line, and the trace id when Lambda sets one", () => {
    // Prepare
    vi.stubEnv('_X_AMZN_TRACE_ID', 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1');
    const { logger, lines } = recording('INFO');

    // Act
    logger.setInvocation({ functionName: 'ami-lifecycle-ci-bake', awsRequestId: 'r-1' }, true);
    logger.info('first');
    logger.setInvocation({ functionName: 'ami-lifecycle-ci-bake', awsRequestId: 'r-2' }, false);
    logger.info('second');

    // Assess
    expect(lines.map((l) => l.entry)).toEqual([
      expect.objectContaining({
        message: 'first',
        cold_start: true,
        function_name: 'ami-lifecycle-ci-bake',
        function_request_id: 'r-1',
        xray_trace_id: '1-5759e988-bd862e3fe1be46a994272793',
      }),
      expect.objectContaining({ message: 'second', cold_start: false, function_request_id: 'r-2' }),
    ]);
  });

  it('writes an error as its name, message and stack, a bigint as text, and a circular reference without throwing', () => {
    // Prepare
    const { logger, lines } = recording('INFO');
    const loop: Record<string, unknown> = { name: 'loop' };
    loop.self = loop;

    // Act
    logger.error('failed', { error: new TypeError('bad'), size: 2n ** 70n, loop });

    // Assess
    const entry = lines[0]!.entry;
    expect(entry.error).toEqual({ name: 'TypeError', message: 'bad', stack: expect.stringContaining('TypeError: bad') });
    expect(entry.size).toBe('1180591620717411303424');
    expect(entry.loop).toEqual({ name: 'loop', self: '[Circular]' });
  });
});
