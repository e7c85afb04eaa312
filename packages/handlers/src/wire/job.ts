import { z } from 'zod';
import { INFERENCE_ERROR_CODES } from '../errors/codes.js';
import { InferenceError, type InferenceErrorJSON } from '../errors/inference-error.js';
import { fromBase64, toBase64 } from './base64.js';

/**
 * Version of the job and result formats; bumped on any incompatible change.
 *
 * @example
 * ```ts
 * if (job.data.v !== WIRE_VERSION) throw new UnrecoverableError('job from another version');
 * ```
 */
export const WIRE_VERSION = 1;

const traceContextSchema = z.object({
  traceparent: z.string().max(512),
  tracestate: z.string().max(1024).optional(),
});

/**
 * An inference job as BullMQ stores it (JSON): the gateway writes it, the worker
 * reads it. The body travels as base64 (a third larger than the bytes, and about
 * thirty times cheaper to parse than a JSON array of numbers).
 *
 * @example
 * ```ts
 * const checked = jobRequestSchema.safeParse(job.data);
 * ```
 */
export const jobRequestSchema = z.object({
  v: z.literal(WIRE_VERSION),
  requestId: z.string().min(1).max(256),
  model: z.string().min(1).max(256),
  variant: z.string().min(1).max(256).optional(),
  contentType: z.string().min(1).max(256),
  accept: z.string().max(1024).optional(),
  body: z.base64(),
  /**
   * Where a large body is in the object store the gateway and workers share; the
   * body itself is then empty, and the worker reads it from there.
   */
  bodyLocation: z.string().min(1).max(2048).optional(),
  /** `X-Amzn-SageMaker-Custom-Attributes` (SageMaker caps it at 1024 characters). */
  customAttributes: z.string().max(1024).optional(),
  /** W3C trace context of the gateway span that enqueued the job. */
  traceContext: traceContextSchema.optional(),
  /** Epoch milliseconds after which the answer is useless: workers drop the job unrun. */
  deadline: z.number().int().positive(),
  /** Redis key of the gateway instance's reply channel. */
  replyTo: z.string().min(1).max(256).optional(),
  /** Revision of a registered variant the job is for (the one in service when it was sent). */
  revision: z.number().int().positive().optional(),
  /** `X-Amzn-SageMaker-Target-Model`: the archive of a multi-model variant to run. */
  targetModel: z.string().min(1).max(1024).optional(),
  enqueuedAt: z.number().int().positive(),
});

export type JobRequestWire = z.infer<typeof jobRequestSchema>;
/** A job request with its body as bytes. */
export type JobRequest = Omit<JobRequestWire, 'v' | 'body'> & { readonly body: Uint8Array };

const errorSchema = z.object({
  code: z.enum(INFERENCE_ERROR_CODES),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
});

const timingsSchema = z.object({
  /** Time from enqueue to the start of compute. */
  queueMs: z.number().nonnegative(),
  /** Time in the handler chain, batch included. */
  computeMs: z.number().nonnegative(),
  /** Requests in the batch this one was computed in. */
  batchSize: z.number().int().positive(),
});

/**
 * The worker's answer to one job, success or failure, as it travels back.
 *
 * @example
 * ```ts
 * const checked = jobResultSchema.safeParse(JSON.parse(reply));
 * ```
 */
export const jobResultSchema = z.discriminatedUnion('ok', [
  z.object({
    v: z.literal(WIRE_VERSION),
    ok: z.literal(true),
    requestId: z.string().min(1),
    variant: z.string().optional(),
    contentType: z.string().min(1),
    body: z.base64(),
    customAttributes: z.string().max(1024).optional(),
    timings: timingsSchema.optional(),
  }),
  z.object({
    v: z.literal(WIRE_VERSION),
    ok: z.literal(false),
    requestId: z.string().min(1),
    variant: z.string().optional(),
    error: errorSchema,
    timings: timingsSchema.optional(),
  }),
]);

export type JobResultWire = z.infer<typeof jobResultSchema>;

/** A job result with its body as bytes, or its error as an `InferenceError`. */
export type JobResult =
  | (Omit<Extract<JobResultWire, { ok: true }>, 'v' | 'body'> & { readonly body: Uint8Array })
  | (Omit<Extract<JobResultWire, { ok: false }>, 'v' | 'error'> & {
      readonly error: InferenceError;
    });

/**
 * Write a job request in its wire form.
 *
 * @example
 * ```ts
 * await queue.add('invoke', encodeJobRequest({
 *   requestId, model: 'iris', contentType: 'application/json',
 *   body: new TextEncoder().encode('[[5.1, 3.5, 1.4, 0.2]]'),
 *   deadline: Date.now() + 5_000, enqueuedAt: Date.now(),
 * }));
 * ```
 */
export function encodeJobRequest(request: JobRequest): JobRequestWire {
  return jobRequestSchema.parse({ ...request, v: WIRE_VERSION, body: toBase64(request.body) });
}

/**
 * Read a job request off the queue; anything that does not match the schema
 * fails with `INVALID_INPUT` listing the fields at fault.
 *
 * @example
 * ```ts
 * new Worker(queueName, async (job) => {
 *   const request = decodeJobRequest(job.data);
 *   // request.body is a Uint8Array again
 * });
 * ```
 */
export function decodeJobRequest(data: unknown): JobRequest {
  const { v, body, ...rest } = parseOrThrow(jobRequestSchema, data, 'job request');
  return { ...rest, body: fromBase64(body) };
}

/**
 * Write a job result in its wire form.
 *
 * @example
 * ```ts
 * await redis.lpush(request.replyTo, JSON.stringify(encodeJobResult({ ok: true, requestId, ...encoded })));
 * ```
 */
export function encodeJobResult(result: JobResult): JobResultWire {
  if (result.ok) {
    return jobResultSchema.parse({ ...result, v: WIRE_VERSION, body: toBase64(result.body) });
  }
  const error: InferenceErrorJSON = result.error.toJSON();
  return jobResultSchema.parse({ ...result, v: WIRE_VERSION, error });
}

/**
 * Read a job result; its error comes back as an `InferenceError` with the same code.
 *
 * @example
 * ```ts
 * const result = decodeJobResult(JSON.parse(reply));
 * if (!result.ok) throw result.error; // an InferenceError, status from its code
 * ```
 */
export function decodeJobResult(data: unknown): JobResult {
  const wire = parseOrThrow(jobResultSchema, data, 'job result');
  if (wire.ok) {
    const { v, body, ...rest } = wire;
    return { ...rest, body: fromBase64(body) };
  }
  const { v, error, ...rest } = wire;
  return {
    ...rest,
    error: new InferenceError(
      error.code,
      error.message,
      error.details === undefined ? {} : { details: error.details },
    ),
  };
}

/** BullMQ job name of a {@link JobGroupWire}: several requests for one model in one job. */
export const JOB_GROUP_NAME = 'invoke-group';

/** Most requests one group job carries. */
export const MAX_GROUP_REQUESTS = 256;

export const jobGroupSchema = z.object({
  v: z.literal(WIRE_VERSION),
  requests: z.array(jobRequestSchema).min(1).max(MAX_GROUP_REQUESTS),
});

export type JobGroupWire = z.infer<typeof jobGroupSchema>;

/**
 * Write requests that arrived together as one job. A gateway sends one job per
 * Redis round trip instead of one per request; the worker answers each request
 * on its own `replyTo` and keeps the results, in order, as the job's return value.
 * The requests were built by the caller, so only their bodies are converted here;
 * {@link decodeJobGroup} validates everything on the way out.
 *
 * @example
 * ```ts
 * await queue.add(JOB_GROUP_NAME, encodeJobGroup([first, second]));
 * ```
 */
export function encodeJobGroup(requests: readonly JobRequest[]): JobGroupWire {
  if (requests.length === 0 || requests.length > MAX_GROUP_REQUESTS) {
    throw new RangeError(
      `a job group holds 1 to ${MAX_GROUP_REQUESTS} requests, not ${requests.length}`,
    );
  }
  return {
    v: WIRE_VERSION,
    requests: requests.map((request) => ({
      ...request,
      v: WIRE_VERSION,
      body: toBase64(request.body),
    })),
  };
}

/** Read a group job; anything that does not match fails with `INVALID_INPUT`. */
export function decodeJobGroup(data: unknown): JobRequest[] {
  const group = parseOrThrow(jobGroupSchema, data, 'job group');
  return group.requests.map(({ v, body, ...rest }) => ({ ...rest, body: fromBase64(body) }));
}

/** Parse wire data, or throw INVALID_INPUT listing every field at fault. */
export function parseOrThrow<T>(schema: z.ZodType<T>, data: unknown, what: string): T {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const problems = result.error.issues.map(
    (issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`,
  );
  throw new InferenceError('INVALID_INPUT', `malformed ${what}: ${problems.join('; ')}`, {
    details: { problems },
  });
}
