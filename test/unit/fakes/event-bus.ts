/**
 * The service's bus in memory: it records what was published and can refuse chosen entries, the
 * way PutEvents refuses entries one by one.
 */
import type * as v from 'valibot';
import type { DETAIL_SCHEMAS, DetailType, OutgoingEvent } from '../../../shared/domain/events.js';
import type { EventPort, PublishFailure, PublishOutcome } from '../../../shared/use-cases/ports.js';
import type { Journal } from './ec2-account.js';

export type Refusal = { code: string; message: string };

export class InMemoryEventBus implements EventPort {
  /** Events accepted, in order. */
  readonly published: OutgoingEvent[] = [];
  /** Every publish call with the events it was given. */
  readonly calls: OutgoingEvent[][] = [];
  private refuse: (event: OutgoingEvent) => Refusal | undefined = () => undefined;

  constructor(private readonly journal?: Journal) {}

  /** Refuses the entries for which `test` returns true, with `code` (as PutEvents does per entry). */
  failWhen(test: (event: OutgoingEvent) => boolean, code = 'ThrottlingException'): void {
    this.refuse = (event) => (test(event) ? { code, message: `refused: ${code}` } : undefined);
  }

  failAll(code = 'ThrottlingException'): void {
    this.failWhen(() => true, code);
  }

  heal(): void {
    this.refuse = () => undefined;
  }

  /** Details of the published events of one type. */
  ofType<K extends DetailType>(detailType: K): Array<v.InferOutput<(typeof DETAIL_SCHEMAS)[K]>> {
    return this.published.filter((e) => e.detailType === detailType).map((e) => e.detail) as unknown as Array<
      v.InferOutput<(typeof DETAIL_SCHEMAS)[K]>
    >;
  }

  async publish(events: OutgoingEvent[]): Promise<PublishOutcome> {
    this.calls.push([...events]);
    const failed: PublishFailure[] = [];
    for (const event of events) {
      const refusal = this.refuse(event);
      if (refusal) {
        failed.push({ event, ...refusal });
        this.journal?.push(`publish-refused ${event.detailType}`);
      } else {
        this.published.push(event);
        this.journal?.push(`publish ${event.detailType}`);
      }
    }
    return { published: events.length - failed.length, failed };
  }
}
