import type { HandlerLogger } from '@switchyard/handlers';
import type { GatewayConfig } from '../config/schema.js';
import type { ModelRegistry } from '../http/model-registry.js';
import { createObjectStore } from '@switchyard/worker';
import { AsyncInferences } from './async.js';
import { BatchJobs } from './batch.js';
import { stateStoreFor } from './state.js';
import { memoryTasks, redisTasks } from './tasks.js';

export interface Jobs {
  readonly async: AsyncInferences;
  readonly batch: BatchJobs;
  readonly limits: { readonly asyncMaxBodyBytes: number; readonly batchMaxInputBytes: number };
  /** Stop taking tasks; running batch jobs stop where they can resume. */
  close(): Promise<void>;
}

/**
 * Async inference and batch jobs over the configured object store: with Redis
 * configured, state and tasks live there and are shared by every replica (and
 * survive restarts); without, they live in this process.
 *
 * @example
 * ```ts
 * const jobs = startJobs(config, models, logger);
 * const app = createApp({ models, logger, jobs });
 * ```
 */
export function startJobs(
  config: GatewayConfig,
  models: ModelRegistry,
  logger: HandlerLogger,
): Jobs {
  const store = createObjectStore(config.storage.url, {
    s3Endpoint: config.storage.s3Endpoint,
    s3Region: config.storage.s3Region,
  });
  const redisUrl = config.redis?.url;
  const namespace = config.redis?.namespace ?? 'switchyard';
  const state = stateStoreFor(config.redis);
  const tasks =
    redisUrl === undefined
      ? memoryTasks({ concurrency: config.tasks.concurrency, logger })
      : redisTasks({
          redisUrl,
          queue: `${namespace}-gateway-tasks`,
          concurrency: config.tasks.concurrency,
          lockDurationMs: config.tasks.lockDurationMs,
          stalledIntervalMs: config.tasks.stalledIntervalMs,
          logger,
        });
  const common = { models, store, state, tasks, logger };
  const asyncInferences = new AsyncInferences({
    ...common,
    recordTtlSeconds: config.async.recordTtlSeconds,
    storeSharedWithWorkers:
      config.storage.sharedWithWorkers ?? config.storage.url.startsWith('s3://'),
    attempts: config.async.attempts,
    webhook: config.async.webhook,
  });
  const batch = new BatchJobs({ ...common, chunksInFlight: config.tasks.chunksInFlight });
  tasks.start({
    async: (data, { attempt }) => asyncInferences.run(data, attempt),
    webhook: (data, { attempt }) => asyncInferences.deliver(data, attempt),
    batch: (data, { signal }) => batch.run(data, signal),
  });
  return {
    async: asyncInferences,
    batch,
    limits: {
      asyncMaxBodyBytes: config.async.maxBodyBytes,
      batchMaxInputBytes: config.batch.maxInputBytes,
    },
    async close() {
      await tasks.close();
      await state.close();
    },
  };
}
