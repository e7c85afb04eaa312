import { readdir, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import {
  InferenceError,
  deploymentQueue,
  toInferenceError,
  type DeploymentRecord,
  type HandlerLogger,
  type VariantDeployment,
  type VariantRevision,
} from '@switchyard/handlers';
import type { OnnxSessionOptions } from '../onnx/session.js';
import { resolveModelSource } from '../model-source/resolve-source.js';
import { startQueueConsumer, type QueueConsumer } from '../queue/consumer.js';
import { ModelCache, type CacheEntryInfo } from '../runtime/model-cache.js';
import { startModelHost, type ModelHost } from '../runtime/model-host.js';
import type { ModelRuntime } from '../runtime/model-runtime.js';
import type { RuntimeRequest, RuntimeResult } from '../runtime/types.js';
import type { ObjectStore } from '../storage/object-store.js';
import { coalesced } from './coalesced.js';
import { redisDeploymentStore, type DeploymentStore } from './deployment-store.js';

export interface MultiModelWorkerOptions {
  readonly redisUrl: string;
  /** The gateway's `redis.namespace`. */
  readonly namespace: string;
  /** Serve the queue variants deployed to this pool. */
  readonly pool: string;
  /** Most bytes of model files loaded at once (see `modelBytes`). */
  readonly budgetBytes: number;
  readonly maxModels?: number | undefined;
  readonly onnx?: OnnxSessionOptions;
  readonly defaultAccept?: string;
  readonly installDependencies?: boolean;
  readonly s3Endpoint?: string | undefined;
  /** Jobs in flight per variant queue. */
  readonly concurrency: number;
  readonly lockDurationMs: number;
  readonly stalledIntervalMs: number;
  readonly resultTtlMs: number;
  readonly store?: ObjectStore;
  readonly logger: HandlerLogger;
  /** Wraps each variant's runtime (metrics). */
  readonly instrument?: <T extends ModelRuntime>(runtime: T) => T;
  /** Re-read every deployment this often. @defaultValue 1000 */
  readonly pollMs?: number;
  /**
   * A revision that failed to load is tried again after this, doubling after each
   * failure up to twenty times this. @defaultValue 30000
   */
  readonly retryFailedLoadMs?: number;
}

export interface MultiModelWorker {
  /** Models loaded now, least recently used first. */
  loaded(): readonly CacheEntryInfo[];
  /** Variants this worker consumes, as `model/variant`. */
  variants(): readonly string[];
  /** Whether it is connected and consuming. */
  ready(): boolean;
  close(): Promise<void>;
}

/**
 * The bytes a model counts against the memory budget: its files, code and
 * installed dependencies excepted. The ONNX weights dominate what onnxruntime
 * holds for a model, so the figure tracks the model's resident size.
 */
export async function modelBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === 'code' || entry.name === 'node_modules') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await modelBytes(path);
    else if (entry.isFile()) total += (await stat(path)).size;
  }
  return total;
}

/** `prefix` + `target` for a multi-model variant; refuses a target that climbs out. */
function artifactUnder(prefix: string, target: string): string {
  if (
    target.startsWith('/') ||
    target.includes('\\') ||
    target.includes('\0') ||
    target.split('/').some((part) => part === '..' || part === '.' || part === '')
  ) {
    throw new InferenceError(
      'INVALID_INPUT',
      `invalid X-Amzn-SageMaker-Target-Model "${target}": a relative path under the variant's model data`,
    );
  }
  return `${prefix.replace(/\/+$/, '')}/${target}`;
}

interface Assigned {
  readonly model: string;
  readonly variant: string;
  spec: VariantDeployment;
  consumer?: QueueConsumer;
}

/**
 * A worker with no model of its own: it consumes the queue of every variant
 * deployed to its pool, loads a variant's model on first use (and each new
 * revision as soon as it is deployed, to report it in service), and keeps the
 * most recently used models within its memory budget, unloading the least
 * recently used. A multi-model variant's requests name their model with
 * `X-Amzn-SageMaker-Target-Model`, an archive under the variant's model data.
 * A request whose model is not loaded in time gets 429 (SageMaker's
 * ModelNotReadyException).
 *
 * @example
 * ```ts
 * const worker = await startMultiModelWorker({ redisUrl, namespace: 'switchyard', pool: 'default',
 *   budgetBytes: 2 * 1024 ** 3, concurrency: 64, lockDurationMs: 30_000, stalledIntervalMs: 30_000,
 *   resultTtlMs: 60_000, logger });
 * ```
 */
export async function startMultiModelWorker(
  options: MultiModelWorkerOptions,
  store: DeploymentStore = redisDeploymentStore(options.redisUrl, options.namespace),
): Promise<MultiModelWorker> {
  const { logger } = options;
  const loaderId = `worker:${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const cache = new ModelCache<ModelHost>({
    budgetBytes: options.budgetBytes,
    ...(options.maxModels === undefined ? {} : { maxModels: options.maxModels }),
    unload: (_key, host) => host.close(),
    logger,
  });
  const assigned = new Map<string, Assigned>();
  /** Revisions warmed or being warmed; a failed one is tried again from `retryAt`. */
  const warmed = new Map<string, { tries: number; retryAt?: number }>();
  const retryMs = options.retryFailedLoadMs ?? 30_000;
  let closed = false;

  /** A model directory and its size, once per source (archives are unpacked on disk once). */
  const resolved = new Map<string, Promise<{ dir: string; bytes: number }>>();
  const resolveDir = (source: string) => {
    let known = resolved.get(source);
    if (known === undefined) {
      known = (async () => {
        const dir = await resolveModelSource(source, {
          ...(options.s3Endpoint === undefined ? {} : { s3Endpoint: options.s3Endpoint }),
        });
        return { dir, bytes: await modelBytes(dir) };
      })();
      resolved.set(source, known);
      // A failure is not kept: the next request tries again.
      known.catch(() => resolved.delete(source));
    }
    return known;
  };

  const cacheKey = (a: { model: string; variant: string }, r: VariantRevision, target?: string) =>
    target === undefined
      ? `${a.model}/${a.variant}@${r.revision}`
      : artifactUnder(r.modelData ?? '', target);

  /** Start a model in its thread with this worker's settings and the revision's batching. */
  const host = (modelDir: string, modelName: string, variant: string, r: VariantRevision) =>
    startModelHost({
      modelDir,
      modelName,
      variant,
      batching: r.batching,
      ...(options.onnx === undefined ? {} : { onnx: options.onnx }),
      ...(options.defaultAccept === undefined ? {} : { defaultAccept: options.defaultAccept }),
      ...(options.installDependencies === undefined
        ? {}
        : { installDependencies: options.installDependencies }),
      logger,
    });

  /** Run `request` on the model `r` (and `target`) names, loading it if it is not. */
  const run = async (
    a: Assigned,
    r: VariantRevision,
    target: string | undefined,
    request: RuntimeRequest,
  ): Promise<RuntimeResult> => {
    const source = target === undefined ? (r.modelData ?? '') : cacheKey(a, r, target);
    let found: { dir: string; bytes: number };
    try {
      found = await resolveDir(source);
    } catch (error) {
      const message = (error as Error).message;
      if (target !== undefined && /does not exist|NoSuchKey|not found/i.test(message)) {
        throw new InferenceError(
          'NOT_FOUND',
          `no model "${target}" under this variant's model data`,
        );
      }
      throw new InferenceError('UNAVAILABLE', `cannot fetch the model: ${message}`);
    }
    const lease = await cache.acquire(
      cacheKey(a, r, target),
      () => host(found.dir, target ?? a.model, a.variant, r),
      { bytes: found.bytes, deadline: request.deadline },
    );
    try {
      return await lease.value.invoke(request);
    } finally {
      lease.release();
    }
  };

  /** The revision a job names: the newest, or the one it replaces; else the newest. */
  const revisionFor = (a: Assigned, revision: number | undefined): VariantRevision =>
    revision !== undefined && a.spec.previous?.revision === revision ? a.spec.previous : a.spec;

  const runtimeFor = (a: Assigned): ModelRuntime => {
    const runtime: ModelRuntime = {
      info: {
        modelName: a.model,
        variant: a.variant,
        kind: 'onnx',
        provider: undefined,
        userFunctions: [],
        inputs: [],
        outputs: [],
      },
      async invoke(request) {
        const { revision, targetModel, ...rest } = request;
        const r = revisionFor(a, revision);
        if (r.multiModel && targetModel === undefined) {
          throw new InferenceError(
            'INVALID_INPUT',
            'this variant is a multi-model endpoint: name the model with X-Amzn-SageMaker-Target-Model',
          );
        }
        return run(a, r, r.multiModel ? targetModel : undefined, rest);
      },
      close: () => Promise.resolve(),
    };
    return options.instrument === undefined ? runtime : options.instrument(runtime);
  };

  /** Load a new revision at once and say how it went: the gateway routes to it once ready. */
  const warm = async (a: Assigned, spec: VariantDeployment): Promise<void> => {
    const id = `${a.model}/${a.variant}@${spec.revision}`;
    const known = warmed.get(id);
    if (known !== undefined && (known.retryAt === undefined || Date.now() < known.retryAt)) return;
    const attempt = { tries: (known?.tries ?? 0) + 1 };
    warmed.set(id, attempt);
    const report = (state: 'loading' | 'ready' | 'failed', reason?: string) =>
      store
        .report(a.model, a.variant, spec.revision, loaderId, {
          state,
          ...(reason === undefined ? {} : { reason }),
          at: Date.now(),
        })
        .catch((error: unknown) => {
          logger.warn({ err: (error as Error).message }, 'cannot report a deployment state');
        });
    // A multi-model variant loads its models on first use: nothing to load now.
    if (spec.multiModel) {
      await report('ready');
      return;
    }
    await report('loading');
    try {
      const { bytes, dir } = await resolveDir(spec.modelData ?? '');
      const lease = await cache.acquire(
        cacheKey(a, spec),
        () => host(dir, a.model, a.variant, spec),
        { bytes },
      );
      lease.release();
      logger.info(
        { model: a.model, variant: a.variant, revision: spec.revision },
        'revision loaded',
      );
      await report('ready');
    } catch (error) {
      const reason = toInferenceError(error).message;
      logger.warn(
        { model: a.model, variant: a.variant, revision: spec.revision, err: reason },
        'revision failed to load',
      );
      // A cause may pass (a store that was down): try again later, backing off.
      warmed.set(id, {
        ...attempt,
        retryAt: Date.now() + Math.min(retryMs * 2 ** (attempt.tries - 1), 20 * retryMs),
      });
      await report('failed', reason);
    }
  };

  const mine = (record: DeploymentRecord) =>
    Object.entries(record.variants).filter(
      ([, v]) => v.backend.type === 'queue' && v.backend.pool === options.pool,
    );

  const apply = async (records: readonly DeploymentRecord[]): Promise<void> => {
    const seen = new Set<string>();
    for (const record of records) {
      for (const [variant, spec] of mine(record)) {
        const id = `${record.model}/${variant}`;
        seen.add(id);
        let a = assigned.get(id);
        if (a === undefined) {
          if (closed) return;
          const added: Assigned = { model: record.model, variant, spec };
          added.consumer = startQueueConsumer({
            redisUrl: options.redisUrl,
            queue: deploymentQueue(options.namespace, record.model, variant),
            runtime: runtimeFor(added),
            logger,
            concurrency: options.concurrency,
            lockDurationMs: options.lockDurationMs,
            stalledIntervalMs: options.stalledIntervalMs,
            resultTtlMs: options.resultTtlMs,
            ...(options.store === undefined ? {} : { store: options.store }),
          });
          a = added;
          assigned.set(id, a);
          logger.info({ model: record.model, variant, pool: options.pool }, 'variant assigned');
        }
        const old = a.spec;
        a.spec = spec;
        // Revisions no job names any more leave the cache.
        for (const r of [old, old.previous]) {
          if (
            r !== undefined &&
            r.revision !== spec.revision &&
            r.revision !== spec.previous?.revision
          ) {
            void cache.evict(cacheKey(a, r));
          }
        }
        void warm(a, spec);
      }
    }
    for (const [id, a] of assigned) {
      if (seen.has(id)) continue;
      assigned.delete(id);
      logger.info({ model: a.model, variant: a.variant }, 'variant removed');
      await a.consumer?.close();
      for (const r of [a.spec, a.spec.previous]) {
        if (r !== undefined) await cache.evict(cacheKey(a, r));
      }
    }
  };

  const sync = coalesced(
    async () => {
      try {
        await apply(await store.list());
      } catch (error) {
        logger.warn({ err: (error as Error).message }, 'cannot read deployments');
      }
    },
    () => closed,
  );

  await sync();
  const watcher = store.watch(() => void sync(), options.pollMs);

  return {
    loaded: () => cache.entries(),
    variants: () => [...assigned.keys()],
    ready: () =>
      !closed && [...assigned.values()].every((a) => a.consumer?.worker.isRunning() === true),
    async close() {
      closed = true;
      watcher.close();
      await sync.running;
      await Promise.all(
        [...assigned.values()].flatMap((a) =>
          a.consumer === undefined ? [] : [a.consumer.close()],
        ),
      );
      assigned.clear();
      await cache.close();
      await store.close();
    },
  };
}
