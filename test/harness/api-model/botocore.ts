/**
 * botocore's service models (service-2.json(.gz)), the machine-readable API definitions
 * the AWS CLI and boto3 are generated from. botocore comes with moto on every machine that
 * runs the integration tests; its data folder is found once through python3 (or given in
 * BOTOCORE_DATA_DIR). Models are read lazily, once per service and process.
 * TEST-ONLY.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** A reference to a shape, with the traits a member adds (where it travels, under which name). */
export interface ShapeRef {
  shape: string;
  locationName?: string;
  queryName?: string;
  location?: 'uri' | 'querystring' | 'header' | 'headers' | 'statusCode' | 'headers';
  flattened?: boolean;
  jsonvalue?: boolean;
  idempotencyToken?: boolean;
  hostLabel?: boolean;
}

export type ShapeType =
  | 'structure'
  | 'list'
  | 'map'
  | 'string'
  | 'integer'
  | 'long'
  | 'short'
  | 'byte'
  | 'float'
  | 'double'
  | 'bigInteger'
  | 'bigDecimal'
  | 'boolean'
  | 'timestamp'
  | 'blob';

export interface Shape {
  type: ShapeType;
  members?: Record<string, ShapeRef>;
  required?: string[];
  member?: ShapeRef;
  key?: ShapeRef;
  value?: ShapeRef;
  min?: number;
  max?: number;
  pattern?: string;
  enum?: string[];
  flattened?: boolean;
  payload?: string;
  sensitive?: boolean;
  document?: boolean;
  union?: boolean;
  error?: { code?: string; httpStatusCode?: number; senderFault?: boolean };
}

export interface Operation {
  name: string;
  http?: { method: string; requestUri: string };
  input?: ShapeRef;
}

export type Protocol = 'ec2' | 'query' | 'json' | 'rest-json' | 'rest-xml' | 'smithy-rpc-v2-cbor';

export interface ServiceModel {
  /** botocore's folder name, e.g. `cloudwatch`. */
  name: string;
  metadata: {
    protocol: Protocol;
    protocols?: Protocol[];
    signingName?: string;
    endpointPrefix: string;
    targetPrefix?: string;
    jsonVersion?: string;
    apiVersion: string;
    serviceId: string;
    awsQueryCompatible?: Record<string, unknown>;
  };
  operations: Record<string, Operation>;
  shapes: Record<string, Shape>;
}

let dataDir: string | undefined;

/** botocore's data folder: BOTOCORE_DATA_DIR, else asked of python3 once. */
export function botocoreDataDir(): string {
  if (dataDir !== undefined) return dataDir;
  const fromEnv = process.env.BOTOCORE_DATA_DIR;
  if (fromEnv) {
    dataDir = fromEnv;
    return dataDir;
  }
  const script = 'import botocore, os; print(os.path.join(os.path.dirname(botocore.__file__), "data"))';
  let found: string;
  try {
    found = execFileSync('python3', ['-c', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (error) {
    // moto brings botocore: the python3 first on PATH is not the one moto was installed with.
    throw new Error(
      "AWS's API model comes from botocore, which the python3 first on PATH cannot import: put the python that has " +
        "moto first on PATH (pip install 'moto[server]'), or set BOTOCORE_DATA_DIR to botocore's data folder",
      { cause: error },
    );
  }
  if (!existsSync(found)) throw new Error(`botocore's data folder ${found} does not exist (set BOTOCORE_DATA_DIR)`);
  // Child processes (bench sections) inherit it and skip python.
  process.env.BOTOCORE_DATA_DIR = found;
  dataDir = found;
  return dataDir;
}

/** The botocore version in use, for messages. */
export function botocoreVersion(): string {
  try {
    const init = readFileSync(join(botocoreDataDir(), '..', '__init__.py'), 'utf8');
    return /__version__\s*=\s*'([^']+)'/.exec(init)?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

const models = new Map<string, ServiceModel | null>();

/** The newest API version of a botocore service, or null when botocore has none by that name. */
export function loadService(name: string): ServiceModel | null {
  const cached = models.get(name);
  if (cached !== undefined) return cached;
  const file = newestModelFile(name);
  let model: ServiceModel | null = null;
  if (file !== undefined) {
    const raw = readFileSync(file);
    const text = (file.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
    const parsed = JSON.parse(text) as Omit<ServiceModel, 'name'>;
    for (const [opName, op] of Object.entries(parsed.operations)) op.name ??= opName;
    model = { name, ...parsed };
  }
  models.set(name, model);
  return model;
}

function newestModelFile(name: string): string | undefined {
  const folder = join(botocoreDataDir(), name);
  let versions: string[];
  try {
    versions = readdirSync(folder)
      .filter((v) => /^\d{4}-\d{2}-\d{2}$/.test(v))
      .sort();
  } catch {
    return undefined;
  }
  for (const version of versions.reverse()) {
    for (const file of ['service-2.json.gz', 'service-2.json']) {
      const path = join(folder, version, file);
      if (existsSync(path)) return path;
    }
  }
  return undefined;
}

/** A service's SigV4 signing name: metadata.signingName, else its endpoint prefix. */
export const signingNameOf = (model: ServiceModel) => model.metadata.signingName ?? model.metadata.endpointPrefix;

let signingIndex: Map<string, string[]> | undefined;

/**
 * The botocore services signed with this name (the service in a SigV4 credential scope),
 * most likely first. Usually the folder of the same name (ec2, events, sqs, iam, ...); when
 * it is not (monitoring is cloudwatch), every model's metadata is read once to find them.
 */
export function servicesSignedAs(signingName: string): ServiceModel[] {
  const direct = loadService(signingName);
  if (direct && signingNameOf(direct) === signingName) return [direct];
  signingIndex ??= buildSigningIndex();
  return (signingIndex.get(signingName) ?? []).flatMap((name) => loadService(name) ?? []);
}

function buildSigningIndex(): Map<string, string[]> {
  const index = new Map<string, string[]>();
  for (const name of readdirSync(botocoreDataDir())) {
    const file = newestModelFile(name);
    if (file === undefined) continue;
    const raw = readFileSync(file);
    // The metadata comes first in every model: read only its head.
    const head = (file.endsWith('.gz') ? gunzipSync(raw) : raw).subarray(0, 4000).toString('utf8');
    const signing = /"signingName"\s*:\s*"([^"]+)"/.exec(head)?.[1] ?? /"endpointPrefix"\s*:\s*"([^"]+)"/.exec(head)?.[1];
    if (signing === undefined) continue;
    const list = index.get(signing) ?? [];
    list.push(name);
    index.set(signing, list);
  }
  return index;
}
