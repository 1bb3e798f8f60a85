/**
 * The packaged CloudFormation template, built once and cached: `serverless package` takes
 * seconds, and the template tests, every LocalCloud (its IAM roles), the sandbox and the
 * benchmarks all read the same template. The cache key is a hash of what decides the
 * template (serverless.yml and the files it includes, package.json, stage, region and the
 * --param overrides), so an edit of any of those files packages afresh. Concurrent callers
 * (vitest workers) wait for one packaging through a lock directory rather than package twice.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { loadServerlessYml, PROJECT_ROOT } from '../../cli/serverless-config.js';
import type { Template } from './template-rules.js';

const run = promisify(execFile);

export interface PackageOptions {
  stage: string;
  region?: string;
  /** Stage parameters given as `--param key=value` (they win over serverless.yml's params). */
  params?: Record<string, string>;
}

export interface CachedTemplate {
  template: Template;
  /** The cached template file (for cfn-lint). */
  templatePath: string;
  /** Whether this call packaged it (false: read from the cache). */
  packaged: boolean;
  /** Milliseconds this call took. */
  ms: number;
}

/**
 * The timeout of a test hook that may package: besides its own packaging (10 s on an idle
 * machine, over a minute on CI's two busy cores), it may wait for another's under the lock. Two
 * verification files waiting on each other timed out at 120 s in CI.
 */
export const PACKAGING_HOOK_TIMEOUT_MS = 300_000;

/** Where packaged templates are kept; AMI_LIFECYCLE_PACKAGE_CACHE overrides it. */
export function cacheDir(): string {
  return process.env.AMI_LIFECYCLE_PACKAGE_CACHE ?? join(tmpdir(), 'ami-lifecycle-packaged');
}

/** The cache key of a packaging: what decides the template's content. */
export function cacheKey(options: PackageOptions): string {
  const hash = createHash('sha256');
  for (const file of [...loadServerlessYml().files, join(PROJECT_ROOT, 'package.json')]) {
    hash.update(`${relative(PROJECT_ROOT, file)}\0`).update(readFileSync(file));
  }
  const params = Object.entries(options.params ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  hash.update(JSON.stringify({ stage: options.stage, region: options.region ?? 'us-east-1', params }));
  return hash.digest('hex').slice(0, 24);
}

/** `serverless package` into a scratch folder, with the stage, region and params given. */
export async function packageInto(dir: string, options: PackageOptions): Promise<string> {
  const bin = join(PROJECT_ROOT, 'node_modules', 'osls', 'bin', 'serverless.js');
  const params = Object.entries(options.params ?? {}).map(([k, v]) => `--param=${k}=${v}`);
  // serverless-esbuild zips each function from a folder it makes in the temporary directory
  // and leaves behind (`<function>-<pid>-<time>-<hex>`): given its own, removed after.
  const temp = mkdtempSync(join(tmpdir(), 'ami-lifecycle-zip-'));
  try {
    await run(
      process.execPath,
      [bin, 'package', '--stage', options.stage, '--region', options.region ?? 'us-east-1', '--package', dir, ...params],
      {
        cwd: PROJECT_ROOT,
        maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, TMPDIR: temp, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' },
      },
    );
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
  return join(dir, 'cloudformation-template-update-stack.json');
}

/** The packaged template for these options, from the cache or packaged now (and cached). */
export async function packagedTemplate(options: PackageOptions): Promise<CachedTemplate> {
  const started = performance.now();
  const dir = cacheDir();
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${cacheKey(options)}.json`);
  const read = (packaged: boolean): CachedTemplate => ({
    template: JSON.parse(readFileSync(file, 'utf8')) as Template,
    templatePath: file,
    packaged,
    ms: performance.now() - started,
  });
  if (existsSync(file)) return read(false);

  // One packaging at a time whatever its options: serverless-esbuild builds in the project's own
  // .esbuild folder, which two packagings at once (two test files, two workers) would share.
  const lock = join(dir, 'packaging.lock');
  while (!tryLock(lock)) {
    if (existsSync(file)) return read(false);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  try {
    if (existsSync(file)) return read(false);
    const scratch = mkdtempSync(join(tmpdir(), 'ami-lifecycle-package-'));
    try {
      const built = await packageInto(scratch, options);
      // Written whole, then renamed: a reader never sees half a template.
      writeFileSync(`${file}.tmp`, readFileSync(built));
      renameSync(`${file}.tmp`, file);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
    return read(true);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Takes the lock directory; a lock older than five minutes is a crashed packager's and is broken. */
function tryLock(lock: string): boolean {
  try {
    mkdirSync(lock);
    return true;
  } catch {
    try {
      if (Date.now() - statSync(lock).mtimeMs > 300_000) rmSync(lock, { recursive: true, force: true });
    } catch {
      // gone meanwhile: the next attempt takes it
    }
    return false;
  }
}
