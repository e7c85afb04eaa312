import { Redis } from 'ioredis';

/**
 * Where async inferences and batch jobs keep their state: in this process for
 * the embedded default, in Redis when gateways share work (and must survive a
 * restart). Values are strings; callers keep JSON in them.
 */
export interface StateStore {
  get(key: string): Promise<string | undefined>;
  /** Write a value; with `ttlSeconds`, it disappears after that long. */
  set(key: string, value: string, ttlSeconds?: number): Promise<void>;
  /** Write only when absent; false when the key already held a value. */
  create(key: string, value: string, ttlSeconds?: number): Promise<boolean>;
  /** One field of a hash (a batch job's finished chunks). */
  setField(key: string, field: string, value: string): Promise<void>;
  fields(key: string): Promise<Record<string, string>>;
  delete(...keys: string[]): Promise<void>;
  /** Remember `member` in a list ordered by `score`, newest last. */
  index(key: string, member: string, score: number): Promise<void>;
  /** Forget `member` in an index. */
  unindex(key: string, member: string): Promise<void>;
  /** The last `count` members of an index, newest first. */
  latest(key: string, count: number): Promise<string[]>;
  close(): Promise<void>;
}

/** State in this process: lost with it, which the embedded default accepts. */
export function memoryState(): StateStore {
  const values = new Map<string, { value: string; expires: number }>();
  const hashes = new Map<string, Map<string, string>>();
  const indexes = new Map<string, Map<string, number>>();
  const live = (key: string) => {
    const entry = values.get(key);
    if (entry !== undefined && entry.expires <= Date.now()) values.delete(key);
    return values.get(key);
  };
  const expiry = (ttl?: number) => (ttl === undefined ? Infinity : Date.now() + ttl * 1000);
  const done = Promise.resolve();
  return {
    get: (key) => Promise.resolve(live(key)?.value),
    set: (key, value, ttl) => {
      values.set(key, { value, expires: expiry(ttl) });
      return done;
    },
    create: (key, value, ttl) => {
      if (live(key) !== undefined) return Promise.resolve(false);
      values.set(key, { value, expires: expiry(ttl) });
      return Promise.resolve(true);
    },
    setField: (key, field, value) => {
      const hash = hashes.get(key) ?? new Map<string, string>();
      hashes.set(key, hash.set(field, value));
      return done;
    },
    fields: (key) => Promise.resolve(Object.fromEntries(hashes.get(key) ?? [])),
    delete: (...keys) => {
      for (const key of keys) {
        values.delete(key);
        hashes.delete(key);
        indexes.delete(key);
      }
      return done;
    },
    index: (key, member, score) => {
      const index = indexes.get(key) ?? new Map<string, number>();
      indexes.set(key, index.set(member, score));
      return done;
    },
    unindex: (key, member) => {
      indexes.get(key)?.delete(member);
      return done;
    },
    latest: (key, count) =>
      Promise.resolve(
        [...(indexes.get(key) ?? [])]
          .sort((a, b) => b[1] - a[1])
          .slice(0, count)
          .map(([member]) => member),
      ),
    close: () => done,
  };
}

/** State in Redis under `prefix`, shared by every gateway replica. */
function redisState(url: string, prefix = 'switchyard:'): StateStore {
  const redis = new Redis(url, { maxRetriesPerRequest: 3 });
  redis.on('error', () => undefined); // reconnects by itself; calls fail meanwhile
  const k = (key: string) => prefix + key;
  return {
    get: async (key) => (await redis.get(k(key))) ?? undefined,
    set: async (key, value, ttl) => {
      if (ttl === undefined) await redis.set(k(key), value);
      else await redis.set(k(key), value, 'EX', ttl);
    },
    create: async (key, value, ttl) =>
      (ttl === undefined
        ? await redis.set(k(key), value, 'NX')
        : await redis.set(k(key), value, 'EX', ttl, 'NX')) === 'OK',
    setField: async (key, field, value) => {
      await redis.hset(k(key), field, value);
    },
    fields: async (key) => redis.hgetall(k(key)),
    delete: async (...keys) => {
      if (keys.length > 0) await redis.del(...keys.map(k));
    },
    index: async (key, member, score) => {
      await redis.zadd(k(key), score, member);
    },
    unindex: async (key, member) => {
      await redis.zrem(k(key), member);
    },
    latest: async (key, count) => redis.zrevrange(k(key), 0, count - 1),
    close: async () => {
      await redis.quit().catch(() => {
        redis.disconnect();
      });
    },
  };
}

/**
 * The state store a gateway configuration asks for: Redis under
 * `<namespace>:` when `redis` is set, else this process.
 */
export function stateStoreFor(redis: { url: string; namespace: string } | undefined): StateStore {
  return redis === undefined ? memoryState() : redisState(redis.url, `${redis.namespace}:`);
}
