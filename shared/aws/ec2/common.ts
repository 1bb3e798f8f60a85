/**
 * What the EC2 modules of this folder share: the client they call with (Ec2Context), binding a
 * module's functions to one client (bindEc2), the paged reads of images and instances, and the
 * error codes several of them tolerate. Each module exports plain functions over an Ec2Context, so
 * that a function's bundle carries only those its wiring names (ports.ts): esbuild drops the rest,
 * which it cannot do with the methods of one class (issue 18).
 */
import { paginateDescribeImages, paginateDescribeInstances, type EC2Client, type Filter } from '@aws-sdk/client-ec2';
import type { InstanceSummary } from '../../domain/bake.js';
import type { ImageView } from '../../domain/image-status.js';
import { pages, toAwsCallError } from '../errors.js';
import { toImageView, toInstanceSummary } from '../ec2-mappers.js';

/** EC2 in one region, and the page size of its paged reads (1,000 in production; tests page smaller). */
export interface Ec2Context {
  readonly client: EC2Client;
  readonly pageSize: number;
}

export function ec2Context(client: EC2Client, pageSize = 1000): Ec2Context {
  return { client, pageSize };
}

/** An operation of this folder: a function whose first parameter is the EC2 context. */
// biome-ignore lint/suspicious/noExplicitAny: any parameter list and result: Bound keeps each one's own.
type Operation = (ec2: Ec2Context, ...args: any[]) => unknown;

/** The operations of `M` with their context bound: what a port's methods look like. */
export type Bound<M> = {
  [K in keyof M as M[K] extends Operation ? K : never]: M[K] extends (ec2: Ec2Context, ...args: infer A) => infer R
    ? (...args: A) => R
    : never;
};

/**
 * The operations of `ops` (a module's namespace, or a selection) bound to one context; what is
 * not a function (a module's constants) is left out.
 */
export function bindEc2<M extends object>(ec2: Ec2Context, ops: M): Bound<M> {
  const bound: Record<string, unknown> = {};
  for (const [name, op] of Object.entries(ops)) {
    if (typeof op === 'function') bound[name] = (...args: unknown[]) => (op as Operation)(ec2, ...args);
  }
  return bound as Bound<M>;
}

export const IMAGE_NOT_FOUND = new Set(['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable', 'InvalidAMIID.Malformed']);
export const INSTANCE_NOT_FOUND = new Set(['InvalidInstanceID.NotFound', 'InvalidInstanceID.Malformed']);
export const SNAPSHOT_NOT_FOUND = new Set(['InvalidSnapshot.NotFound']);

/** States from which an instance can still be imaged or come back. */
export const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];

/** Runs one AWS call; the error codes in `tolerated` mean `fallback` rather than failure. */
export async function callOr<T, F>(action: string, fn: () => Promise<T>, tolerated: ReadonlySet<string>, fallback: F): Promise<T | F> {
  try {
    return await fn();
  } catch (error) {
    const mapped = toAwsCallError(action, error);
    if (tolerated.has(mapped.code)) return fallback;
    throw mapped;
  }
}

export async function collect<T>(source: AsyncIterable<T[]>): Promise<T[]> {
  const all: T[] = [];
  for await (const page of source) all.push(...page);
  return all;
}

/** The instances these filters select, a page at a time. */
export function instancePages(ec2: Ec2Context, Filters: Filter[]): AsyncIterable<InstanceSummary[]> {
  return pages('DescribeInstances', paginateDescribeInstances({ client: ec2.client, pageSize: ec2.pageSize }, { Filters }), (page) =>
    (page.Reservations ?? []).flatMap((r) => r.Instances ?? []).map(toInstanceSummary),
  );
}

/** The account's own images these filters select, a page at a time. */
export function imagePages(ec2: Ec2Context, Filters: Filter[], IncludeDisabled = false): AsyncIterable<ImageView[]> {
  return pages(
    'DescribeImages',
    paginateDescribeImages(
      { client: ec2.client, pageSize: ec2.pageSize },
      { Owners: ['self'], Filters, ...(IncludeDisabled ? { IncludeDisabled } : {}) },
    ),
    (page) => (page.Images ?? []).map(toImageView),
  );
}
