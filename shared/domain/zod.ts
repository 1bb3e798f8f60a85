/**
 * The schemas use zod/mini (issue 18: about a third of full zod's bytes in every bundle, and
 * schemas built at load several times faster). zod/mini words its messages only once a locale
 * is set; full zod sets English on import: so do we, so that every message stays as it was.
 * Imported for this effect by every module that declares schemas.
 */
import { en } from 'zod/locales';
import { config } from 'zod/mini';
import type { ParsePayload } from 'zod/v4/core';

config(en());

/** Full zod's `ctx.addIssue({ code: 'custom', message })` in a transform: zod/mini's transform context has no addIssue. */
export function addIssue(ctx: ParsePayload, message: string): void {
  ctx.issues.push({ code: 'custom', message, input: ctx.value });
}

/**
 * Builds a schema, at once. Declared `defineSchema(() => z...)` behind a pure mark, a schema no
 * code of a function reads is left out of its bundle by esbuild, and so not built at its load:
 * each function declares hundreds of schema objects fewer (issue 18, cold start).
 */
export const defineSchema = <T>(build: () => T): T => build();
