import type { HandlerLogger } from '@switchyard/handlers';
import { pino } from 'pino';

/**
 * The worker's JSON logger. Fields that may hold credentials are redacted, and
 * request bodies are never logged.
 */
export function createLogger(level = process.env['LOG_LEVEL'] ?? 'info'): HandlerLogger {
  return pino({
    level,
    base: { service: 'switchyard-worker' },
    redact: ['redisUrl', '*.password', 'authorization', 'headers.authorization'],
  });
}
