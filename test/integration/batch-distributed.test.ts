import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { irisRows, syncAnswers, waitForBatch, type GatewayFetch } from '../support/batch.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { MODELS, startWorkerProcess, type WorkerProcess } from '../support/worker-process.js';

// Gateways and workers as separate processes over one Redis, killed with SIGKILL
// in the middle of a batch job: nothing of theirs survives but Redis and storage.
describe('a batch job across gateway and worker crashes', () => {
  let redis: RedisServer;
  let dir: string;
  const processes: (GatewayProcess | WorkerProcess)[] = [];
  const queue = `batch-${randomUUID()}`;
  // Dead gateways' and workers' locks expire within 2 s and are looked for every second.
  const config = () => ({
    redis: { url: redis.url },
    storage: { url: join(dir, 'store') },
    tasks: { lockDurationMs: 2_000, stalledIntervalMs: 1_000 },
    models: {
      iris: { variants: { v1: { weight: 1, backend: { type: 'queue', queue } } } },
    },
  });
  const worker = async () => {
    const started = await startWorkerProcess(
      [
        '--model',
        join(MODELS, 'iris-v1'),
        '--queue',
        queue,
        '--lock-duration-ms',
        '2000',
        '--stalled-interval-ms',
        '1000',
      ],
      redis.url,
    );
    processes.push(started);
    return started;
  };
  const gateway = async () => {
    const started = await startGatewayProcess(config(), dir);
    processes.push(started);
    return started;
  };
  const over =
    (g: GatewayProcess): GatewayFetch =>
    (path, init) =>
      fetch(g.url + path, init);

  beforeAll(async () => {
    redis = await startRedisServer();
    dir = await mkdtemp(join(tmpdir(), 'switchyard-batch-dist-'));
  });
  afterAll(async () => {
    for (const p of processes) p.child.kill('SIGKILL');
    await Promise.all(processes.map((p) => p.exited));
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('completes with every record exactly once after kill -9 of a worker and of the gateway, and a SIGTERM', async () => {
    const [first] = await Promise.all([worker(), worker()]);
    let front = await gateway();
    const inputs = irisRows(100_000).map((row) => JSON.stringify([row]));
    const created = await fetch(`${front.url}/v1/batch-jobs?model=iris&maxRecordsPerJob=250`, {
      method: 'POST',
      body: `${inputs.join('\n')}\n`,
      headers: { 'Content-Type': 'application/jsonlines' },
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };

    // A worker dies with chunks in hand; the other one carries on.
    await waitForBatch(over(front), id, 60_000, (s) => s.records.done >= 10_000);
    first.child.kill('SIGKILL');
    await first.exited;
    const before = await waitForBatch(over(front), id, 60_000, (s) => s.records.done >= 30_000);
    expect(before.state).toBe('running');

    // The gateway running the job dies; a new one takes the job over and a new worker joins.
    front.child.kill('SIGKILL');
    await front.exited;
    front = await gateway();
    await worker();
    await waitForBatch(over(front), id, 60_000, (s) => s.records.done >= 50_000);

    // A clean stop hands the job back at once (no lock to wait out): the gateway
    // exits 0 with the job unfinished, and the next one carries on.
    const stopping = front;
    stopping.child.kill('SIGTERM');
    expect(await stopping.exited).toBe(0);
    front = await gateway();
    const status = await waitForBatch(over(front), id, 150_000);
    expect(status.state).toBe('completed');
    expect(status.records).toEqual({ done: 100_000, failed: 0, total: 100_000 });

    const answers = await syncAnswers(over(front), inputs, {
      'Content-Type': 'application/json',
      Accept: 'application/json',
    });
    const output = (await (await fetch(`${front.url}/v1/batch-jobs/${id}/output`)).text())
      .split('\n')
      .slice(0, -1);
    expect(output).toHaveLength(100_000);
    expect(output.filter((line, i) => line !== answers.get(inputs[i] ?? ''))).toEqual([]);
    const errors = await (await fetch(`${front.url}/v1/batch-jobs/${id}/errors`)).text();
    expect(errors).toBe('');
    // Each new gateway took the job over where it was, not from the top.
    const resumed = (g: GatewayProcess) =>
      Number(/"chunksDone":(\d+)[^\n]*"msg":"batch job resumed"/.exec(g.output())?.[1]);
    expect(resumed(stopping)).toBeGreaterThanOrEqual(30_000 / 250);
    expect(resumed(front)).toBeGreaterThanOrEqual(50_000 / 250);
  }, 300_000);
});
