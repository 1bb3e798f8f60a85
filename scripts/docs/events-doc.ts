/**
 * docs/events.md's tables of published events, from the zod schemas the code publishes with
 * (shared/domain/events.ts) and what scripts/docs/event-fields.ts says each field means.
 */
import type * as z from 'zod/mini';
import { DETAIL_SCHEMAS } from '../../shared/domain/events.js';
import { EVENT_DOCS, type EventDoc } from './event-fields.js';

interface Field {
  path: string;
  type: string;
  optional: boolean;
}

type Def = { type: string; [key: string]: unknown };
const defOf = (schema: unknown): Def => (schema as { _zod: { def: Def } })._zod.def;

/** The schema's fields, nested objects (and arrays of objects) flattened to dotted paths. */
export function fieldsOf(schema: z.ZodMiniType, prefix = '', opaque: readonly string[] = []): Field[] {
  const shape = (defOf(schema).shape ?? {}) as Record<string, z.ZodMiniType>;
  return Object.entries(shape).flatMap(([key, value]) => {
    const path = prefix + key;
    const optional = defOf(value).type === 'optional';
    const present = optional ? (defOf(value).innerType as z.ZodMiniType) : value;
    const def = defOf(present);
    // An object, or an array of objects, lists its own fields under its path.
    const object = def.type === 'array' ? (def.element as z.ZodMiniType) : present;
    const nested = defOf(object).type === 'object' && !opaque.includes(path) ? fieldsOf(object, `${path}.`, opaque) : [];
    return [{ path, type: typeName(def), optional }, ...nested];
  });
}

function typeName(def: Def): string {
  switch (def.type) {
    case 'string':
      return def.format === 'datetime' ? 'ISO time' : 'string';
    case 'number': {
      const checks = (def.checks ?? []) as Array<{ _zod: { def: { format?: string } } }>;
      return checks.some((c) => c._zod.def.format?.includes('int')) ? 'integer' : 'number';
    }
    case 'enum':
      return Object.values(def.entries as Record<string, string>)
        .map((v) => `\`${v}\``)
        .join(' \\| ');
    case 'array':
      return `${typeName(defOf(def.element))}[]`;
    case 'record':
      return 'map of string';
    default:
      return def.type;
  }
}

/** The events' section: one heading and table per detail-type, in DETAIL_SCHEMAS' order. */
export function publishedEventsDoc(
  schemas: Record<string, z.ZodMiniType> = DETAIL_SCHEMAS,
  docs: Record<string, EventDoc> = EVENT_DOCS,
): string {
  return Object.entries(schemas)
    .map(([name, schema]) => {
      const doc = docs[name];
      if (!doc) throw new Error(`scripts/docs/event-fields.ts does not describe ${name}`);
      const fields = fieldsOf(schema as z.ZodMiniType, '', doc.opaque);
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
