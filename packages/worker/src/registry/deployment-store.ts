import { EventEmitter } from 'node:events';
import {
  decodeDeploymentRecord,
  decodeLoaderReports,
  deploymentKeys,
  type DeploymentRecord,
  type LoaderReport,
} from '@switchyard/handlers';
import { Redis } from 'ioredis';

/**
 * Where runtime deployments live: Redis for a gateway with workers and replicas,
 * memory for the embedded gateway. See `deployments.ts` in `@switchyard/handlers`
 * for the layout.
 */
export interface DeploymentStore {
  list(): Promise<DeploymentRecord[]>;
  get(model: string): Promise<DeploymentRecord | undefined>;
  /**
   * Change one model's record atomically: `change` gets the stored record and
   * returns the next one (`undefined` removes it); on a concurrent write it runs
   * again on the new record. Whatever `change` throws is thrown.
   */
  update(
    model: string,
    change: (current: DeploymentRecord | undefined) => DeploymentRecord | undefined,
  ): Promise<DeploymentRecord | undefined>;
  /** A revision number no other revision has. */
  nextRevision(): Promise<number>;
  reports(model: string, variant: string, revision: number): Promise<LoaderReport[]>;
  /** Say how loading `revision` went for one loader (a worker or gateway id). */
  report(
    model: string,
    variant: string,
    revision: number,
    loader: string,
    report: LoaderReport,
  ): Promise<void>;
  /**
   * Call `onChange(model)` whenever a model's record or a status changes, and
   * `onChange(undefined)` every `pollMs` (re-read everything: covers messages
   * missed while disconnected).
   */
  watch(onChange: (model: string | undefined) => void, pollMs?: number): { close(): void };
  close(): Promise<void>;
}

/** How long a revision's loader reports are kept after the last one. */
const REPORT_TTL_MS = 7 * 24 * 3600 * 1000;

// Compare-and-set of one hash field: ARGV[2] is the value the caller read ('' for
// none); ARGV[3] the new one ('' to delete). Publishes the model's name.
const CAS = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (current or '') ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1])
else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
redis.call('PUBLISH', KEYS[2], ARGV[1])
return 1`;

/**
 * Deployments in Redis under `namespace` (the gateway's `redis.namespace`).
 *
 * @example
 * ```ts
 * const store = redisDeploymentStore(process.env.REDIS_URL, 'switchyard');
 * const watch = store.watch((model) => void resync(model));
 * ```
 */
export function redisDeploymentStore(url: string, namespace: string): DeploymentStore {
  const keys = deploymentKeys(namespace);
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  const subscribers: Redis[] = [];

  const get = async (model: string) =>
    decodeDeploymentRecord(await client.hget(keys.records, model));

  return {
    async list() {
      const all = await client.hgetall(keys.records);
      return Object.values(all)
        .map((text) => decodeDeploymentRecord(text))
        .filter((r): r is DeploymentRecord => r !== undefined);
    },
    get,
    async update(model, change) {
      for (;;) {
        const text = await client.hget(keys.records, model);
        const next = change(decodeDeploymentRecord(text));
        const written = next === undefined ? '' : JSON.stringify(next);
        const done = await client.eval(
          CAS,
          2,
          keys.records,
          keys.channel,
          model,
          text ?? '',
          written,
        );
        if (done === 1) return next;
      }
    },
    async nextRevision() {
      return client.incr(keys.revision);
    },
    async reports(model, variant, revision) {
      return decodeLoaderReports(await client.hgetall(keys.status(model, variant, revision)));
    },
    async report(model, variant, revision, loader, report) {
      const key = keys.status(model, variant, revision);
      await client
        .multi()
        .hset(key, loader, JSON.stringify(report))
        .pexpire(key, REPORT_TTL_MS)
        .publish(keys.channel, model)
        .exec();
    },
    watch(onChange, pollMs = 1_000) {
      const subscriber = new Redis(url, { maxRetriesPerRequest: null });
      subscriber.on('error', () => undefined);
      subscribers.push(subscriber);
      subscriber.on('message', (_channel: string, model: string) => {
        onChange(model);
      });
      void subscriber.subscribe(keys.channel).catch(() => undefined);
      const timer = setInterval(() => {
        onChange(undefined);
      }, pollMs);
      timer.unref();
      return {
        close() {
          clearInterval(timer);
          subscriber.disconnect();
        },
      };
    },
    async close() {
      for (const s of subscribers) s.disconnect();
      await client.quit().catch(() => undefined);
    },
  };
}

/** Deployments in this process only: the embedded gateway, without Redis. */
export function memoryDeploymentStore(): DeploymentStore {
  const records = new Map<string, DeploymentRecord>();
  const reports = new Map<string, Map<string, LoaderReport>>();
  const events = new EventEmitter();
  let revision = 0;
  const statusKey = (model: string, variant: string, rev: number) =>
    JSON.stringify([model, variant, rev]);
  const changed = (model: string) => {
    // Like a pub/sub message: after the write returns.
    queueMicrotask(() => events.emit('change', model));
  };
  return {
    list: () => Promise.resolve([...records.values()].map((r) => structuredClone(r))),
    get: (model) => {
      const record = records.get(model);
      return Promise.resolve(record === undefined ? undefined : structuredClone(record));
    },
    update(model, change) {
      try {
        const current = records.get(model);
        const next = change(current === undefined ? undefined : structuredClone(current));
        if (next === undefined) records.delete(model);
        else records.set(model, structuredClone(next));
        changed(model);
        return Promise.resolve(next);
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    },
    nextRevision: () => Promise.resolve(++revision),
    reports: (model, variant, rev) =>
      Promise.resolve([...(reports.get(statusKey(model, variant, rev))?.values() ?? [])]),
    report(model, variant, rev, loader, report) {
      const key = statusKey(model, variant, rev);
      const loaders = reports.get(key) ?? new Map<string, LoaderReport>();
      loaders.set(loader, report);
      reports.set(key, loaders);
      changed(model);
      return Promise.resolve();
    },
    watch(onChange) {
      const listener = (model: string) => {
        onChange(model);
      };
      events.on('change', listener);
      return {
        close() {
          events.off('change', listener);
        },
      };
    },
    close: () => Promise.resolve(),
  };
}
