// Heavy-model throughput with dynamic batching off and on, measured in one run:
//   node packages/worker/bench/batching.mjs   (after pnpm build; pnpm bench runs it)
// 64 concurrent clients each send one-row NPY requests in a loop to a model
// thread (the worker's execution path, without Redis), first with
// maxBatchSize 1, then 64; plus onnxruntime alone at its best batch size.
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createTensor, encode } from '@switchyard/handlers';
import ort from 'onnxruntime-node';
import { startModelHost } from '../dist/index.js';

const MODEL = fileURLToPath(new URL('../../../examples/models/heavy', import.meta.url));
const CLIENTS = 64;
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const row = encode(
  createTensor('float32', [1, 512], new Float32Array(512).fill(0.01)),
  'application/x-npy',
);

async function throughput(maxBatchSize) {
  const host = await startModelHost({
    modelDir: MODEL,
    modelName: 'heavy',
    logger: silent,
    batching: { maxBatchSize, maxDelayMs: 2 },
    defaultAccept: 'application/x-npy',
  });
  let done = 0;
  let batchSum = 0;
  const latencies = [];
  const until = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < until) {
        const start = performance.now();
        const result = await host.invoke({
          requestId: 'bench',
          body: row.body.slice(),
          contentType: row.contentType,
          accept: undefined,
          customAttributes: undefined,
          deadline: Date.now() + 60_000,
          enqueuedAt: Date.now(),
        });
        if (!result.ok) throw new Error(result.error.message);
        latencies.push(performance.now() - start);
        batchSum += result.timings.batchSize;
        done++;
      }
    }),
  );
  await host.close();
  latencies.sort((a, b) => a - b);
  return {
    itemsPerSecond: Math.round(done / SECONDS),
    meanBatch: Number((batchSum / done).toFixed(1)),
    p50Ms: Number(latencies[Math.floor(latencies.length / 2)].toFixed(1)),
    p99Ms: Number(latencies[Math.floor(latencies.length * 0.99)].toFixed(1)),
  };
}

async function physicalLimit() {
  const session = await ort.InferenceSession.create(`${MODEL}/model.onnx`);
  let best = { batch: 0, itemsPerSecond: 0 };
  for (const batch of [1, 16, 64, 128, 256]) {
    const input = new ort.Tensor('float32', new Float32Array(batch * 512).fill(0.01), [batch, 512]);
    await session.run({ input });
    let items = 0;
    const start = performance.now();
    while (performance.now() - start < 1000) {
      await session.run({ input });
      items += batch;
    }
    const rate = Math.round(items / ((performance.now() - start) / 1000));
    if (rate > best.itemsPerSecond) best = { batch, itemsPerSecond: rate };
  }
  await session.release();
  return best;
}

const results = {
  machine: `${availableParallelism()} cores, Node ${process.version}`,
  clients: CLIENTS,
  seconds: SECONDS,
  onnxruntimeAlone: await physicalLimit(),
  batchingOff: await throughput(1),
  batchingOn: await throughput(64),
};
results.gain = Number(
  (results.batchingOn.itemsPerSecond / results.batchingOff.itemsPerSecond).toFixed(1),
);
console.log(JSON.stringify(results, null, 2));
