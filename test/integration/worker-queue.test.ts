import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import {
  createTensor,
  decodeJobResult,
  encode,
  encodeJobGroup,
  JOB_GROUP_NAME,
  type JobResult,
} from '@switchyard/handlers';
import { createModelRuntime } from '@switchyard/worker';
import { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { createQueueClient, type QueueClient } from '../support/queue-client.js';
import { MODELS, startWorkerProcess } from '../support/worker-process.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const IRIS = [
  [5.1, 3.5, 1.4, 0.2],
  [7.0, 3.2, 4.7, 1.4],
  [6.3, 3.3, 6.0, 2.5],
  [5.8, 2.7, 5.1, 1.9],
];

/** `count` one-row requests for the heavy model, enqueued at once. */
function enqueueHeavyRows(client: QueueClient, count: number): Promise<JobResult>[] {
  const row = encode(
    createTensor('float32', [1, 512], new Float32Array(512).fill(0.02)),
    'application/x-npy',
  );
  return Array.from({ length: count }, () => client.invoke(row.body, row.contentType));
}

/** Start another worker, wait for every pending answer, stop it. */
async function drainWithSecondWorker(
  args: string[],
  redisUrl: string,
  pending: Promise<JobResult>[],
): Promise<JobResult[]> {
  const second = await startWorkerProcess(args, redisUrl);
  try {
    return await Promise.all(pending);
  } finally {
    second.child.kill('SIGTERM');
    await second.exited;
  }
}

function bytes(result: JobResult): Buffer {
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return Buffer.from(result.body);
}

describe('the worker on a real Redis queue', () => {
  const redisUrl = inject('redisUrl');

  it('batches 200 concurrent requests (mean batch > 4) and answers each as unbatched', async () => {
    const queue = `test-${randomUUID()}`;
    const worker = await startWorkerProcess(
      [
        '--model',
        join(MODELS, 'iris-v2'),
        '--queue',
        queue,
        '--max-batch-size',
        '32',
        '--max-delay-ms',
        '5',
      ],
      redisUrl,
    );
    const client = createQueueClient(redisUrl, queue);
    const reference = await createModelRuntime({
      modelDir: join(MODELS, 'iris-v2'),
      modelName: 'iris',
      logger: silent,
      batching: { maxBatchSize: 1 },
    });
    try {
      const bodies = Array.from({ length: 200 }, (_, i) =>
        (IRIS[i % IRIS.length] ?? []).map((x) => x + (i % 7) * 0.05).join(','),
      );
      const results = await Promise.all(
        bodies.map((b) => client.invoke(b, 'text/csv', { accept: 'application/x-npy' })),
      );
      const sizes = results.map((r) => r.timings?.batchSize ?? 0);
      expect(sizes.reduce((a, b) => a + b, 0) / sizes.length).toBeGreaterThan(4);
      // The worker's own figures agree, on its metrics endpoint.
      const ops = `http://127.0.0.1:${worker.metricsPort}`;
      expect((await fetch(`${ops}/health`)).status).toBe(200);
      const metrics = await (await fetch(`${ops}/metrics`)).text();
      expect(metrics).toMatch(/switchyard_worker_requests_total\{[^}]*outcome="ok"[^}]*\} 200/);
      expect(metrics).toMatch(/switchyard_worker_batch_size_count\{[^}]*\} 200/);
      // A client error is an answer, not a job failure: answered once, never retried.
      const bad = await client.invoke('1,2,3', 'text/csv', { attempts: 3 });
      expect(bad).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', status: 400 } });
      // The reply goes out just before the job is marked completed: wait for that.
      await expect
        .poll(async () => (await client.queue.getJob(bad.requestId))?.getState())
        .toBe('completed');
      const badJob = await client.queue.getJob(bad.requestId);
      // The result also stays on the job, for a gateway whose reply came late.
      expect(badJob?.returnvalue).toMatchObject({
        ok: false,
        requestId: bad.requestId,
        error: { code: 'INVALID_INPUT' },
      });
      expect(client.replies.get(bad.requestId)).toBe(1);
      for (const [i, result] of results.entries()) {
        const alone = await reference.invoke({
          requestId: `ref-${i}`,
          body: new TextEncoder().encode(bodies[i] ?? ''),
          contentType: 'text/csv',
          accept: 'application/x-npy',
          customAttributes: undefined,
          deadline: Date.now() + 10_000,
          enqueuedAt: Date.now(),
        });
        if (!alone.ok) throw new Error(alone.error.message);
        expect(bytes(result).equals(Buffer.from(alone.body)), `request ${i}`).toBe(true);
      }
    } finally {
      await reference.close();
      worker.child.kill('SIGTERM');
      await worker.exited;
      await client.close();
    }
  });

  it('loses no job when a worker is killed -9 in the middle of a batch', async () => {
    const queue = `test-${randomUUID()}`;
    const args = [
      '--model',
      join(MODELS, 'heavy'),
      '--queue',
      queue,
      '--max-batch-size',
      '64',
      '--lock-duration-ms',
      '2000',
      '--stalled-interval-ms',
      '1000',
      '--threads',
      '1',
    ];
    const first = await startWorkerProcess(args, redisUrl);
    const client = createQueueClient(redisUrl, queue);
    try {
      const pending = enqueueHeavyRows(client, 400);
      // Kill it while it holds active jobs: some answered, many not yet.
      await expect
        .poll(() => client.replies.size, { timeout: 20_000, interval: 5 })
        .toBeGreaterThan(0);
      expect(await client.queue.getActiveCount()).toBeGreaterThan(0);
      first.child.kill('SIGKILL');
      expect(await first.exited).toBe('SIGKILL');
      const answeredBeforeKill = client.replies.size;
      expect(answeredBeforeKill).toBeLessThan(400);
      const results = await drainWithSecondWorker(args, redisUrl, pending);
      expect(results.filter((r) => r.ok)).toHaveLength(400);
      expect(client.replies.size).toBe(400);
    } finally {
      await client.close();
    }
  });

  it('finishes every job it took when stopped with SIGTERM under load, and exits 0', async () => {
    const queue = `test-${randomUUID()}`;
    const args = [
      '--model',
      join(MODELS, 'heavy'),
      '--queue',
      queue,
      '--max-batch-size',
      '32',
      '--threads',
      '1',
    ];
    const worker = await startWorkerProcess(args, redisUrl);
    const client = createQueueClient(redisUrl, queue);
    try {
      const pending = enqueueHeavyRows(client, 300);
      await expect
        .poll(() => client.replies.size, { timeout: 20_000, interval: 5 })
        .toBeGreaterThan(0);
      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
      const jobs = await client.queue.getJobCounts('active', 'completed', 'waiting', 'failed');
      // Nothing left half-done: every job it took completed; the rest still wait.
      expect(jobs['active']).toBe(0);
      expect(jobs['failed']).toBe(0);
      expect((jobs['completed'] ?? 0) + (jobs['waiting'] ?? 0)).toBe(300);
      expect(worker.output()).toContain('"msg":"stopped"');
      // A second worker takes the rest; every request is answered exactly once.
      const results = await drainWithSecondWorker(args, redisUrl, pending);
      expect(results.every((r) => r.ok)).toBe(true);
      expect([...client.replies.values()].every((n) => n === 1)).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('answers a group job with one reply message per reply list, and fails a malformed one at once', async () => {
    const queue = `test-${randomUUID()}`;
    const worker = await startWorkerProcess(
      ['--model', join(MODELS, 'iris-v2'), '--queue', queue],
      redisUrl,
    );
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    const producer = new Queue(queue, { connection: redis.duplicate() });
    try {
      const lists = [`switchyard:test:a:${randomUUID()}`, `switchyard:test:b:${randomUUID()}`];
      const requests = IRIS.map((row, i) => ({
        requestId: `r${i}`,
        model: 'iris',
        contentType: 'text/csv',
        accept: 'application/json',
        body: new TextEncoder().encode(row.join(',')),
        deadline: Date.now() + 30_000,
        enqueuedAt: Date.now(),
        replyTo: lists[i % 2] ?? '',
      }));
      const job = await producer.add(JOB_GROUP_NAME, encodeJobGroup(requests), { attempts: 3 });
      await expect.poll(() => job.getState(), { timeout: 20_000 }).toBe('completed');
      for (const [k, list] of lists.entries()) {
        const messages = await redis.lrange(list, 0, -1);
        expect(messages).toHaveLength(1);
        const results = (JSON.parse(messages[0] ?? '[]') as unknown[]).map(decodeJobResult);
        expect(results.map((r) => r.requestId)).toEqual(
          requests.filter((_, i) => i % 2 === k).map((r) => r.requestId),
        );
        expect(results.every((r) => r.ok)).toBe(true);
      }
      // The job keeps every result, in order, for late look-ups.
      const done = await Job.fromId(producer, job.id ?? '');
      expect((done?.returnvalue as { requestId: string }[]).map((r) => r.requestId)).toEqual([
        'r0',
        'r1',
        'r2',
        'r3',
      ]);

      const broken = await producer.add(
        JOB_GROUP_NAME,
        { v: 1, requests: [{ requestId: 'x' }] },
        { attempts: 3 },
      );
      await expect.poll(() => broken.getState(), { timeout: 20_000 }).toBe('failed');
      const failed = await Job.fromId(producer, broken.id ?? '');
      expect(failed?.attemptsMade).toBe(1);
      expect(failed?.failedReason).toMatch(/^malformed job group: requests\.0\./);
    } finally {
      await producer.close();
      redis.disconnect();
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
  });
});
