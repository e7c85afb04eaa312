import {
  InferenceError,
  decodeChunkRequest,
  decodeJobRequest,
  encodeChunkResult,
  encodeJobResult,
  type HandlerLogger,
  type JobResult,
  type JobResultWire,
} from '@switchyard/handlers';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { ModelRuntime } from '../runtime/model-runtime.js';
import { runChunk } from './chunk.js';

export interface QueueConsumerOptions {
  readonly redisUrl: string;
  readonly queue: string;
  readonly runtime: ModelRuntime;
  readonly logger: HandlerLogger;
  /** Jobs in flight at once, feeding the batcher. */
  readonly concurrency: number;
  readonly lockDurationMs: number;
  readonly stalledIntervalMs: number;
  /** How long finished jobs (and reply lists) are kept for late look-ups. */
  readonly resultTtlMs: number;
  /** Called with each finished job's result (metrics). */
  readonly onResult?: (result: JobResult) => void;
}

export interface QueueConsumer {
  readonly worker: Worker;
  /** Stop taking jobs, finish the ones in flight, disconnect. */
  close(): Promise<void>;
}

/**
 * Consume one model's BullMQ queue: decode each job, run it through the model,
 * push the result to the job's reply list (the gateway instance waiting for it)
 * and keep it on the job for late look-ups. Request errors are answers, not job
 * failures; only an unavailable model fails the job, so BullMQ retries it with
 * backoff (on this worker once it recovers, or another one).
 *
 * @example
 * ```ts
 * const consumer = startQueueConsumer({ redisUrl, queue: 'switchyard-iris', runtime, logger, ... });
 * process.once('SIGTERM', () => void consumer.close());
 * ```
 */
export function startQueueConsumer(options: QueueConsumerOptions): QueueConsumer {
  const { runtime, logger } = options;
  // BullMQ workers block on Redis and need maxRetriesPerRequest: null.
  const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  const replies = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  const keep = { age: Math.ceil(options.resultTtlMs / 1000), count: 100_000 };

  const reply = async (replyTo: string | undefined, wire: JobResultWire): Promise<void> => {
    if (replyTo === undefined) return;
    await replies
      .multi()
      .rpush(replyTo, JSON.stringify(wire))
      .pexpire(replyTo, options.resultTtlMs)
      .exec();
  };

  // A batch job's mini-batch: every record through the model, one outcome each,
  // returned on the job for the gateway that runs the batch job.
  const processChunk = async (job: Job) => {
    let chunk;
    try {
      chunk = decodeChunkRequest(job.data);
    } catch (error) {
      logger.error({ jobId: job.id, err: (error as Error).message }, 'malformed chunk job');
      throw new UnrecoverableError((error as Error).message);
    }
    const outcomes = await runChunk(chunk, runtime);
    const unavailable = outcomes.find((o) => !o.ok && o.error.code === 'UNAVAILABLE');
    if (unavailable !== undefined && !unavailable.ok) {
      // The model is down, not the records: let BullMQ retry the chunk.
      throw new Error(unavailable.error.message);
    }
    return encodeChunkResult(outcomes);
  };

  const process = async (job: Job) => {
    if (job.name === 'chunk') return processChunk(job);
    let request;
    try {
      request = decodeJobRequest(job.data);
    } catch (error) {
      logger.error({ jobId: job.id, err: (error as Error).message }, 'malformed job');
      throw new UnrecoverableError((error as Error).message);
    }
    const { body, ...rest } = request;
    const outcome = await runtime.invoke({
      requestId: rest.requestId,
      body,
      contentType: rest.contentType,
      accept: rest.accept,
      customAttributes: rest.customAttributes,
      deadline: rest.deadline,
      enqueuedAt: rest.enqueuedAt,
    });
    const timings = {
      queueMs: outcome.timings.queueMs + outcome.timings.batchWaitMs,
      computeMs: outcome.timings.computeMs,
      batchSize: Math.max(1, outcome.timings.batchSize),
    };
    const base = {
      requestId: rest.requestId,
      ...(rest.variant === undefined ? {} : { variant: rest.variant }),
      timings,
    };
    const result: JobResult = outcome.ok
      ? { ...base, ok: true, contentType: outcome.contentType, body: outcome.body }
      : {
          ...base,
          ok: false,
          error: new InferenceError(
            outcome.error.code,
            outcome.error.message,
            outcome.error.details === undefined ? {} : { details: outcome.error.details },
          ),
        };
    const attempts = job.opts.attempts ?? 1;
    if (!result.ok && result.error.code === 'UNAVAILABLE' && job.attemptsMade + 1 < attempts) {
      // Another attempt may find a healthy model; the gateway hears only the last.
      throw new Error(result.error.message);
    }
    const wire = encodeJobResult(result);
    await reply(rest.replyTo, wire);
    options.onResult?.(result);
    return wire;
  };

  const worker = new Worker(options.queue, process, {
    connection,
    concurrency: options.concurrency,
    lockDuration: options.lockDurationMs,
    stalledInterval: options.stalledIntervalMs,
    removeOnComplete: keep,
    removeOnFail: keep,
  });
  worker.on('error', (error) => {
    logger.error({ err: error.message }, 'queue worker error');
  });
  worker.on('failed', (job, error) => {
    logger.warn(
      { jobId: job?.id, attemptsMade: job?.attemptsMade, err: error.message },
      'job failed',
    );
  });

  return {
    worker,
    async close() {
      await worker.close();
      await Promise.all([connection.quit(), replies.quit()]);
    },
  };
}
