import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import {
  closeRegistry,
  createApp,
  createModelRegistry,
  resolveGatewayConfig,
} from '@switchyard/gateway';
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

  it('answers 503 with Retry-After once a model has too many requests waiting', async () => {
    const waiting = Array.from({ length: 3 }, () => invoke('stuck'));
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
