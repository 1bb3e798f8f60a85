/**
 * Configuration from the environment, validated once at cold start. A function
 * with bad configuration fails at load with every problem listed, rather than
 * half-working.
 */
import { z } from 'zod';
import { ScheduleName } from '../domain/tags.js';
import { ConfigError } from './errors.js';

const ConfigSchema = z.object({
  /** Value of the managed-by tag: the stack, e.g. ami-lifecycle-prod. Part of every AMI name. */
  MANAGED_BY: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/, '1-32 letters, digits or dashes'),
  /** The service's own EventBridge bus. */
  EVENT_BUS_NAME: z.string().min(1),
  /** Comma list of the schedule names declared in serverless.yml. */
  SCHEDULES: z
    .string()
    .transform((s) => s.split(',').map((n) => n.trim()).filter(Boolean))
    .pipe(z.array(ScheduleName).min(1, 'at least one schedule')),
});

export interface Config {
  managedBy: string;
  eventBusName: string;
  schedules: string[];
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  return {
    managedBy: parsed.data.MANAGED_BY,
    eventBusName: parsed.data.EVENT_BUS_NAME,
    schedules: parsed.data.SCHEDULES,
  };
}
