// The gateway's added latency over calling the backend directly, in one run:
//   node packages/gateway/bench/latency.mjs   (after pnpm build; pnpm bench runs it)
// One client, sequential requests (a 2-row CSV to iris-v1), against (a) a worker's
// SageMaker container server and (b) the gateway in front of the same kind of
// in-process worker runtime. Both over real HTTP on loopback.
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { serveSageMaker, startModelHost } from '@switchyard/worker';
import {
  closeRegistry,
  createApp,
  createModelRegistry,
  resolveGatewayConfig,
} from '../dist/index.js';

const MODEL = fileURLToPath(new URL('../../../examples/models/iris-v1', import.meta.url));
const N = Number(process.env['BENCH_REQUESTS'] ?? 3000);
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const body = '5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5\n';

async function measure(url) {
  const times = [];
  for (let i = 0; i < N + 200; i++) {
    const start = performance.now();
    const response = await fetch(url, {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'text/csv', Accept: 'application/json' },
    });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`status ${response.status}`);
    if (i >= 200) times.push(performance.now() - start); // the first 200 warm up
  }
  times.sort((a, b) => a - b);
  const at = (q) => Number(times[Math.floor(times.length * q)].toFixed(3));
  return { p50Ms: at(0.5), p99Ms: at(0.99) };
}

const host = await startModelHost({
  modelDir: MODEL,
  modelName: 'iris',
  logger: silent,
  batching: { maxBatchSize: 1 },
});
const direct = await serveSageMaker({ host, port: 0, logger: silent });
const directFigures = await measure(`http://127.0.0.1:${direct.port}/invocations`);
await direct.close();
await host.close();

const models = await createModelRegistry(
  resolveGatewayConfig({
    models: {
      iris: {
        variants: { v1: { weight: 1, backend: { type: 'local', model: MODEL, maxBatchSize: 1 } } },
      },
    },
  }),
  silent,
);
const app = createApp({ models, logger: silent });
const port = await new Promise((resolve) => {
  const server = serve({ fetch: app.fetch, port: 0 }, (info) => resolve([info.port, server]));
});
const gatewayFigures = await measure(`http://127.0.0.1:${port[0]}/endpoints/iris/invocations`);
port[1].close();
await closeRegistry(models);

console.log(
  JSON.stringify(
    {
      requests: N,
      direct: directFigures,
      gateway: gatewayFigures,
      addedP50Ms: Number((gatewayFigures.p50Ms - directFigures.p50Ms).toFixed(3)),
      addedP99Ms: Number((gatewayFigures.p99Ms - directFigures.p99Ms).toFixed(3)),
    },
    null,
    2,
  ),
);
