import { z } from 'zod';

/** Raised when worker options or environment are invalid; lists every problem. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid worker configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

const schema = z.object({
  /** Model directory (SageMaker layout). */
  model: z.string().min(1),
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
  /** @defaultValue 5 */
  maxDelayMs: z.number().nonnegative(),
  /** @defaultValue `'cpu'` */
  executionProvider: z.enum(['cpu', 'cuda']),
  /** @defaultValue 0 */
  deviceId: z.number().int().nonnegative(),
  /** Threads per operator; 0 lets onnxruntime choose. @defaultValue 0 */
  intraOpThreads: z.number().int().nonnegative(),
  /** Accept for requests without one. @defaultValue `'application/json'` */
  defaultAccept: z.string().min(1),
  /** BullMQ lock duration; a dead worker's jobs return after about this plus `stalledIntervalMs`. @defaultValue 30 000 */
  lockDurationMs: z.number().int().positive(),
  /** @defaultValue 30 000 */
  stalledIntervalMs: z.number().int().positive(),
  /** How long finished jobs keep their result for late look-ups. @defaultValue 60 000 */
  resultTtlMs: z.number().int().positive(),
  /** Port of the SageMaker container server. @defaultValue `SAGEMAKER_BIND_TO_PORT`, else 8080 */
  port: z.number().int().min(0).max(65535),
});

export type ResolvedWorkerConfig = Readonly<z.infer<typeof schema>>;
export type WorkerOptions = Partial<ResolvedWorkerConfig>;

export const DEFAULT_WORKER_CONFIG = Object.freeze({
  maxBatchSize: 32,
  maxDelayMs: 5,
  executionProvider: 'cpu' as const,
  deviceId: 0,
  intraOpThreads: 0,
  defaultAccept: 'application/json',
  lockDurationMs: 30_000,
  stalledIntervalMs: 30_000,
  resultTtlMs: 60_000,
  port: 8080,
});

/**
 * Apply defaults and validate. `env` is read here and nowhere else: `REDIS_URL`,
 * `SAGEMAKER_BIND_TO_PORT`, `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`, `SWITCHYARD_DEVICE`
 * (`cpu` | `cuda`).
 */
export function resolveWorkerConfig(
  options: WorkerOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedWorkerConfig {
  const model = options.model ?? '';
  const modelName = options.modelName ?? model.replace(/\/+$/, '').split('/').pop() ?? 'model';
  const maxBatchSize = options.maxBatchSize ?? DEFAULT_WORKER_CONFIG.maxBatchSize;
  const envPort = env['SAGEMAKER_BIND_TO_PORT'];
  const candidate = {
    ...DEFAULT_WORKER_CONFIG,
    defaultAccept:
      env['SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT'] ?? DEFAULT_WORKER_CONFIG.defaultAccept,
    executionProvider: env['SWITCHYARD_DEVICE'] ?? DEFAULT_WORKER_CONFIG.executionProvider,
    port: envPort === undefined ? DEFAULT_WORKER_CONFIG.port : Number(envPort),
    redisUrl: env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    queue: `switchyard-${modelName}`,
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
