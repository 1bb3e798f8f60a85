import { Logger } from '@aws-lambda-powertools/logger';

/** Structured JSON logger, one per container; service name and level come from POWERTOOLS_* env. */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'ami-lifecycle' });
