import type { HandlerLogger } from '@switchyard/handlers';
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';

/** Work a gateway does in the background: run an async inference, a batch job, a webhook. */
type TaskHandler = (data: unknown, context: TaskContext) => Promise<void>;

interface TaskContext {
  /** Aborted when this gateway stops: a task that can resume later returns early. */
  readonly signal: AbortSignal;
  /** 1 for the first run. */
  readonly attempt: number;
}

interface TaskOptions {
  /** Runs before the task counts as failed. @defaultValue 1 */
  readonly attempts?: number;
  /** First retry delay, doubled each time. @defaultValue 1000 */
  readonly backoffMs?: number;
}

export interface TaskQueue {
  /** Queue a task; a task with the id of one still queued or running is not added twice. */
  add(name: string, id: string, data: unknown, options?: TaskOptions): Promise<void>;
  /** Start running tasks with these handlers (by task name). */
  start(handlers: Readonly<Record<string, TaskHandler>>): void;
  /** Stop taking tasks; running ones are asked to stop (signal) and awaited. */
  close(): Promise<void>;
}

/** Raised by a handler whose signal was aborted: the task is not done and runs again. */
export class TaskInterrupted extends Error {
  constructor() {
    super('interrupted: the gateway is stopping');
  }
}

/** Tasks in this process (the embedded default): lost when it exits. */
export function memoryTasks(options: { concurrency: number; logger: HandlerLogger }): TaskQueue {
  const pending: { name: string; id: string; data: unknown; attempt: number; opts: TaskOptions }[] =
    [];
  const known = new Set<string>();
  const running = new Map<string, Promise<void>>();
  const stop = new AbortController();
  const timers = new Set<NodeJS.Timeout>();
  let handlers: Readonly<Record<string, TaskHandler>> | undefined;

  const pump = (): void => {
    while (handlers !== undefined && !stop.signal.aborted && running.size < options.concurrency) {
      const task = pending.shift();
      if (task === undefined) return;
      const handler = handlers[task.name];
      const run = (async () => {
        try {
          if (handler === undefined) throw new Error(`no handler for task "${task.name}"`);
          await handler(task.data, { signal: stop.signal, attempt: task.attempt });
          known.delete(task.id);
        } catch (error) {
          const attempts = task.opts.attempts ?? 1;
          if (error instanceof TaskInterrupted || stop.signal.aborted) return;
          if (task.attempt < attempts) {
            const delay = (task.opts.backoffMs ?? 1000) * 2 ** (task.attempt - 1);
            const timer = setTimeout(() => {
              timers.delete(timer);
              pending.push({ ...task, attempt: task.attempt + 1 });
              pump();
            }, delay);
            timers.add(timer);
          } else {
            known.delete(task.id);
            options.logger.warn(
              { task: task.name, id: task.id, err: (error as Error).message },
              'task failed',
            );
          }
        } finally {
          running.delete(task.id);
          pump();
        }
      })();
      running.set(task.id, run);
    }
  };

  return {
    add(name, id, data, opts = {}) {
      if (!known.has(id)) {
        known.add(id);
        pending.push({ name, id, data, attempt: 1, opts });
        pump();
      }
      return Promise.resolve();
    },
    start(h) {
      handlers = h;
      pump();
    },
    async close() {
      stop.abort();
      for (const timer of timers) clearTimeout(timer);
      await Promise.all(running.values());
    },
  };
}

/**
 * Tasks in a BullMQ queue that every gateway replica consumes: a task whose
 * gateway dies is taken back after its lock expires and runs on another replica
 * (or the same one restarted), which is what makes batch jobs survive restarts.
 */
export function redisTasks(options: {
  redisUrl: string;
  queue: string;
  concurrency: number;
  /** How long a dead gateway's task stays locked. @defaultValue 30000 */
  lockDurationMs: number;
  /** How often stalled tasks are looked for. @defaultValue 30000 */
  stalledIntervalMs: number;
  logger: HandlerLogger;
}): TaskQueue {
  const producer = new Redis(options.redisUrl, { maxRetriesPerRequest: 3 });
  producer.on('error', () => undefined);
  const queue = new Queue(options.queue, { connection: producer });
  queue.on('error', () => undefined);
  const stop = new AbortController();
  let worker: Worker | undefined;
  let consumer: Redis | undefined;

  return {
    async add(name, id, data, opts = {}) {
      await queue.add(name, data, {
        jobId: id,
        attempts: opts.attempts ?? 1,
        backoff: { type: 'exponential', delay: opts.backoffMs ?? 1000 },
        removeOnComplete: { age: 3600 },
        removeOnFail: { age: 24 * 3600 },
      });
    },
    start(handlers) {
      consumer = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
      consumer.on('error', () => undefined);
      worker = new Worker(
        options.queue,
        async (job: Job, token?: string) => {
          const handler = handlers[job.name];
          if (handler === undefined) throw new Error(`no handler for task "${job.name}"`);
          try {
            await handler(job.data, { signal: stop.signal, attempt: job.attemptsMade + 1 });
          } catch (error) {
            if (!(error instanceof TaskInterrupted)) throw error;
            // Not a failure: put it back for the next gateway, at once.
            await job.moveToDelayed(Date.now(), token);
            throw new DelayedError();
          }
        },
        {
          connection: consumer,
          concurrency: options.concurrency,
          lockDuration: options.lockDurationMs,
          stalledInterval: options.stalledIntervalMs,
          // A batch job outlives many gateway restarts.
          maxStalledCount: 1000,
        },
      );
      worker.on('error', (error) => {
        options.logger.warn({ err: error.message }, 'task queue error');
      });
      worker.on('failed', (job, error) => {
        if (job !== undefined && job.attemptsMade >= (job.opts.attempts ?? 1)) {
          options.logger.warn({ task: job.name, id: job.id, err: error.message }, 'task failed');
        }
      });
    },
    async close() {
      stop.abort();
      await worker?.close();
      await queue.close();
      await Promise.all(
        [consumer, producer].map((c) => c?.quit().catch(() => undefined) ?? Promise.resolve()),
      );
    },
  };
}
