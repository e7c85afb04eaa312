import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import {
  closeRegistry,
  createApp,
  createModelRegistry,
  resolveGatewayConfig,
} from '@switchyard/gateway';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { MODELS, startWorkerProcess, type WorkerProcess } from '../support/worker-process.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const ROWS = '5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5\n';

// This suite stops and restarts Redis, so it has a server of its own.
describe('gateway → Redis queue → worker', () => {
  let redis: RedisServer;
  let worker: WorkerProcess;
  let app: ReturnType<typeof createApp>;
  let models: Awaited<ReturnType<typeof createModelRegistry>>;
  const queue = `test-${randomUUID()}`;
  const idle = `test-idle-${randomUUID()}`;

  beforeAll(async () => {
    redis = await startRedisServer();
    worker = await startWorkerProcess(
      ['--model', join(MODELS, 'iris-v2'), '--queue', queue],
      redis.url,
    );
    const config = resolveGatewayConfig({
      redis: { url: redis.url },
      models: {
        iris: { variants: { v2: { weight: 1, backend: { type: 'queue', queue } } } },
        // No worker consumes this one: its queue only fills.
        stuck: {
          timeoutMs: 1_000,
          variants: { a: { weight: 1, backend: { type: 'queue', queue: idle, maxWaiting: 3 } } },
        },
      },
    });
    models = await createModelRegistry(config, silent);
    app = createApp({ models, logger: silent });
  });
  afterAll(async () => {
    worker.child.kill('SIGTERM');
    await worker.exited;
    await closeRegistry(models);
    await redis.stop();
  });

  const invoke = async (model: string): Promise<Response> =>
    app.request(`/endpoints/${model}/invocations`, {
      method: 'POST',
      body: ROWS,
      headers: { 'Content-Type': 'text/csv', Accept: 'application/json' },
    });

  it('answers through the queue with the variant it chose', async () => {
    const response = await invoke('iris');
    expect(response.status).toBe(200);
    expect(response.headers.get('x-amzn-invoked-production-variant')).toBe('v2');
    const rows = (await response.json()) as number[][];
    expect(rows.map((r) => r.indexOf(Math.max(...r)))).toEqual([0, 2]);
  });

  it('sends concurrent requests together in group jobs, each answered with its own rows', async () => {
    // 120 distinct two-row bodies at once: the first goes alone, the rest share jobs.
    const bodies = Array.from({ length: 120 }, (_, i) => {
      const a = (4.3 + (i % 36) / 10).toFixed(1);
      const b = (1 + (i % 59) / 10).toFixed(1);
      return `${a},3.0,${b},0.4\n${b},2.9,${a},1.8\n`;
    });
    const send = async (body: string): Promise<Response> =>
      app.request('/endpoints/iris/invocations', {
        method: 'POST',
        body,
        headers: { 'Content-Type': 'text/csv', Accept: 'application/json' },
      });
    const together = await Promise.all(bodies.map(send));
    const alone: Response[] = [];
    for (const body of bodies.slice(0, 20)) alone.push(await send(body));

    expect(together.map((r) => r.status)).toEqual(bodies.map(() => 200));
    const answers = await Promise.all(together.map((r) => r.json()));
    // Each request got the answer to its own rows: the same as when sent alone.
    for (const [i, response] of alone.entries()) expect(answers[i]).toEqual(await response.json());
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBeGreaterThan(60);

    const inspect = new Queue(queue, { connection: { url: redis.url } });
    try {
      const completed = await inspect.getJobs(['completed'], 0, -1);
      const groups = completed.filter((job) => job.name === 'invoke-group');
      expect(groups.length).toBeGreaterThan(0);
      const carried = groups.reduce(
        (n, job) => n + (job.data as { requests: unknown[] }).requests.length,
        0,
      );
      expect(carried).toBeGreaterThan(60);
    } finally {
      await inspect.close();
    }
  });

  it('answers 503 with Retry-After once a model has too many requests waiting', async () => {
    // One after another: each finds no add in flight and goes as a job of its own
    // (requests sent at the same moment would share one group job).
    const waiting: Promise<Response>[] = [];
    for (let i = 0; i < 3; i++) {
      waiting.push(invoke('stuck'));
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 300)); // let the waiting count refresh
    const refused = await invoke('stuck');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    // Those that waited get 504 at their deadline, not a hang.
    for (const r of await Promise.all(waiting)) expect(r.status).toBe(504);
  });

  it('fails fast with 503 while Redis is down, and recovers when it is back', async () => {
    await redis.stop();
    const started = performance.now();
    const responses = await Promise.all(Array.from({ length: 5 }, () => invoke('iris')));
    expect(performance.now() - started).toBeLessThan(2_000);
    for (const r of responses) {
      expect(r.status).toBe(503);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('UNAVAILABLE');
    }
    expect((await app.request('/health/ready')).status).toBe(503);

    redis = await startRedisServer({ port: redis.port });
    await expect
      .poll(async () => (await invoke('iris')).status, { timeout: 30_000, interval: 250 })
      .toBe(200);
    expect((await app.request('/health/ready')).status).toBe(200);
  });
});
