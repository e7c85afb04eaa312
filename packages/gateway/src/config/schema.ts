import { BATCHING_DEFAULTS, DEFAULT_CODECS, QUEUE_VARIANT_DEFAULTS } from '@switchyard/handlers';
import { z } from 'zod';

const SUPPORTED_TYPES = DEFAULT_CODECS.map((c) => c.mediaType);

/** A model's settings where the configuration (or a registration) leaves them out. */
export const MODEL_DEFAULTS = {
  contentTypes: SUPPORTED_TYPES,
  accepts: SUPPORTED_TYPES,
  maxBodyBytes: 6 * 1024 * 1024,
  timeoutMs: 60_000,
} as const;

const localBackend = z.object({
  type: z.literal('local'),
  /** Model source for the in-process worker runtime (directory, model.tar.gz, s3://). */
  model: z.string().min(1),
  maxBatchSize: z.number().int().positive().default(BATCHING_DEFAULTS.maxBatchSize),
  maxDelayMs: z.number().nonnegative().default(BATCHING_DEFAULTS.maxDelayMs),
});

const queueBackend = z.object({
  type: z.literal('queue'),
  /** BullMQ queue the variant's workers consume. */
  queue: z.string().min(1),
  /**
   * Waiting jobs beyond which requests get 503 with Retry-After at once. A job
   * carries one request, or up to 64 that arrived together (see the queue backend).
   */
  maxWaiting: z.number().int().positive().default(QUEUE_VARIANT_DEFAULTS.maxWaiting),
  /** Attempts for a job whose worker finds its model unavailable. */
  attempts: z.number().int().positive().default(QUEUE_VARIANT_DEFAULTS.attempts),
});

const sagemakerBackend = z.object({
  type: z.literal('sagemaker'),
  endpointName: z.string().min(1),
  /** @defaultValue `us-east-1` */
  region: z.string().min(1).default('us-east-1'),
  /** An endpoint URL other than AWS's own (VPC endpoint, emulator). */
  endpoint: z.url().optional(),
  /** Pin the endpoint's own production variant. */
  targetVariant: z.string().min(1).optional(),
  /** Model of a multi-model endpoint. */
  targetModel: z.string().min(1).optional(),
});

const backend = z.discriminatedUnion('type', [localBackend, queueBackend, sagemakerBackend]);

const guard = z.object({
  /** Share of requests failing with 424 or above that takes the variant out. */
  maxErrorRate: z.number().min(0).max(1).default(0.1),
  maxP95Ms: z.number().positive().default(10_000),
  windowMs: z.number().int().positive().default(60_000),
  minRequests: z.number().int().positive().default(20),
  cooldownMs: z.number().int().positive().default(30_000),
});

const variant = z.object({
  /** Relative share of traffic; SageMaker's rule: weight / sum of weights. */
  weight: z.number().nonnegative(),
  backend,
  /** Canary guard: out of rotation while its error rate or p95 breaks a bound. */
  guard: guard.optional(),
});

const model = z
  .object({
    variants: z
      .record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/), variant)
      .refine((v) => Object.keys(v).length > 0, 'a model needs at least one variant'),
    /** Content-Types the model accepts. @defaultValue every built-in codec */
    contentTypes: z.array(z.string().min(1)).default(MODEL_DEFAULTS.contentTypes),
    /** Accept types the model answers in. @defaultValue every built-in codec */
    accepts: z.array(z.string().min(1)).default(MODEL_DEFAULTS.accepts),
    /** Largest request body. @defaultValue 6 MB, SageMaker's real-time limit */
    maxBodyBytes: z.number().int().positive().default(MODEL_DEFAULTS.maxBodyBytes),
    /** Deadline of a request. @defaultValue 60 s, SageMaker's invocation limit */
    timeoutMs: z.number().int().positive().default(MODEL_DEFAULTS.timeoutMs),
    /** Copy a sampled share of answered traffic to this variant and score its answers. */
    shadow: z
      .object({ variant: z.string().min(1), sampleRate: z.number().min(0).max(1) })
      .optional(),
    /** Variants to try, in order, when the chosen one fails in a retryable way. */
    fallback: z.array(z.string().min(1)).default([]),
    /** Header whose value pins a caller to one variant (consistent hashing on the weights). */
    stickyHeader: z.string().min(1).optional(),
  })
  .refine((m) => Object.values(m.variants).some((v) => v.weight > 0), {
    message: 'at least one variant needs a weight above 0',
    path: ['variants'],
  })
  .superRefine((m, ctx) => {
    if (m.shadow !== undefined && !(m.shadow.variant in m.variants)) {
      ctx.addIssue({
        code: 'custom',
        path: ['shadow', 'variant'],
        message: `no variant "${m.shadow.variant}" in this model`,
      });
    }
    m.fallback.forEach((name, i) => {
      if (!(name in m.variants)) {
        ctx.addIssue({
          code: 'custom',
          path: ['fallback', i],
          message: `no variant "${name}" in this model`,
        });
      }
    });
  });

const rate = z.object({
  /** Sustained requests per second. */
  rps: z.number().positive(),
  /** Requests allowed at once after a quiet spell. */
  burst: z.number().int().positive(),
});

const apiKey = z.object({
  /** Name in logs and listings. */
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
  /** SHA-256 hex digest of the key (`printf %s "$KEY" | sha256sum`); never the key. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 hex digest'),
  /** Models the key may call; `*` for all. */
  models: z.array(z.string().min(1)).min(1).default(['*']),
  /** Admin routes (weights, keys). */
  admin: z.boolean().default(false),
  /** This key's own rate (over `rateLimits.perKey`). */
  rateLimit: rate.optional(),
});

export const gatewayConfigSchema = z.object({
  /**
   * API keys. With any (here, in `admin`, or added through `POST /v1/admin/keys`),
   * every model and admin route needs one.
   */
  auth: z.object({ keys: z.array(apiKey).default([]) }).default({ keys: [] }),
  /** Token-bucket rate limits, shared across replicas through Redis when configured. */
  rateLimits: z
    .object({
      /** Each key's rate, unless the key sets its own. */
      perKey: rate.optional(),
      /** Each model's rate, over all callers. */
      models: z.record(z.string(), rate).default({}),
    })
    .default({ models: {} }),
  /**
   * Bearer keys for admin routes, stored as SHA-256 hex digests of the keys
   * (`printf %s "$KEY" | sha256sum`). Without any, admin routes are open, as in the
   * embedded default.
   */
  admin: z
    .object({
      keySha256: z.array(z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 hex digest')).min(1),
    })
    .optional(),
  /** Redis for queue backends. @defaultValue `REDIS_URL` */
  redis: z
    .object({
      url: z.url({ protocol: /^rediss?$/ }),
      /**
       * Prefix of the gateway's own keys and of its task queue: gateways that share
       * work share it; deployments that share a Redis use different ones.
       */
      namespace: z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/)
        .default('switchyard'),
    })
    .optional(),
  server: z
    .object({
      /** @defaultValue `PORT`, else 8080 */
      port: z.number().int().min(0).max(65535).default(8080),
    })
    .default({ port: 8080 }),
  /** Where async and batch inputs and outputs live. */
  storage: z
    .object({
      /** `s3://bucket/prefix`, `file:///dir` or a directory. @defaultValue `./.switchyard/storage` */
      url: z.string().min(1).default('./.switchyard/storage'),
      /** Endpoint of an S3-compatible store (MinIO, LocalStack). */
      s3Endpoint: z.url().optional(),
      s3Region: z.string().min(1).optional(),
      /**
       * Whether queue workers can read this store (they run with `--storage` set to
       * the same URL): large async bodies then reach them by location, not through
       * Redis. @defaultValue true for `s3://`, false for a directory
       */
      sharedWithWorkers: z.boolean().optional(),
    })
    .default({ url: './.switchyard/storage' }),
  /** Async inference (`/async-invocations`, `/v1/models/{name}/async`). */
  async: z
    .object({
      /** Largest async request body. @defaultValue 100 MB */
      maxBodyBytes: z
        .number()
        .int()
        .positive()
        .default(100 * 1024 * 1024),
      /** How long records and results are kept. @defaultValue one day */
      recordTtlSeconds: z.number().int().positive().default(86_400),
      /** Runs of an inference whose backend is unavailable before it fails. */
      attempts: z.number().int().positive().default(5),
      webhook: z
        .object({
          attempts: z.number().int().positive().default(5),
          /** First retry delay, doubled after each failure. */
          backoffMs: z.number().int().positive().default(1000),
          timeoutMs: z.number().int().positive().default(5000),
        })
        .default({ attempts: 5, backoffMs: 1000, timeoutMs: 5000 }),
    })
    .default({
      maxBodyBytes: 100 * 1024 * 1024,
      recordTtlSeconds: 86_400,
      attempts: 5,
      webhook: { attempts: 5, backoffMs: 1000, timeoutMs: 5000 },
    }),
  batch: z
    .object({
      /** Largest uploaded batch input. @defaultValue 10 GiB */
      maxInputBytes: z
        .number()
        .int()
        .positive()
        .default(10 * 1024 ** 3),
    })
    .default({ maxInputBytes: 10 * 1024 ** 3 }),
  /** Models and variants registered at runtime through `/v1/admin/models`. */
  deployments: z
    .object({
      /** Largest model archive `POST /v1/admin/artifacts` takes. @defaultValue 2 GiB */
      maxArchiveBytes: z
        .number()
        .int()
        .positive()
        .default(2 * 1024 ** 3),
    })
    .default({ maxArchiveBytes: 2 * 1024 ** 3 }),
  /** Background work: async inferences, batch jobs and webhooks. */
  tasks: z
    .object({
      /** Tasks this gateway runs at once (a running batch job holds one). */
      concurrency: z.number().int().positive().default(32),
      /** Chunks of one batch job in flight at once. */
      chunksInFlight: z.number().int().positive().default(8),
      /** With Redis: how long a dead gateway's task stays locked before another takes it. */
      lockDurationMs: z.number().int().positive().default(30_000),
      stalledIntervalMs: z.number().int().positive().default(30_000),
    })
    .default({
      concurrency: 32,
      chunksInFlight: 8,
      lockDurationMs: 30_000,
      stalledIntervalMs: 30_000,
    }),
  models: z
    .record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/), model)
    .refine((m) => Object.keys(m).length > 0, 'configure at least one model'),
});

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
export type ModelConfig = GatewayConfig['models'][string];
export type VariantConfig = ModelConfig['variants'][string];
