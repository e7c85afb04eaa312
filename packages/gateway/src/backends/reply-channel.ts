import { randomUUID } from 'node:crypto';
import { decodeJobResult, type HandlerLogger, type JobResult } from '@switchyard/handlers';
import { Redis } from 'ioredis';

/** Most further replies taken with each one a blocking pop returns. */
const DRAIN = 256;

/**
 * This gateway instance's reply list: workers push results onto it (one message
 * per job: a result, or an array of a group job's results) and one blocking
 * connection pops them, waking the requests that wait. One list per
 * instance means a reply reaches only the gateway that asked (unlike BullMQ's
 * QueueEvents, where every reader receives every event).
 */
export class ReplyChannel {
  readonly key = `switchyard:replies:${randomUUID()}`;
  private readonly connection: Redis;
  private readonly waiting = new Map<string, (result: JobResult) => void>();
  private running = true;
  private readonly loop: Promise<void>;

  constructor(
    redisUrl: string,
    private readonly logger: HandlerLogger,
  ) {
    this.connection = new Redis(redisUrl, { maxRetriesPerRequest: null, lazyConnect: false });
    this.connection.on('error', () => undefined); // reconnects by itself; failures show in requests
    this.loop = this.listen();
  }

  /** Resolves with the reply, or `undefined` if none came before `deadline` (epoch ms). */
  wait(requestId: string, deadline: number): Promise<JobResult | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => {
          this.waiting.delete(requestId);
          resolve(undefined);
        },
        Math.max(0, deadline - Date.now()),
      );
      this.waiting.set(requestId, (result) => {
        clearTimeout(timer);
        resolve(result);
      });
    });
  }

  /** Stop waiting for a request (it failed before its job was queued). */
  forget(requestId: string): void {
    this.waiting.delete(requestId);
  }

  /** One result, or the results of a group job that were meant for this list. */
  private deliverMessage(text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'malformed reply dropped');
      return;
    }
    for (const wire of Array.isArray(message) ? (message as unknown[]) : [message]) {
      this.deliver(wire);
    }
  }

  private deliver(wire: unknown): void {
    let result: JobResult;
    try {
      result = decodeJobResult(wire);
    } catch (error) {
      // Its request times out; the others in the same message still get theirs.
      this.logger.warn({ err: (error as Error).message }, 'malformed reply dropped');
      return;
    }
    const wake = this.waiting.get(result.requestId);
    this.waiting.delete(result.requestId);
    wake?.(result);
  }

  private async listen(): Promise<void> {
    while (this.running) {
      try {
        const popped = await this.connection.blpop(this.key, 1);
        if (popped === null) continue;
        this.deliverMessage(popped[1]);
        // Under load more replies wait behind that one: take them in one round trip
        // rather than a BLPOP each (LPOP with a count: Redis 6.2+). The first reply
        // is already on its way: this costs it nothing.
        for (const text of (await this.connection.lpop(this.key, DRAIN)) ?? []) {
          this.deliverMessage(text);
        }
      } catch (error) {
        if (this.connection.status === 'end') return; // closed
        this.logger.warn({ err: (error as Error).message }, 'reply channel read failed; retrying');
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  async close(): Promise<void> {
    this.running = false;
    this.connection.disconnect();
    await this.loop;
  }
}
