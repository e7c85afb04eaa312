// The queue path end to end: HTTP client → gateway process → Redis → worker process.
//   node bench/queue.mjs [light|heavy]   (after pnpm build; `pnpm bench` runs both)
// light: iris-v1 requests/s and latency at 1, 16, 64 and 256 clients, against a naive
//   baseline in the same run (one BullMQ job per request awaited with
//   job.waitUntilFinished, worker batching off); the two alternate level by level.
// heavy: the 6.3 M-weight MLP at 64 clients with the worker's batching off and on,
//   against onnxruntime-node alone in this process at its best batch size.
// Prints one JSON object as the last line of stdout.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createTensor, encode } from '@switchyard/handlers';
import ort from 'onnxruntime-node';
import { closedLoop } from './lib/load.mjs';
import {
  log,
  machine,
  MODELS,
  startGateway,
  startRedis,
  startScript,
  startWorker,
} from './lib/stack.mjs';

const QUICK = process.env['BENCH_QUICK'] === '1';
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? (QUICK ? 2 : 5));
const LEVELS = (process.env['BENCH_CLIENTS'] ?? '1,16,64,256').split(',').map(Number);
const NAIVE = new URL('./lib/naive-gateway.mjs', import.meta.url).pathname;
const which = process.argv[2] ?? 'light';

/** Starts everything `fn` needs and stops it afterwards, whatever happens. */
async function withStack(start, fn) {
  const stops = [];
  try {
    return await fn(await start((stop) => stops.push(stop)));
  } finally {
    for (const stop of stops.reverse()) await stop().catch((e) => log(`stop: ${e.message}`));
  }
}

async function light() {
  const body = Buffer.from('[[5.1,3.5,1.4,0.2]]');
  const headers = { 'content-type': 'application/json' };
  return withStack(
    async (onStop) => {
      const redis = await startRedis();
      onStop(() => redis.stop());
      const ours = `bench-${randomUUID()}`;
      const naive = `naive-${randomUUID()}`;
      const worker = await startWorker({ redisUrl: redis.url, model: 'iris-v1', queue: ours });
      onStop(() => worker.stop());
      const naiveWorker = await startWorker({
        redisUrl: redis.url,
        model: 'iris-v1',
        queue: naive,
        flags: ['--max-batch-size', '1', '--concurrency', '64'],
      });
      onStop(() => naiveWorker.stop());
      const gateway = await startGateway({
        redis: { url: redis.url },
        models: {
          iris: { variants: { v1: { weight: 1, backend: { type: 'queue', queue: ours } } } },
        },
      });
      onStop(() => gateway.stop());
      const baseline = await startScript(NAIVE, { REDIS_URL: redis.url, QUEUE: naive });
      onStop(() => baseline.stop());
      return { gateway, baseline };
    },
    async ({ gateway, baseline }) => {
      const urls = {
        switchyard: `${gateway.url}/v1/models/iris/invoke`,
        naive: `${baseline.url}/`,
      };
      const run = (system, clients, seconds = SECONDS) =>
        closedLoop({ url: urls[system], body, headers, clients, seconds });
      // Both systems warm up (JIT, connections, Redis scripts) before anything counts.
      await run('naive', 64, 3);
      await run('switchyard', 64, 3);
      const rows = [];
      for (const clients of LEVELS) {
        // Two runs each, in A B B A order, so drift on a shared machine hits both alike.
        const runs = { switchyard: [], naive: [] };
        for (const system of ['naive', 'switchyard', 'switchyard', 'naive']) {
          runs[system].push(await run(system, clients));
        }
        const mean = (list) => ({
          clients,
          seconds: list.reduce((t, r) => t + r.seconds, 0),
          requests: list.reduce((t, r) => t + r.requests, 0),
          requestsPerSecond: Math.round(
            list.reduce((t, r) => t + r.requestsPerSecond, 0) / list.length,
          ),
          p50Ms: Math.round((list.reduce((t, r) => t + r.p50Ms, 0) / list.length) * 1000) / 1000,
          p90Ms: Math.round((list.reduce((t, r) => t + r.p90Ms, 0) / list.length) * 1000) / 1000,
          p99Ms: Math.round((list.reduce((t, r) => t + r.p99Ms, 0) / list.length) * 1000) / 1000,
          errors: list.reduce((t, r) => t + r.errors, 0),
          runs: list,
        });
        const switchyard = mean(runs.switchyard);
        const naive = mean(runs.naive);
        log(
          `iris, ${clients} clients: switchyard ${switchyard.requestsPerSecond}/s p50 ${switchyard.p50Ms} ms; ` +
            `naive ${naive.requestsPerSecond}/s p50 ${naive.p50Ms} ms`,
        );
        rows.push({ clients, switchyard, naive });
      }
      return { model: 'iris-v1', seconds: SECONDS, body: body.toString(), levels: rows };
    },
  );
}

async function physicalLimit(modelFile) {
  const session = await ort.InferenceSession.create(modelFile);
  let best = { batch: 0, itemsPerSecond: 0 };
  const tried = [];
  for (const batch of [1, 16, 32, 64, 128, 256]) {
    const input = new ort.Tensor('float32', new Float32Array(batch * 512).fill(0.01), [batch, 512]);
    await session.run({ input });
    let items = 0;
    const start = performance.now();
    while (performance.now() - start < (QUICK ? 500 : 2000)) {
      await session.run({ input });
      items += batch;
    }
    const itemsPerSecond = Math.round(items / ((performance.now() - start) / 1000));
    tried.push({ batch, itemsPerSecond });
    if (itemsPerSecond > best.itemsPerSecond) best = { batch, itemsPerSecond };
  }
  await session.release();
  return { ...best, tried };
}

async function heavy() {
  const clients = 64;
  const npy = (rows) =>
    Buffer.from(
      encode(
        createTensor('float32', [rows, 512], new Float32Array(rows * 512).fill(0.01)),
        'application/x-npy',
      ).body,
    );
  const headers = { 'content-type': 'application/x-npy', accept: 'application/x-npy' };
  const inProcess = await physicalLimit(join(MODELS, 'heavy', 'model.onnx'));
  log(`heavy, onnxruntime alone: ${inProcess.itemsPerSecond} items/s at batch ${inProcess.batch}`);
  const endToEnd = async (flags, rows = 1) =>
    withStack(
      async (onStop) => {
        const redis = await startRedis();
        onStop(() => redis.stop());
        const queue = `heavy-${randomUUID()}`;
        const worker = await startWorker({ redisUrl: redis.url, model: 'heavy', queue, flags });
        onStop(() => worker.stop());
        const gateway = await startGateway({
          redis: { url: redis.url },
          models: { heavy: { variants: { v1: { weight: 1, backend: { type: 'queue', queue } } } } },
        });
        onStop(() => gateway.stop());
        return gateway;
      },
      async (gateway) => {
        const result = await closedLoop({
          url: `${gateway.url}/v1/models/heavy/invoke`,
          body: npy(rows),
          headers,
          clients,
          seconds: SECONDS * 2,
          warmupSeconds: 2,
        });
        return { ...result, rowsPerRequest: rows, itemsPerSecond: result.requestsPerSecond * rows };
      },
    );
  const batchingOff = await endToEnd(['--max-batch-size', '1', '--concurrency', '64']);
  log(`heavy, end to end, batching off: ${batchingOff.itemsPerSecond} items/s`);
  const batchingOn = await endToEnd(['--max-batch-size', '64', '--concurrency', '128']);
  log(`heavy, end to end, batching on: ${batchingOn.itemsPerSecond} items/s`);
  // The same path with 32-row requests: the per-request cost (HTTP, Redis, the
  // handler chain) spread over 32 items.
  const largeRequests = await endToEnd(['--max-batch-size', '256', '--concurrency', '128'], 32);
  log(`heavy, end to end, batching on, 32-row requests: ${largeRequests.itemsPerSecond} items/s`);
  return { model: 'heavy', clients, inProcess, batchingOff, batchingOn, largeRequests };
}

const result = {
  machine: await machine(),
  ...(which === 'heavy' ? { heavy: await heavy() } : { light: await light() }),
};
console.log(JSON.stringify(result));
