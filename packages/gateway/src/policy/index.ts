import type { HandlerLogger } from '@switchyard/handlers';
import type { GatewayConfig } from '../config/schema.js';
import type { RateLimits } from '../http/auth.js';
import { stateStoreFor } from '../jobs/state.js';
import { KeyRing, adminKeys } from './keys.js';
import { RateLimiter } from './rate-limit.js';

export interface Policies {
  readonly keys: KeyRing;
  readonly limiter: RateLimiter;
  readonly rateLimits: RateLimits;
  close(): Promise<void>;
}

/**
 * API keys (configured, and added at run time through the admin API) and rate
 * limits, kept in Redis when it is configured so that every replica shares them.
 *
 * @example
 * ```ts
 * const policies = startPolicies(config, logger);
 * const app = createApp({ models, logger, ...policies });
 * ```
 */
export function startPolicies(config: GatewayConfig, logger: HandlerLogger): Policies {
  const namespace = config.redis?.namespace ?? 'switchyard';
  const state = stateStoreFor(config.redis);
  const keys = new KeyRing(
    [...adminKeys(config.admin?.keySha256 ?? []), ...config.auth.keys],
    state,
  );
  const limiter = new RateLimiter(config.redis?.url, `${namespace}:`, logger);
  return {
    keys,
    limiter,
    rateLimits: config.rateLimits,
    async close() {
      await limiter.close();
      await state.close();
    },
  };
}
