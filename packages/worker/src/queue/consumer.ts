import { SpanStatusCode, type Span } from '@opentelemetry/api';
import {
  InferenceError,
  toInferenceError,
  decodeChunkRequest,
  decodeJobGroup,
  decodeJobRequest,
  encodeChunkResult,
  encodeJobResult,
  JOB_GROUP_NAME,
  type HandlerLogger,
  type JobRequest,
  type JobResult,
  type JobResultWire,
} from '@switchyard/handlers';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { ModelRuntime } from '../runtime/model-runtime.js';
import type { RuntimeResult } from '../runtime/types.js';
import type { ObjectStore } from '../storage/object-store.js';
import { BatchSpans, startJobSpan } from '../tracing.js';
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
  /** Where jobs that name a body location (large async bodies) have their body. */
  readonly store?: ObjectStore;
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
 * With tracing on, each job is a CONSUMER span `queue.process`, a child of the
 * gateway's `queue.send` span (its context travels in the job), and each batch
 * the model ran is one `model.batch` span linked to the jobs it served.
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
  const batchSpans = new BatchSpans({
    'switchyard.model': runtime.info.modelName,
    ...(runtime.info.variant === undefined ? {} : { 'switchyard.variant': runtime.info.variant }),
  });
  // Batch-job records share batches with traced requests: they count, unlinked.
  const counted: Pick<ModelRuntime, 'invoke'> = {
    async invoke(request) {
      const result = await runtime.invoke(request);
      batchSpans.report(result, undefined);
      return result;
    },
  };

  // One message per reply list: a result, or the array of a group's results for
  // that list (the gateway that sent them reads them with one pop).
  const reply = async (messages: Map<string, JobResultWire[]>): Promise<void> => {
    if (messages.size === 0) return;
    const multi = replies.multi();
    for (const [replyTo, wires] of messages) {
      multi.rpush(replyTo, JSON.stringify(wires.length === 1 ? wires[0] : wires));
      multi.pexpire(replyTo, options.resultTtlMs);
    }
    await multi.exec();
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
    const outcomes = await runChunk(chunk, batchSpans.enabled ? counted : runtime);
    const unavailable = outcomes.find((o) => !o.ok && o.error.code === 'UNAVAILABLE');
    if (unavailable !== undefined && !unavailable.ok) {
      // The model is down, not the records: let BullMQ retry the chunk.
      throw new Error(unavailable.error.message);
    }
    return encodeChunkResult(outcomes);
  };

  // A large body stays in the object store the gateway wrote it to.
  const readBody = async (location: string): Promise<Uint8Array> => {
    const { store } = options;
    if (store === undefined) {
      throw new InferenceError(
        'UNAVAILABLE',
        `the job's body is at ${location}, and this worker has no --storage to read it from`,
      );
    }
    const key = store.keyOf(location);
    if (key === undefined) {
      throw new InferenceError(
        'INVALID_INPUT',
        `the job's body location ${location} is outside this worker's store`,
      );
    }
    return store.getBytes(key);
  };

  /** Runs `decode(job.data)`; a job that does not decode can never succeed. */
  const decodeOrFail = <T>(job: Job, decode: (data: unknown) => T): T => {
    try {
      return decode(job.data);
    } catch (error) {
      logger.error({ jobId: job.id, err: (error as Error).message }, 'malformed job');
      throw new UnrecoverableError((error as Error).message);
    }
  };

  /** One request in its CONSUMER span: the model's answer, or its error, as a result. */
  const traced = async (jobId: string | undefined, request: JobRequest): Promise<JobResult> => {
    const span = startJobSpan(options.queue, jobId, request.traceContext);
    batchSpans.noteJob(span);
    try {
      return await answer(request, span);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      throw error;
    } finally {
      span.end();
    }
  };

  /** Only an unavailable model fails a job: BullMQ retries it while attempts remain. */
  const retryable = (job: Job, result: JobResult): boolean =>
    !result.ok &&
    result.error.code === 'UNAVAILABLE' &&
    job.attemptsMade + 1 < (job.opts.attempts ?? 1);

  // Requests answered together: all handed to the model at once (they batch), one
  // reply message per reply list. The job is retried only when the model was down
  // for every request in it; the gateway hears only the last attempt.
  const settle = async (job: Job, requests: readonly JobRequest[]): Promise<JobResultWire[]> => {
    const results = await Promise.all(requests.map((request) => traced(job.id, request)));
    const [first] = results;
    if (first !== undefined && !first.ok && results.every((result) => retryable(job, result))) {
      throw new Error(first.error.message);
    }
    const wires = results.map(encodeJobResult);
    const messages = new Map<string, JobResultWire[]>();
    requests.forEach((request, i) => {
      const wire = wires[i];
      if (request.replyTo === undefined || wire === undefined) return;
      const list = messages.get(request.replyTo) ?? [];
      list.push(wire);
      messages.set(request.replyTo, list);
    });
    await reply(messages);
    for (const result of results) options.onResult?.(result);
    return wires;
  };

  // A lone request's job keeps its one result; a group job's keeps them in order.
  const processOne = async (job: Job): Promise<JobResultWire | undefined> =>
    (await settle(job, [decodeOrFail(job, decodeJobRequest)]))[0];
  const processGroup = async (job: Job): Promise<JobResultWire[]> =>
    settle(job, decodeOrFail(job, decodeJobGroup));

  const process = async (job: Job) => {
    if (job.name === 'chunk') return processChunk(job);
    if (job.name === JOB_GROUP_NAME) return processGroup(job);
    return processOne(job);
  };

  const answer = async (request: JobRequest, span: Span): Promise<JobResult> => {
    const { body, ...rest } = request;
    let outcome: RuntimeResult;
    try {
      outcome = await runtime.invoke({
        requestId: rest.requestId,
        body: rest.bodyLocation === undefined ? body : await readBody(rest.bodyLocation),
        contentType: rest.contentType,
        accept: rest.accept,
        customAttributes: rest.customAttributes,
        deadline: rest.deadline,
        enqueuedAt: rest.enqueuedAt,
        ...(rest.revision === undefined ? {} : { revision: rest.revision }),
        ...(rest.targetModel === undefined ? {} : { targetModel: rest.targetModel }),
      });
      batchSpans.report(outcome, span);
    } catch (error) {
      outcome = {
        ok: false,
        error: toInferenceError(error).toJSON(),
        timings: { queueMs: 0, batchWaitMs: 0, computeMs: 0, batchSize: 0 },
      };
    }
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
    if (!result.ok) {
      span.setAttribute('switchyard.error_code', result.error.code);
      span.setStatus({ code: SpanStatusCode.ERROR, message: result.error.message });
    }
    return result;
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
      batchSpans.flush();
      await Promise.all([connection.quit(), replies.quit()]);
    },
  };
}
