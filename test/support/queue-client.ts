import { randomUUID } from 'node:crypto';
import { decodeJobResult, encodeJobRequest, type JobResult } from '@switchyard/handlers';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';

export interface QueueClient {
  readonly queue: Queue;
  /** Enqueue one request and wait for its reply; resolves with the decoded result. */
  invoke(
    body: Uint8Array | string,
    contentType: string,
    options?: { accept?: string; deadlineMs?: number; attempts?: number },
  ): Promise<JobResult>;
  /** Replies received per request id (to tell a duplicate from a loss). */
  readonly replies: Map<string, number>;
  close(): Promise<void>;
}

/**
 * The gateway's side of the queue path, as small as a test needs: jobs in the
 * wire format, one reply list for this client, read with BLPOP.
 */
export function createQueueClient(redisUrl: string, queueName: string): QueueClient {
  const producer = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const listener = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(queueName, { connection: producer });
  const replyTo = `switchyard:test:replies:${randomUUID()}`;
  const waiting = new Map<string, (result: JobResult) => void>();
  const replies = new Map<string, number>();
  let open = true;

  const listen = async (): Promise<void> => {
    while (open) {
      const popped = await listener.blpop(replyTo, 1).catch(() => null);
      if (popped === null) continue;
      const result = decodeJobResult(JSON.parse(popped[1]));
      replies.set(result.requestId, (replies.get(result.requestId) ?? 0) + 1);
      waiting.get(result.requestId)?.(result);
      waiting.delete(result.requestId);
    }
  };
  const loop = listen();

  return {
    queue,
    replies,
    async invoke(body, contentType, options = {}) {
      const requestId = randomUUID();
      const answered = new Promise<JobResult>((resolve) => waiting.set(requestId, resolve));
      await queue.add(
        'invoke',
        encodeJobRequest({
          requestId,
          model: queueName,
          contentType,
          ...(options.accept === undefined ? {} : { accept: options.accept }),
          body: typeof body === 'string' ? new TextEncoder().encode(body) : body,
          deadline: Date.now() + (options.deadlineMs ?? 60_000),
          enqueuedAt: Date.now(),
          replyTo,
        }),
        {
          jobId: requestId,
          attempts: options.attempts ?? 3,
          backoff: { type: 'exponential', delay: 200 },
        },
      );
      return answered;
    },
    async close() {
      open = false;
      await loop;
      await queue.obliterate({ force: true });
      await queue.close();
      await Promise.all([producer.quit(), listener.quit()]);
    },
  };
}
