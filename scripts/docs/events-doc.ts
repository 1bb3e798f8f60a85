/**
 * docs/events.md's tables of published events, from the valibot schemas the code publishes with
 * (shared/domain/events.ts) and what scripts/docs/event-fields.ts says each field means.
 */
import type * as v from 'valibot';
import { DETAIL_SCHEMAS } from '../../shared/domain/events.js';
import { ISO_DATE_TIME_PATTERNS } from '../../shared/domain/schema.js';
import { EVENT_DOCS, type EventDoc } from './event-fields.js';

interface Field {
  path: string;
  type: string;
  optional: boolean;
}

/** What the generator reads of a valibot schema: its type, its parts, and the actions of its pipe. */
type Node = {
  type: string;
  entries?: Record<string, Node>;
  wrapped?: Node;
  item?: Node;
  options?: readonly unknown[];
  pipe?: ReadonlyArray<{ kind: string; type: string; requirement?: unknown }>;
};
const nodeOf = (schema: unknown): Node => schema as Node;

/** The schema's fields, nested objects (and arrays of objects) flattened to dotted paths. */
export function fieldsOf(schema: v.GenericSchema, prefix = '', opaque: readonly string[] = []): Field[] {
  const entries = nodeOf(schema).entries ?? {};
  return Object.entries(entries).flatMap(([key, value]) => {
    const path = prefix + key;
    const optional = value.type === 'optional';
    const present = optional ? value.wrapped! : value;
    // An object, or an array of objects, lists its own fields under its path.
    const object = present.type === 'array' ? present.item! : present;
    const nested =
      object.type === 'object' && !opaque.includes(path) ? fieldsOf(object as unknown as v.GenericSchema, `${path}.`, opaque) : [];
    return [{ path, type: typeName(present), optional }, ...nested];
  });
}

/** The actions of a schema's pipe, and of the pipes it is built on (`v.pipe(int(), v.minValue(0))`). */
const actionsOf = (node: Node): Array<{ type: string; requirement?: unknown }> =>
  (node.pipe ?? []).flatMap((a) => (a.kind === 'schema' ? actionsOf(a as unknown as Node) : a.kind === 'validation' ? [a] : []));

function typeName(node: Node): string {
  switch (node.type) {
    case 'string':
      return actionsOf(node).some((a) => ISO_DATE_TIME_PATTERNS.includes(a.requirement as RegExp)) ? 'ISO time' : 'string';
    case 'number':
      return actionsOf(node).some((a) => a.type === 'safe_integer' || a.type === 'integer') ? 'integer' : 'number';
    case 'picklist':
      return (node.options as string[]).map((o) => `\`${o}\``).join(' \\| ');
    case 'array':
      return `${typeName(node.item!)}[]`;
    case 'record':
      return 'map of string';
    default:
      return node.type;
  }
}

/** The events' section: one heading and table per detail-type, in DETAIL_SCHEMAS' order. */
export function publishedEventsDoc(
  schemas: Record<string, v.GenericSchema> = DETAIL_SCHEMAS,
  docs: Record<string, EventDoc> = EVENT_DOCS,
): string {
  return Object.entries(schemas)
    .map(([name, schema]) => {
      const doc = docs[name];
      if (!doc) throw new Error(`scripts/docs/event-fields.ts does not describe ${name}`);
      const fields = fieldsOf(schema, '', doc.opaque);
      const rows = fields.map((f) => {
        const meaning = doc.fields[f.path];
        if (meaning === undefined) throw new Error(`scripts/docs/event-fields.ts does not describe ${name}.${f.path}`);
        return `| \`${f.path}\` | ${f.type} | ${f.optional ? 'optional' : 'always'} | ${meaning} |`;
      });
      const extra = Object.keys(doc.fields).filter((p) => !fields.some((f) => f.path === p));
      if (extra.length) throw new Error(`scripts/docs/event-fields.ts describes fields ${name} does not have: ${extra.join(', ')}`);
      return [
        `### ${name}`,
        '',
        `${doc.when} Deduplicate on ${doc.dedupe}.`,
        '',
        '| field | type | present | meaning |',
        '|---|---|---|---|',
        ...rows,
      ].join('\n');
    })
    .join('\n\n');
}
