import { totalmem } from 'node:os';
import { BATCHING_DEFAULTS } from '@switchyard/handlers';
import { z } from 'zod';

/** Raised when worker options or environment are invalid; lists every problem. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid worker configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

const schema = z.object({
  /**
   * Model source: a directory in SageMaker's layout, a model.tar.gz, or s3://bucket/key.
   * Empty for a multi-model worker, which serves the variants deployed to its pool.
   */
  model: z.string(),
  /** Multi-model workers: the pool whose deployed queue variants this worker serves. @defaultValue `default` */
  pool: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/),
  /** The gateway's `redis.namespace`, where deployments are. @defaultValue `SWITCHYARD_NAMESPACE`, else `switchyard` */
  namespace: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/),
  /** Multi-model workers: most MiB of model files loaded at once. @defaultValue half the machine's memory */
  memoryBudgetMb: z.number().positive(),
  /** Multi-model workers: most models loaded at once. */
  maxModels: z.number().int().positive().optional(),
  /** Install missing code/package.json dependencies at load. @defaultValue true */
  installDependencies: z.boolean(),
  /** Endpoint of an S3-compatible store for s3:// sources. @defaultValue `AWS_ENDPOINT_URL_S3` */
  s3Endpoint: z.url().optional(),
  /**
   * The object store the gateway keeps large bodies in (its `storage.url`), for
   * jobs that carry a body location instead of the body. @defaultValue `SWITCHYARD_STORAGE`
   */
  storage: z.string().min(1).optional(),
  /** Name the model is known by (metrics, logs, handler context). @defaultValue the directory name */
  modelName: z.string().min(1),
  variant: z.string().min(1).optional(),
  /** BullMQ queue to consume. @defaultValue `switchyard-<modelName>` */
  queue: z.string().min(1),
  /** @defaultValue `REDIS_URL`, else `redis://127.0.0.1:6379` */
  redisUrl: z.url({ protocol: /^rediss?$/ }),
  /** Jobs in flight at once; enough to fill two batches. @defaultValue 2 × maxBatchSize */
  concurrency: z.number().int().positive(),
  /** @defaultValue 32 */
  maxBatchSize: z.number().int().positive(),
  /** Longest an idle model waits to fill a batch. @defaultValue 0 (run at once) */
  maxDelayMs: z.number().nonnegative(),
  /** @defaultValue `'cpu'` */
  executionProvider: z.enum(['cpu', 'cuda']),
  /** @defaultValue 0 */
  deviceId: z.number().int().nonnegative(),
  /** Threads per operator; 0 lets onnxruntime choose. @defaultValue 0 */
  intraOpThreads: z.number().int().nonnegative(),
  /** onnxruntime graph optimisation level. @defaultValue `'all'` */
  graphOptimization: z.enum(['disabled', 'basic', 'extended', 'all']),
  /** Accept for requests without one. @defaultValue `'application/json'` */
  defaultAccept: z.string().min(1),
  /** BullMQ lock duration; a dead worker's jobs return after about this plus `stalledIntervalMs`. @defaultValue 30 000 */
  lockDurationMs: z.number().int().positive(),
  /** @defaultValue 30 000 */
  stalledIntervalMs: z.number().int().positive(),
  /** How long finished jobs keep their result for late look-ups. @defaultValue 60 000 */
  resultTtlMs: z.number().int().positive(),
  /** Port of the queue worker's /health and /metrics; 0 picks a free one. @defaultValue 9464 */
  metricsPort: z.number().int().min(0).max(65535),
  /** Port of the SageMaker container server. @defaultValue `SAGEMAKER_BIND_TO_PORT`, else 8080 */
  port: z.number().int().min(0).max(65535),
});

export type ResolvedWorkerConfig = Readonly<z.infer<typeof schema>>;
export type WorkerOptions = Partial<ResolvedWorkerConfig>;

export const DEFAULT_WORKER_CONFIG = Object.freeze({
  installDependencies: true,
  maxBatchSize: BATCHING_DEFAULTS.maxBatchSize,
  maxDelayMs: BATCHING_DEFAULTS.maxDelayMs,
  executionProvider: 'cpu' as const,
  deviceId: 0,
  intraOpThreads: 0,
  graphOptimization: 'all' as const,
  defaultAccept: 'application/json',
  lockDurationMs: 30_000,
  stalledIntervalMs: 30_000,
  resultTtlMs: 60_000,
  metricsPort: 9464,
  port: 8080,
});

/**
 * Apply defaults and validate. `env` is read here and nowhere else: `REDIS_URL`,
 * `SAGEMAKER_BIND_TO_PORT`, `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`, `SWITCHYARD_DEVICE`
 * (`cpu` | `cuda`), `AWS_ENDPOINT_URL_S3`, `SWITCHYARD_STORAGE`, `SWITCHYARD_NAMESPACE`.
 */
export function resolveWorkerConfig(
  options: WorkerOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedWorkerConfig {
  const model = options.model ?? '';
  const modelName = options.modelName ?? defaultModelName(model);
  const maxBatchSize = options.maxBatchSize ?? DEFAULT_WORKER_CONFIG.maxBatchSize;
  const envPort = env['SAGEMAKER_BIND_TO_PORT'];
  const candidate = {
    ...DEFAULT_WORKER_CONFIG,
    defaultAccept:
      env['SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT'] ?? DEFAULT_WORKER_CONFIG.defaultAccept,
    executionProvider: env['SWITCHYARD_DEVICE'] ?? DEFAULT_WORKER_CONFIG.executionProvider,
    port: envPort === undefined ? DEFAULT_WORKER_CONFIG.port : Number(envPort),
    redisUrl: env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    ...(env['AWS_ENDPOINT_URL_S3'] === undefined ? {} : { s3Endpoint: env['AWS_ENDPOINT_URL_S3'] }),
    ...(env['SWITCHYARD_STORAGE'] === undefined ? {} : { storage: env['SWITCHYARD_STORAGE'] }),
    queue: `switchyard-${modelName}`,
    pool: 'default',
    namespace: env['SWITCHYARD_NAMESPACE'] ?? 'switchyard',
    memoryBudgetMb: Math.floor(totalmem() / 2 / 1024 / 1024),
    concurrency: 2 * maxBatchSize,
    ...options,
    model,
    modelName,
    maxBatchSize,
  };
  const parsed = schema.safeParse(candidate);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
    );
  }
  return Object.freeze(parsed.data);
}

/** `iris` for `models/iris`, `models/iris.tar.gz` and `s3://bucket/iris/model.tar.gz`. */
function defaultModelName(source: string): string {
  const parts = source.replace(/\/+$/, '').split('/');
  let last = parts.pop() ?? 'model';
  if (/^model\.(tar\.gz|tgz|tar)$/.test(last)) last = parts.pop() ?? 'model';
  return last.replace(/\.(tar\.gz|tgz|tar)$/, '') || 'model';
}
