/**
 * Reads a request back into its operation's input, as the AWS service would, per protocol:
 *
 * - `ec2`: form parameters; lists flattened as `Name.N`; a member travels under its queryName,
 *   else its locationName capitalised, else its own name (botocore's EC2Serializer).
 * - `query` (IAM, CloudFormation, STS): lists as `Name.member.N` (or the list member's
 *   locationName), maps as `Name.entry.N.key` / `.value`, flattened ones without the wrapper.
 * - `json` (X-Amz-Target, JSON 1.0 and 1.1): the body, members under their own names.
 * - `rest-json` (Lambda, Scheduler): URI labels from requestUri, query string, headers and
 *   a payload member or a JSON body.
 *
 * Scalars that arrive as text (query protocols, URI, headers) are parsed per their shape; a
 * value that does not parse stays an `Unparsable`, which the validator reports.
 * TEST-ONLY.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Operation, ServiceModel, Shape, ShapeRef } from './botocore.js';

/** A text value that does not parse as its shape's type (e.g. `abc` for an integer). */
export class Unparsable {
  constructor(
    readonly raw: unknown,
    readonly expected: string,
  ) {}
}

/** A blob: validated by its length in bytes. */
export class Blob {
  constructor(readonly bytes: Buffer) {}
}

export interface Decoded {
  /** The input structure: members by their model names; lists as arrays, maps as Map. */
  input: Record<string, unknown>;
  /** Parameters the input shape has no member for (only where the service refuses them: EC2). */
  unknown: string[];
}

export interface RawRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

const shapeOf = (model: ServiceModel, ref: ShapeRef): Shape => {
  const shape = model.shapes[ref.shape];
  if (!shape) throw new Error(`${model.name}: no shape ${ref.shape}`);
  return shape;
};

// ---------------------------------------------------------------------------
// Text scalars
// ---------------------------------------------------------------------------

/** A scalar sent as text, parsed per its shape (query protocols, URI labels, query strings, headers). */
export function parseText(shape: Shape, text: string, header = false): unknown {
  switch (shape.type) {
    case 'string':
      return text;
    case 'boolean':
      return text === 'true' ? true : text === 'false' ? false : new Unparsable(text, 'boolean');
    case 'integer':
    case 'long':
    case 'short':
    case 'byte':
    case 'bigInteger':
      return /^[+-]?\d+$/.test(text.trim()) ? Number(text) : new Unparsable(text, shape.type);
    case 'float':
    case 'double':
    case 'bigDecimal': {
      const n = Number(text);
      return text.trim() !== '' && (!Number.isNaN(n) || text === 'NaN') ? n : new Unparsable(text, shape.type);
    }
    case 'timestamp': {
      const ms = /^\d+(\.\d+)?$/.test(text) ? Number(text) * 1000 : Date.parse(text);
      return Number.isNaN(ms) ? new Unparsable(text, header ? 'timestamp (HTTP date)' : 'timestamp') : new Date(ms);
    }
    case 'blob':
      return new Blob(Buffer.from(text, 'base64'));
    default:
      return new Unparsable(text, shape.type);
  }
}

// ---------------------------------------------------------------------------
// ec2 and query: form parameters
// ---------------------------------------------------------------------------

/** Form parameters as a tree on their dotted names: `Filter.1.Value.2` -> Filter / 1 / Value / 2. */
interface Node {
  /** The full parameter name up to here. */
  name: string;
  value?: string;
  children: Map<string, Node>;
}

function formTree(params: Iterable<[string, string]>): Node {
  const root: Node = { name: '', children: new Map() };
  for (const [key, value] of params) {
    if (key === 'Action' || key === 'Version') continue;
    let node = root;
    for (const part of key.split('.')) {
      let child = node.children.get(part);
      if (!child) {
        child = { name: node.name ? `${node.name}.${part}` : part, children: new Map() };
        node.children.set(part, child);
      }
      node = child;
    }
    node.value = value;
  }
  return root;
}

/** The form parameters of an ec2 or query request: the body, else (a GET) the query string. */
export function formParams(request: RawRequest): URLSearchParams {
  if (request.body.length > 0) return new URLSearchParams(request.body.toString('utf8'));
  return new URL(request.url, 'http://x').searchParams;
}

/** Reads ec2 / query form parameters into the input shape. */
export function decodeForm(model: ServiceModel, op: Operation, params: URLSearchParams): Decoded {
  const ec2 = model.metadata.protocol === 'ec2';
  const unknown: string[] = [];
  const reader = new FormReader(model, ec2, unknown);
  const input = op.input ? (reader.structure(shapeOf(model, op.input), formTree(params)) as Record<string, unknown>) : {};
  return { input, unknown: ec2 ? unknown : [] };
}

/** Wire name -> member name, per structure shape and protocol (computed once per shape). */
const wireNames = new WeakMap<Shape, Map<string, string>>();

class FormReader {
  constructor(
    private readonly model: ServiceModel,
    private readonly ec2: boolean,
    private readonly unknown: string[],
  ) {}

  private wireName(name: string, ref: ShapeRef): string {
    if (this.ec2) {
      if (ref.queryName) return ref.queryName;
      if (ref.locationName) return ref.locationName[0]!.toUpperCase() + ref.locationName.slice(1);
      return name;
    }
    const shape = shapeOf(this.model, ref);
    // A flattened list travels under its member's locationName, when it has one.
    if (shape.type === 'list' && (shape.flattened || ref.flattened) && shape.member?.locationName) return shape.member.locationName;
    return ref.locationName ?? name;
  }

  private membersByWire(shape: Shape): Map<string, string> {
    let names = wireNames.get(shape);
    if (!names) {
      names = new Map(Object.entries(shape.members ?? {}).map(([name, ref]) => [this.wireName(name, ref), name]));
      wireNames.set(shape, names);
    }
    return names;
  }

  read(ref: ShapeRef, node: Node): unknown {
    const shape = shapeOf(this.model, ref);
    switch (shape.type) {
      case 'structure':
        return this.structure(shape, node);
      case 'list':
        return this.list(shape, ref, node);
      case 'map':
        return this.map(shape, ref, node);
      default:
        this.noChildren(node);
        return node.value === undefined ? new Unparsable(undefined, shape.type) : parseText(shape, node.value);
    }
  }

  structure(shape: Shape, node: Node): Record<string, unknown> | Unparsable {
    if (node.value !== undefined && node.children.size === 0 && node.name !== '') return new Unparsable(node.value, 'structure');
    const byWire = this.membersByWire(shape);
    const out: Record<string, unknown> = {};
    for (const [part, child] of node.children) {
      const member = byWire.get(part);
      if (member === undefined) {
        this.unknown.push(child.name);
        continue;
      }
      out[member] = this.read(shape.members![member]!, child);
    }
    return out;
  }

  private list(shape: Shape, ref: ShapeRef, node: Node): unknown[] | Unparsable {
    // The query protocol sends an empty list as `Name=`.
    if (node.children.size === 0) return node.value === '' ? [] : new Unparsable(node.value, 'list');
    let items = node;
    if (!this.ec2 && !(shape.flattened || ref.flattened)) {
      const wrapper = shape.member?.locationName ?? 'member';
      for (const [part, child] of node.children) if (part !== wrapper) this.unknown.push(child.name);
      const inner = node.children.get(wrapper);
      if (!inner) return [];
      items = inner;
    }
    return this.indexed(items).map((child) => this.read(shape.member!, child));
  }

  private map(shape: Shape, ref: ShapeRef, node: Node): Map<string, unknown> {
    let entries = node;
    if (!(shape.flattened || ref.flattened)) {
      const inner = node.children.get('entry');
      for (const [part, child] of node.children) if (part !== 'entry') this.unknown.push(child.name);
      if (!inner) return new Map();
      entries = inner;
    }
    const keyName = shape.key?.locationName ?? 'key';
    const valueName = shape.value?.locationName ?? 'value';
    const out = new Map<string, unknown>();
    for (const entry of this.indexed(entries)) {
      const key = entry.children.get(keyName)?.value;
      const value = entry.children.get(valueName);
      for (const [part, child] of entry.children) if (part !== keyName && part !== valueName) this.unknown.push(child.name);
      if (key === undefined) continue;
      out.set(key, value === undefined ? undefined : this.read(shape.value!, value));
    }
    return out;
  }

  /** The numbered children (1, 2, ...) in order; any other child is unknown. */
  private indexed(node: Node): Node[] {
    const numbered: Array<[number, Node]> = [];
    for (const [part, child] of node.children) {
      if (/^[1-9]\d*$/.test(part)) numbered.push([Number(part), child]);
      else this.unknown.push(child.name);
    }
    return numbered.sort(([a], [b]) => a - b).map(([, child]) => child);
  }

  private noChildren(node: Node): void {
    for (const child of node.children.values()) this.unknown.push(child.name);
  }
}

// ---------------------------------------------------------------------------
// json and rest-json bodies
// ---------------------------------------------------------------------------

/** Reads a JSON value into a shape; JSON's own types must fit (else Unparsable). */
export function readJson(model: ServiceModel, ref: ShapeRef, value: unknown): unknown {
  const shape = shapeOf(model, ref);
  if (value === null || value === undefined) return undefined;
  if (shape.document) return value;
  switch (shape.type) {
    case 'structure': {
      if (typeof value !== 'object' || Array.isArray(value)) return new Unparsable(value, 'structure');
      const out: Record<string, unknown> = {};
      for (const [name, memberRef] of Object.entries(shape.members ?? {})) {
        if (memberRef.location !== undefined) continue; // not in the body
        const v = (value as Record<string, unknown>)[memberRef.locationName ?? name];
        if (v !== undefined && v !== null) out[name] = readJson(model, memberRef, v);
      }
      return out;
    }
    case 'list':
      return Array.isArray(value) ? value.map((item) => readJson(model, shape.member!, item)) : new Unparsable(value, 'list');
    case 'map': {
      if (typeof value !== 'object' || Array.isArray(value)) return new Unparsable(value, 'map');
      return new Map(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, readJson(model, shape.value!, v)]));
    }
    case 'string':
      return typeof value === 'string' ? value : new Unparsable(value, 'string');
    case 'boolean':
      return typeof value === 'boolean' ? value : new Unparsable(value, 'boolean');
    case 'blob':
      return typeof value === 'string' ? new Blob(Buffer.from(value, 'base64')) : new Unparsable(value, 'blob');
    case 'timestamp':
      if (typeof value === 'number') return new Date(value * 1000);
      return typeof value === 'string' ? parseText(shape, value) : new Unparsable(value, 'timestamp');
    default: // numbers
      if (typeof value === 'number') return value;
      // Floats may travel as "NaN" / "Infinity" strings.
      if (typeof value === 'string' && /^(NaN|-?Infinity)$/.test(value) && /float|double/.test(shape.type)) return Number(value);
      return new Unparsable(value, shape.type);
  }
}

function parseJsonBody(body: Buffer): unknown {
  const text = body.toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return new Unparsable(text.slice(0, 100), 'JSON document');
  }
}

/** Reads a json protocol request (X-Amz-Target) into the input shape. */
export function decodeJson(model: ServiceModel, op: Operation, body: Buffer): Decoded {
  if (!op.input) return { input: {}, unknown: [] };
  const parsed = parseJsonBody(body);
  const input = parsed instanceof Unparsable ? { '': parsed } : readJson(model, op.input, parsed);
  return { input: input as Record<string, unknown>, unknown: [] };
}

// ---------------------------------------------------------------------------
// rest-json routing
// ---------------------------------------------------------------------------

interface Route {
  op: Operation;
  method: string;
  path: RegExp;
  labels: string[];
  /** Literal query parameters in the requestUri (`?versioning`, `?x-id=Foo`). */
  query: Array<[string, string | undefined]>;
  /** Longer literal paths win over label-heavy ones. */
  weight: number;
}

const routes = new WeakMap<ServiceModel, Route[]>();

function routesOf(model: ServiceModel): Route[] {
  let list = routes.get(model);
  if (list) return list;
  list = Object.values(model.operations).flatMap((op) => {
    if (!op.http) return [];
    const [pathPart, queryPart = ''] = op.http.requestUri.split('?');
    const labels: string[] = [];
    let weight = 0;
    const pattern = pathPart!
      .split(/(\{[^}]+\})/)
      .map((piece) => {
        const label = /^\{([^}+]+)(\+)?\}$/.exec(piece);
        if (!label) {
          weight += piece.length;
          return piece.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        }
        labels.push(label[1]!);
        return label[2] ? '(.+)' : '([^/]+)';
      })
      .join('');
    const query = queryPart
      .split('&')
      .filter(Boolean)
      .map((pair) => {
        const [k, v] = pair.split('=');
        return [k!, v] as [string, string | undefined];
      });
    return [{ op, method: op.http.method, path: new RegExp(`^${pattern}/?$`), labels, query, weight }];
  });
  list.sort((a, b) => b.weight - a.weight || b.query.length - a.query.length);
  routes.set(model, list);
  return list;
}

/** The rest-json operation a method and URL address, with its URI labels. */
export function routeRest(model: ServiceModel, method: string, url: string): { op: Operation; labels: Record<string, string> } | undefined {
  const parsed = new URL(url, 'http://x');
  for (const route of routesOf(model)) {
    if (route.method !== method) continue;
    const m = route.path.exec(parsed.pathname);
    if (!m) continue;
    if (!route.query.every(([k, v]) => parsed.searchParams.has(k) && (v === undefined || parsed.searchParams.get(k) === v))) continue;
    const labels: Record<string, string> = {};
    for (const [i, name] of route.labels.entries()) labels[name] = decodeURIComponent(m[i + 1]!);
    return { op: route.op, labels };
  }
  return undefined;
}

/** Reads a rest-json request into the input shape. */
export function decodeRestJson(model: ServiceModel, op: Operation, labels: Record<string, string>, request: RawRequest): Decoded {
  if (!op.input) return { input: {}, unknown: [] };
  const shape = shapeOf(model, op.input);
  const query = new URL(request.url, 'http://x').searchParams;
  const input: Record<string, unknown> = {};
  const claimed = new Set<string>();
  for (const [name, ref] of Object.entries(shape.members ?? {})) {
    if (ref.location === 'querystring' && shapeOf(model, ref).type !== 'map') claimed.add(ref.locationName ?? name);
  }
  for (const [name, ref] of Object.entries(shape.members ?? {})) {
    const member = shapeOf(model, ref);
    const wire = ref.locationName ?? name;
    switch (ref.location) {
      case 'uri':
        if (labels[wire] !== undefined) input[name] = parseText(member, labels[wire]!);
        break;
      case 'querystring':
        if (member.type === 'map') {
          const rest = [...query].filter(([k]) => !claimed.has(k));
          if (rest.length > 0) input[name] = new Map(rest.map(([k, v]) => [k, parseText(shapeOf(model, member.value!), v)]));
        } else if (member.type === 'list') {
          const all = query.getAll(wire);
          if (all.length > 0) input[name] = all.map((v) => parseText(shapeOf(model, member.member!), v));
        } else if (query.has(wire)) {
          input[name] = parseText(member, query.get(wire)!);
        }
        break;
      case 'header': {
        const raw = request.headers[wire.toLowerCase()];
        if (raw === undefined) break;
        const text = Array.isArray(raw) ? raw.join(', ') : raw;
        if (member.type === 'list') input[name] = text.split(',').map((v) => parseText(shapeOf(model, member.member!), v.trim(), true));
        else if (ref.jsonvalue) input[name] = Buffer.from(text, 'base64').toString('utf8');
        else input[name] = parseText(member, text, true);
        break;
      }
      case 'headers': {
        const prefix = wire.toLowerCase();
        const found = Object.entries(request.headers).filter(([k]) => k.startsWith(prefix));
        if (found.length > 0) input[name] = new Map(found.map(([k, v]) => [k.slice(prefix.length), String(v)]));
        break;
      }
      default:
        break;
    }
  }
  if (shape.payload !== undefined) {
    const ref = shape.members![shape.payload]!;
    const payload = shapeOf(model, ref);
    if (request.body.length > 0) {
      if (payload.type === 'blob') input[shape.payload] = new Blob(request.body);
      else if (payload.type === 'string') input[shape.payload] = request.body.toString('utf8');
      else {
        const parsed = parseJsonBody(request.body);
        input[shape.payload] = parsed instanceof Unparsable ? parsed : readJson(model, ref, parsed);
      }
    }
  } else {
    const parsed = parseJsonBody(request.body);
    if (parsed instanceof Unparsable) input[''] = parsed;
    else Object.assign(input, readJson(model, op.input, parsed) as Record<string, unknown>);
  }
  return { input, unknown: [] };
}
