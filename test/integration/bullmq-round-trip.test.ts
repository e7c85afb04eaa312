import { randomUUID } from 'node:crypto';
import {
  createTensor,
  decodeInputFn,
  decodeJobRequest,
  decodeJobResult,
  defineHandler,
  encodeJobRequest,
  encodeJobResult,
  encodeOutputFn,
  invokeHandler,
  isTensor,
  resolveHandler,
  toInferenceError,
  type Decoded,
  type JobResult,
  type RequestContext,
  type Tensor,
} from '@switchyard/handlers';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

// Doubles every value: small enough to check by eye, real enough to cross the wire.
const doubler = resolveHandler(
  defineHandler({
    modelFn: () => 2,
    predictFn: (input: Decoded, factor: number) => {
      if (!isTensor(input) || input.dtype !== 'float32')
        throw new Error('expected one float32 tensor');
      const t = input as Tensor<'float32'>;
      return createTensor(
        'float32',
        t.shape,
        t.data.map((x) => x * factor),
      );
    },
  }),
  { defaults: { inputFn: decodeInputFn, outputFn: encodeOutputFn } },
);

describe('BullMQ round trip on a private redis-server', () => {
  const redisUrl = inject('redisUrl');
  const queueName = `test-${randomUUID()}`;
  const replyTo = `switchyard:test:replies:${randomUUID()}`;
  let producer: Redis;
  let consumer: Redis;
  let replies: Redis;
  let queue: Queue;
  let worker: Worker;

  beforeAll(() => {
    producer = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    consumer = new Redis(redisUrl, { maxRetriesPerRequest: null });
    replies = new Redis(redisUrl, { maxRetriesPerRequest: null });
    queue = new Queue(queueName, { connection: producer });
    worker = new Worker(
      queueName,
      async (job) => {
        const request = decodeJobRequest(job.data);
        const context: RequestContext = {
          modelName: request.model,
          variant: request.variant,
          deviceId: undefined,
          logger: silent,
          requestId: request.requestId,
          customAttributes: request.customAttributes,
          deadline: request.deadline,
          batchSize: 1,
          signal: new AbortController().signal,
        };
        let result: JobResult;
        try {
          const out = await invokeHandler(doubler, 2, {
            body: request.body,
            contentType: request.contentType,
            accept: request.accept,
            context,
          });
          result = { ok: true, requestId: request.requestId, ...out };
        } catch (error) {
          result = { ok: false, requestId: request.requestId, error: toInferenceError(error) };
        }
        if (request.replyTo !== undefined) {
          await consumer.lpush(request.replyTo, JSON.stringify(encodeJobResult(result)));
        }
        return result.ok;
      },
      { connection: consumer.duplicate({ maxRetriesPerRequest: null }) },
    );
  });

  afterAll(async () => {
    await worker.close();
    await queue.obliterate({ force: true });
    await queue.close();
    await Promise.all([producer.quit(), consumer.quit(), replies.quit()]);
  });

  async function roundTrip(body: string, contentType: string, accept?: string): Promise<JobResult> {
    const requestId = randomUUID();
    const job = await queue.add(
      'invoke',
      encodeJobRequest({
        requestId,
        model: 'doubler',
        contentType,
        ...(accept === undefined ? {} : { accept }),
        body: new TextEncoder().encode(body),
        deadline: Date.now() + 10_000,
        enqueuedAt: Date.now(),
        replyTo,
      }),
    );
    const popped = await replies.blpop(replyTo, 10);
    expect(popped, 'no reply within 10 s').not.toBeNull();
    const result = decodeJobResult(JSON.parse(popped?.[1] ?? 'null'));
    expect(result.requestId).toBe(requestId);
    await expect.poll(() => job.getState()).toBe('completed');
    return result;
  }

  it('carries a request through the queue and the handler chain and back', async () => {
    const result = await roundTrip('[[1, 2], [3, 4.5]]', 'application/json', 'text/csv');
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.contentType).toBe('text/csv');
    expect(new TextDecoder().decode(result.body)).toBe('2,4\n6,9\n');
  });

  it('returns a bad request as an error with its code, not a crash', async () => {
    const result = await roundTrip('[[1, 2], [3]]', 'application/json');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.code).toBe('INVALID_INPUT');
    expect(result.error.status).toBe(400);
    expect(result.error.message).toContain('$[1]');
  });

  it('job data holds the body as base64, never as an array of numbers', async () => {
    const wire = encodeJobRequest({
      requestId: 'r1',
      model: 'doubler',
      contentType: 'application/octet-stream',
      body: new Uint8Array([0, 255, 7]),
      deadline: Date.now() + 1_000,
      enqueuedAt: Date.now(),
    });
    const job = await queue.add('shape-only', wire, { delay: 60_000 });
    const stored = await producer.hget(`bull:${queueName}:${job.id ?? ''}`, 'data');
    expect(JSON.parse(stored ?? '{}')).toMatchObject({ body: 'AP8H' });
    await job.remove();
  });
});
