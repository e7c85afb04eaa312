import { z } from 'zod';

/**
 * Models and variants registered at runtime (`/v1/admin/models/…`), as the
 * gateway writes them and workers read them. Each variant has a revision, unique
 * across the deployment: replacing a variant writes a new revision, and the one it
 * replaces keeps serving until the new one is in service.
 *
 * Storage (Redis, under the gateway's namespace `ns`):
 * - `{ns}:deployments`: a hash, model name → JSON {@link DeploymentRecord};
 * - `{ns}:deployments:revision`: the revision counter;
 * - `{ns}:deployments:status:{model}:{variant}:{revision}`: a hash, loader (a
 *   worker, or a gateway serving it in process) → JSON {@link LoaderReport};
 * - pub/sub channel `{ns}:deployments`: a model's name whenever its record or a
 *   status changes.
 */
export const DEPLOYMENT_WIRE_VERSION = 1;

export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const name = z.string().regex(NAME_PATTERN, 'letters, digits, ".", "_" or "-", at most 128');

/** A queue variant's limits where none are given (configured or registered). */
export const QUEUE_VARIANT_DEFAULTS = { maxWaiting: 1000, attempts: 3 } as const;

/** Batching where none is given (configured local variants, registered ones, workers). */
export const BATCHING_DEFAULTS = { maxBatchSize: 32, maxDelayMs: 0 } as const;

export const deploymentBackendSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('queue'),
    /** Multi-model workers started with `--pool` this name serve the variant. */
    pool: name.default('default'),
    maxWaiting: z.number().int().positive().default(QUEUE_VARIANT_DEFAULTS.maxWaiting),
    attempts: z.number().int().positive().default(QUEUE_VARIANT_DEFAULTS.attempts),
  }),
  /** The gateway runs the model in its own process (each replica loads it). */
  z.object({ type: z.literal('local') }),
  z.object({
    type: z.literal('sagemaker'),
    endpointName: z.string().min(1),
    region: z.string().min(1).default('us-east-1'),
    endpoint: z.url().optional(),
    targetVariant: z.string().min(1).optional(),
    targetModel: z.string().min(1).optional(),
  }),
]);

export type DeploymentBackend = z.infer<typeof deploymentBackendSchema>;

export const batchingSchema = z.object({
  maxBatchSize: z.number().int().positive().max(4096).default(BATCHING_DEFAULTS.maxBatchSize),
  maxDelayMs: z.number().nonnegative().max(10_000).default(BATCHING_DEFAULTS.maxDelayMs),
});

const revisionSchema = z.object({
  revision: z.number().int().positive(),
  backend: deploymentBackendSchema,
  /**
   * The model: a `model.tar.gz` or directory (path, `file://` URL or `s3://`), or
   * with `multiModel` the prefix under which requests name archives with
   * `X-Amzn-SageMaker-Target-Model`. Absent for SageMaker backends.
   */
  modelData: z.string().min(1).max(2048).optional(),
  multiModel: z.boolean().default(false),
  batching: batchingSchema.default(BATCHING_DEFAULTS),
  createdAt: z.number().int().nonnegative(),
});

export type VariantRevision = z.infer<typeof revisionSchema>;

export const variantDeploymentSchema = revisionSchema.extend({
  weight: z.number().nonnegative(),
  /** The revision this one replaced, serving until this one is in service. */
  previous: revisionSchema.optional(),
});

export type VariantDeployment = z.infer<typeof variantDeploymentSchema>;

export const modelSettingsSchema = z.object({
  contentTypes: z.array(z.string().min(1)).min(1).optional(),
  accepts: z.array(z.string().min(1)).min(1).optional(),
  maxBodyBytes: z.number().int().positive().optional(),
  timeoutMs: z.number().int().positive().optional(),
});

export type ModelSettings = z.infer<typeof modelSettingsSchema>;

export const deploymentRecordSchema = z.object({
  v: z.literal(DEPLOYMENT_WIRE_VERSION),
  model: name,
  /** Created through the API (and deletable); false for variants added to a configured model. */
  created: z.boolean(),
  settings: modelSettingsSchema.default({}),
  variants: z.record(name, variantDeploymentSchema),
});

export type DeploymentRecord = z.infer<typeof deploymentRecordSchema>;

/** What one loader says about one revision. */
export const loaderReportSchema = z.object({
  state: z.enum(['loading', 'ready', 'failed']),
  reason: z.string().max(2048).optional(),
  at: z.number().int().nonnegative(),
});

export type LoaderReport = z.infer<typeof loaderReportSchema>;

/** A revision's state, from its loaders' reports (SageMaker's endpoint states, plus Loading). */
export type DeploymentState = 'Creating' | 'Loading' | 'InService' | 'Failed';

export interface RevisionStatus {
  readonly state: DeploymentState;
  /** Why it failed (the first loader's reason). */
  readonly reason?: string;
  /** Loaders that have it loaded and warm. */
  readonly ready: number;
}

/**
 * One revision's state: in service once any loader has it loaded and warm; failed
 * when every loader that tried failed; loading while one is at it; creating until
 * a loader picks it up.
 *
 * @example
 * ```ts
 * revisionStatus([{ state: 'loading', at: 1 }, { state: 'ready', at: 2 }]).state; // 'InService'
 * ```
 */
export function revisionStatus(reports: readonly LoaderReport[]): RevisionStatus {
  const ready = reports.filter((r) => r.state === 'ready').length;
  if (ready > 0) return { state: 'InService', ready };
  if (reports.some((r) => r.state === 'loading')) return { state: 'Loading', ready };
  const failed = reports.find((r) => r.state === 'failed');
  if (failed !== undefined) {
    return { state: 'Failed', ready, reason: failed.reason ?? 'the model did not load' };
  }
  return { state: 'Creating', ready };
}

/** The Redis keys and channel of a namespace's deployments. */
export function deploymentKeys(namespace: string) {
  return {
    records: `${namespace}:deployments`,
    revision: `${namespace}:deployments:revision`,
    channel: `${namespace}:deployments`,
    status: (model: string, variant: string, revision: number) =>
      `${namespace}:deployments:status:${model}:${variant}:${revision}`,
  };
}

/** The BullMQ queue of a registered queue variant. */
export function deploymentQueue(namespace: string, model: string, variant: string): string {
  return `${namespace}.${model}.${variant}`;
}

/**
 * A stored record, checked; `undefined` for one this version cannot read.
 *
 * @example
 * ```ts
 * const record = decodeDeploymentRecord(await redis.hget(keys.records, 'iris'));
 * ```
 */
export function decodeDeploymentRecord(
  text: string | null | undefined,
): DeploymentRecord | undefined {
  if (text === null || text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const checked = deploymentRecordSchema.safeParse(parsed);
  return checked.success ? checked.data : undefined;
}

/** Reports as stored, unreadable ones skipped. */
export function decodeLoaderReports(hash: Readonly<Record<string, string>>): LoaderReport[] {
  const out: LoaderReport[] = [];
  for (const text of Object.values(hash)) {
    try {
      const checked = loaderReportSchema.safeParse(JSON.parse(text));
      if (checked.success) out.push(checked.data);
    } catch {
      // skipped
    }
  }
  return out;
}
