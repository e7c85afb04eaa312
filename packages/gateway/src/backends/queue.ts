import { randomUUID } from 'node:crypto';
import { SpanKind } from '@opentelemetry/api';
import {
  InferenceError,
  decodeChunkResult,
  decodeJobResult,
  encodeChunkRequest,
  encodeJobGroup,
  encodeJobRequest,
  JOB_GROUP_NAME,
  toInferenceError,
  type HandlerLogger,
  type JobRequest,
} from '@switchyard/handlers';
import { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { injectTraceContext, startChildSpan, traced } from '../tracing.js';
import {
  singleModelOnly,
  targetModelRequired,
  type Backend,
  type BackendRequest,
  type BackendResponse,
} from './backend.js';
import type { ReplyChannel } from './reply-channel.js';

export interface QueueBackendOptions {
  readonly redisUrl: string;
  readonly queue: string;
  readonly modelName: string;
  readonly variant: string;
  /** More waiting jobs than this answer 503 with Retry-After at once. */
  readonly maxWaiting: number;
  /** BullMQ attempts for a job whose worker finds its model unavailable. */
  readonly attempts: number;
  readonly replies: ReplyChannel;
  readonly logger: HandlerLogger;
  /**
   * The variant's workers serve many models, chosen per request with
   * `X-Amzn-SageMaker-Target-Model` (which is then required).
   */
  readonly multiModel?: boolean;
}

type TraceContext = NonNullable<JobRequest['traceContext']>;

/** Bodies above this go to workers by location when they have one. */
const INLINE_BODY_BYTES = 256 * 1024;

/** Most requests, and request body bytes, one group job carries. */
const GROUP_REQUESTS = 64;
const GROUP_BODY_BYTES = 1024 * 1024;

interface Queued {
  readonly request: JobRequest;
  readonly added: (jobId: string) => void;
  readonly failed: (error: unknown) => void;
}

/**
 * Adds requests to the queue, one Redis round trip at a time: a request that
 * arrives while no add is in flight goes at once, alone, as an `invoke` job (no
 * added latency); those that arrive while one is in flight go together in the
 * next add, as one group job. Under load a job then carries many requests, which
 * saves BullMQ's per-job work (add, move to active, move to completed) on both
 * sides and hands the worker's batcher requests that batch together.
 */
class JobGrouper {
  private queued: Queued[] = [];
  private adding = false;

  constructor(
    private readonly addOne: (request: JobRequest) => Promise<string>,
    private readonly addGroup: (requests: JobRequest[]) => Promise<string>,
  ) {}

  /** Resolves with the id of the job that carries `request`, once it is in Redis. */
  add(request: JobRequest): Promise<string> {
    return new Promise((added, failed) => {
      this.queued.push({ request, added, failed });
      if (!this.adding) void this.flush();
    });
  }

  private take(): Queued[] {
    let bytes = 0;
    let n = 0;
    for (const { request } of this.queued) {
      if (n > 0 && (n >= GROUP_REQUESTS || bytes + request.body.byteLength > GROUP_BODY_BYTES)) {
        break;
      }
      bytes += request.body.byteLength;
      n++;
    }
    return this.queued.splice(0, n);
  }

  private async flush(): Promise<void> {
    this.adding = true;
    while (this.queued.length > 0) {
      const group = this.take();
      try {
        const [only] = group;
        const jobId =
          group.length === 1 && only !== undefined
            ? await this.addOne(only.request)
            : await this.addGroup(group.map((queued) => queued.request));
        for (const queued of group) queued.added(jobId);
      } catch (error) {
        for (const queued of group) queued.failed(error);
      }
    }
    this.adding = false;
  }
}

const unavailable = (message: string, retryAfter?: number): BackendResponse => ({
  ok: false,
  error: new InferenceError('UNAVAILABLE', message).toJSON(),
  ...(retryAfter === undefined ? {} : { retryAfter }),
});

/**
 * Send requests to workers through a BullMQ queue and wait on this instance's
 * reply channel; when a reply is late, the job's own state is looked up before
 * giving up. With Redis unreachable, requests fail at once with 503 instead of
 * queueing in memory until their deadline.
 */
export async function createQueueBackend(options: QueueBackendOptions): Promise<Backend> {
  const connection = new Redis(options.redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
  });
  let connected = connection.status === 'ready';
  connection.on('ready', () => (connected = true));
  connection.on('close', () => (connected = false));
  connection.on('error', () => undefined); // reported per request; ioredis reconnects
  const queue = new Queue(options.queue, { connection });
  queue.on('error', () => undefined);
  // Start connected where Redis is up; where it is not, start anyway and answer 503.
  await Promise.race([
    new Promise((resolve) => connection.once('ready', resolve)),
    new Promise((resolve) => setTimeout(resolve, 2_000)),
  ]);

  const jobOptions = { attempts: options.attempts, backoff: { type: 'exponential', delay: 100 } };
  const grouper = new JobGrouper(
    async (request) => {
      await queue.add('invoke', encodeJobRequest(request), {
        ...jobOptions,
        jobId: request.requestId,
      });
      return request.requestId;
    },
    async (requests) => {
      const jobId = `group-${randomUUID()}`;
      await queue.add(JOB_GROUP_NAME, encodeJobGroup(requests), { ...jobOptions, jobId });
      return jobId;
    },
  );

  // The waiting count costs a round trip: read it at most every 100 ms.
  let waiting = { count: 0, at: 0 };
  const waitingCount = async (): Promise<number> => {
    if (Date.now() - waiting.at > 100)
      waiting = { count: await queue.getWaitingCount(), at: Date.now() };
    return waiting.count;
  };

  const send = async (
    request: BackendRequest,
    traceContext?: TraceContext,
  ): Promise<BackendResponse> => {
    if (options.multiModel === true) {
      if (request.targetModel === undefined) return targetModelRequired(options.modelName);
    } else if (request.targetModel !== undefined) {
      return singleModelOnly(options.modelName);
    }
    if (!connected)
      return unavailable(`queue "${options.queue}" is unreachable (Redis is down)`, 1);
    try {
      if ((await waitingCount()) >= options.maxWaiting) {
        return unavailable(
          `model "${options.modelName}" has ${options.maxWaiting} or more requests waiting`,
          1,
        );
      }
      const answer = options.replies.wait(request.requestId, request.deadline);
      const jobId = await grouper
        .add({
          requestId: request.requestId,
          model: options.modelName,
          variant: options.variant,
          contentType: request.contentType,
          ...(request.accept === undefined ? {} : { accept: request.accept }),
          ...(request.customAttributes === undefined
            ? {}
            : { customAttributes: request.customAttributes }),
          // A large body the workers can read from the store stays out of Redis.
          ...(request.bodyLocation !== undefined && request.body.byteLength > INLINE_BODY_BYTES
            ? { body: new Uint8Array(0), bodyLocation: request.bodyLocation }
            : { body: request.body }),
          ...(traceContext === undefined ? {} : { traceContext }),
          ...(request.revision === undefined ? {} : { revision: request.revision }),
          ...(request.targetModel === undefined ? {} : { targetModel: request.targetModel }),
          deadline: request.deadline,
          enqueuedAt: Date.now(),
          replyTo: options.replies.key,
        })
        .catch((error: unknown) => {
          options.replies.forget(request.requestId);
          throw error;
        });
      const result = (await answer) ?? (await lateLookup(queue, jobId, request.requestId));
      if (result === undefined) {
        return {
          ok: false,
          error: new InferenceError('TIMEOUT', 'no answer before the deadline').toJSON(),
        };
      }
      return result.ok
        ? {
            ok: true,
            body: result.body,
            contentType: result.contentType,
            customAttributes: result.customAttributes,
            batchSize: result.timings?.batchSize,
          }
        : { ok: false, error: result.error.toJSON() };
    } catch (error) {
      const inference = toInferenceError(error);
      if (inference.code !== 'INTERNAL') return { ok: false, error: inference.toJSON() };
      options.logger.warn(
        { queue: options.queue, err: (error as Error).message },
        'queue backend failed',
      );
      return unavailable(`queue "${options.queue}" is unreachable: ${(error as Error).message}`, 1);
    }
  };

  return {
    type: 'queue',
    healthy: () => connected,
    invoke(request) {
      // Inside a traced request: a PRODUCER span, whose context the job carries.
      const span = startChildSpan('queue.send', SpanKind.PRODUCER);
      if (span === undefined) return send(request);
      span.setAttributes({
        'messaging.system': 'bullmq',
        'messaging.operation.type': 'send',
        'messaging.destination.name': options.queue,
        'messaging.message.id': request.requestId,
      });
      return traced(span, () => send(request, injectTraceContext()));
    },
    async runChunk(chunk, signal) {
      // One job per chunk, behind real-time requests (those have no priority). Its id
      // is the chunk's, so a resumed batch job finds the chunk already queued or done.
      const jobId = `chunk-${chunk.batchId}-${chunk.index}`;
      let added = false;
      let pause = 20;
      for (;;) {
        if (signal.aborted) throw signal.reason;
        const job = await Job.fromId(queue, jobId);
        if (job === undefined) {
          if (added) {
            // Removed before we read it (by age, or by hand): run it again.
            options.logger.warn({ jobId }, 'chunk job vanished; queueing it again');
          }
          await queue.add('chunk', encodeChunkRequest(chunk), {
            jobId,
            priority: 10,
            attempts: options.attempts,
            backoff: { type: 'exponential', delay: 500 },
            removeOnComplete: { age: 24 * 3600 },
            removeOnFail: { age: 24 * 3600 },
          });
          added = true;
        } else if (job.finishedOn !== undefined && job.finishedOn > 0) {
          const failed = job.returnvalue === null || job.returnvalue === undefined;
          const outcomes = failed
            ? chunk.records.map(() => ({
                ok: false as const,
                error: {
                  code: 'UNAVAILABLE' as const,
                  message: `the chunk failed after ${job.attemptsMade} attempts: ${job.failedReason}`,
                },
              }))
            : decodeChunkResult(job.returnvalue);
          await job.remove().catch(() => undefined);
          return outcomes;
        }
        await new Promise((resolve) => setTimeout(resolve, pause));
        pause = Math.min(500, pause * 2);
      }
    },
    async depth() {
      // BullMQ would wait for the connection: fail at once, as requests do.
      if (!connected) throw new Error(`queue "${options.queue}" is unreachable (Redis is down)`);
      const counts = await queue.getJobCounts('waiting', 'prioritized', 'active');
      return {
        waiting: counts['waiting'] ?? 0,
        prioritized: counts['prioritized'] ?? 0,
        active: counts['active'] ?? 0,
      };
    },
    async close() {
      await queue.close();
      connection.disconnect();
    },
  };
}

/**
 * A reply that never came may still be on the job (a group job keeps its
 * results in order); a job of this request alone, still waiting, is withdrawn.
 */
async function lateLookup(queue: Queue, jobId: string, requestId: string) {
  const job = await queue.getJob(jobId);
  if (job === undefined) return undefined;
  if ((await job.getState()) === 'completed' && job.returnvalue !== undefined) {
    const value: unknown = job.returnvalue;
    const mine = Array.isArray(value)
      ? (value as unknown[]).find(
          (wire) => (wire as { requestId?: unknown } | null)?.requestId === requestId,
        )
      : value;
    return mine === undefined ? undefined : decodeJobResult(mine);
  }
  // An active job cannot be removed: its worker drops requests past their deadline.
  // A waiting group job still carries other requests: its worker drops this one.
  if (jobId === requestId) await job.remove().catch(() => undefined);
  return undefined;
}
