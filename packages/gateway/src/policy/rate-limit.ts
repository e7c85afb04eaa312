import type { HandlerLogger } from '@switchyard/handlers';
import { Redis } from 'ioredis';

/** Requests per second, with bursts up to `burst` after a quiet spell. */
export interface Rate {
  readonly rps: number;
  readonly burst: number;
}

export type Verdict =
  { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

/** One token bucket: refilled at `rps`, holding at most `burst`. */
interface Bucket {
  tokens: number;
  at: number;
}

// The same bucket in Redis, on Redis's clock (replicas' clocks may differ).
const TAKE = `
local rate = tonumber(ARGV[1]) / 1000
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate) end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
return wait
`;

function takeLocal(buckets: Map<string, Bucket>, key: string, rate: Rate): number {
  const now = Date.now();
  const bucket = buckets.get(key) ?? { tokens: rate.burst, at: now };
  bucket.tokens = Math.min(rate.burst, bucket.tokens + ((now - bucket.at) * rate.rps) / 1000);
  bucket.at = now;
  buckets.set(key, bucket);
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return 0;
  }
  return Math.ceil(((1 - bucket.tokens) * 1000) / rate.rps);
}

/**
 * Token buckets per key and per model. With Redis they are shared by every
 * replica. While Redis is unreachable each replica falls back to buckets of its
 * own with the same rates: limits then hold per replica instead of across them
 * (at most replicas × the rate), and requests are never refused for Redis alone.
 */
export class RateLimiter {
  private readonly local = new Map<string, Bucket>();
  private readonly redis:
    (Redis & { take?: (key: string, rps: number, burst: number) => Promise<number> }) | undefined;
  private degraded = false;

  constructor(
    redisUrl: string | undefined,
    private readonly prefix: string,
    private readonly logger: HandlerLogger,
  ) {
    if (redisUrl !== undefined) {
      this.redis = new Redis(redisUrl, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        connectTimeout: 1000,
        commandTimeout: 250,
      });
      this.redis.on('error', () => undefined);
      this.redis.defineCommand('take', { numberOfKeys: 1, lua: TAKE });
      // Requests right after start wait (at most a second) for the first connection
      // rather than falling back to per-replica buckets before Redis had a chance.
      const redis = this.redis;
      this.connected = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        redis.once('ready', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private connected: Promise<void> = Promise.resolve();

  /** Take one token from the bucket `key`; refused with the wait until the next one. */
  async take(key: string, rate: Rate): Promise<Verdict> {
    const wait = await this.wait(key, rate);
    return wait > 0 ? { allowed: false, retryAfterMs: wait } : { allowed: true };
  }

  private async wait(key: string, rate: Rate): Promise<number> {
    if (this.redis?.take !== undefined) {
      await this.connected;
      try {
        const wait = await this.redis.take(`${this.prefix}rl:${key}`, rate.rps, rate.burst);
        if (this.degraded) {
          this.degraded = false;
          this.logger.info({}, 'rate limits shared through Redis again');
        }
        return wait;
      } catch (error) {
        if (!this.degraded) {
          this.degraded = true;
          this.logger.warn(
            { err: (error as Error).message },
            'Redis unreachable: rate limits now hold per replica',
          );
        }
      }
    }
    return takeLocal(this.local, key, rate);
  }

  async close(): Promise<void> {
    this.redis?.disconnect();
    return Promise.resolve();
  }
}
