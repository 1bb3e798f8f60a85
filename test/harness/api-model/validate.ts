/**
 * Checks a decoded input against its shape as AWS's servers do: required members, length of
 * strings, blobs, lists and maps, numeric ranges, enums, patterns, and values of the wrong
 * type, recursing into structures, lists and maps. Every failure is kept, in model order.
 * TEST-ONLY.
 */
import type { ServiceModel, Shape, ShapeRef } from './botocore.js';
import { type Blob, Unparsable } from './deserialize.js';
import { javaPattern, UntranslatableRegex } from './java-regex.js';

export type Rule = 'required' | 'length' | 'range' | 'enum' | 'pattern' | 'unknown' | 'type';

/** One step into the input: a member (by its model name), a list position (1-based) or a map key. */
export type Step = { member: string } | { index: number } | { key: string };

export interface Failure {
  rule: Rule;
  path: Step[];
  /** The shape the failing value has (for Coral's rendering of structures). */
  shapeName?: string;
  value: unknown;
  /** The bound broken: `max` 10, `min` 1 ... (length and range). */
  bound?: { side: 'min' | 'max'; limit: number; of: 'string' | 'blob' | 'list' | 'map' | 'number' };
  enumValues?: string[];
  pattern?: string;
  expectedType?: string;
  sensitive?: boolean;
  /** For `unknown`: the parameter as sent. */
  wire?: string;
}

/** A pattern the validator could not translate is reported once, not silently skipped. */
const warned = new Set<string>();

export function validateInput(model: ServiceModel, inputRef: ShapeRef | undefined, input: Record<string, unknown>): Failure[] {
  const failures: Failure[] = [];
  if (input[''] instanceof Unparsable) {
    failures.push({ rule: 'type', path: [], value: input[''].raw, expectedType: input[''].expected });
    return failures;
  }
  if (inputRef) new Validator(model, failures).value(inputRef, input, []);
  return failures;
}

class Validator {
  constructor(
    private readonly model: ServiceModel,
    private readonly failures: Failure[],
  ) {}

  value(ref: ShapeRef, value: unknown, path: Step[]): void {
    const shape = this.model.shapes[ref.shape]!;
    if (value instanceof Unparsable) {
      this.failures.push({ rule: 'type', path, value: value.raw, expectedType: value.expected, shapeName: ref.shape });
      return;
    }
    if (shape.document) return;
    switch (shape.type) {
      case 'structure':
        this.structure(shape, ref, value as Record<string, unknown>, path);
        return;
      case 'list': {
        const items = value as unknown[];
        this.bounds(shape, items.length, 'list', items, path, ref);
        items.forEach((item, i) => {
          if (item !== undefined) this.value(shape.member!, item, [...path, { index: i + 1 }]);
        });
        return;
      }
      case 'map': {
        const entries = value as Map<string, unknown>;
        this.bounds(shape, entries.size, 'map', entries, path, ref);
        for (const [k, v] of entries) {
          this.value(shape.key!, k, [...path, { key: k }]);
          if (v !== undefined) this.value(shape.value!, v, [...path, { key: k }]);
        }
        return;
      }
      case 'string': {
        const text = value as string;
        this.bounds(shape, text.length, 'string', text, path, ref);
        if (shape.enum && !shape.enum.includes(text)) {
          this.failures.push({
            rule: 'enum',
            path,
            value: text,
            enumValues: shape.enum,
            shapeName: ref.shape,
            sensitive: !!shape.sensitive,
          });
        }
        if (shape.pattern !== undefined && !this.matches(shape.pattern, text)) {
          this.failures.push({
            rule: 'pattern',
            path,
            value: text,
            pattern: shape.pattern,
            shapeName: ref.shape,
            sensitive: !!shape.sensitive,
          });
        }
        return;
      }
      case 'blob':
        this.bounds(shape, (value as Blob).bytes.length, 'blob', value, path, ref);
        return;
      case 'boolean':
      case 'timestamp':
        return;
      default:
        this.bounds(shape, value as number, 'number', value, path, ref);
    }
  }

  private structure(shape: Shape, ref: ShapeRef, value: Record<string, unknown>, path: Step[]): void {
    const required = new Set(shape.required ?? []);
    for (const [name, memberRef] of Object.entries(shape.members ?? {})) {
      const member = value[name];
      if (member === undefined || member === null) {
        if (required.has(name))
          this.failures.push({ rule: 'required', path: [...path, { member: name }], value: null, shapeName: memberRef.shape });
        continue;
      }
      this.value(memberRef, member, [...path, { member: name }]);
    }
    void ref;
  }

  private bounds(
    shape: Shape,
    size: number,
    of: 'string' | 'blob' | 'list' | 'map' | 'number',
    value: unknown,
    path: Step[],
    ref: ShapeRef,
  ): void {
    const sensitive = !!shape.sensitive;
    if (shape.min !== undefined && size < shape.min) {
      this.failures.push({
        rule: of === 'number' ? 'range' : 'length',
        path,
        value,
        bound: { side: 'min', limit: shape.min, of },
        shapeName: ref.shape,
        sensitive,
      });
    }
    if (shape.max !== undefined && size > shape.max) {
      this.failures.push({
        rule: of === 'number' ? 'range' : 'length',
        path,
        value,
        bound: { side: 'max', limit: shape.max, of },
        shapeName: ref.shape,
        sensitive,
      });
    }
  }

  private matches(pattern: string, text: string): boolean {
    try {
      return javaPattern(pattern).test(text);
    } catch (error) {
      if (!(error instanceof UntranslatableRegex)) throw error;
      if (!warned.has(pattern)) {
        warned.add(pattern);
        process.stderr.write(`[api-model] ${this.model.name}: pattern not enforced (cannot translate): ${error.message}\n`);
      }
      return true;
    }
  }
}
