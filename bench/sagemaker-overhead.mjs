// Gateway overhead on the SageMaker path, in one run:
//   node bench/sagemaker-overhead.mjs   (after pnpm build)
// The real AWS SDK (InvokeEndpointCommand) calls a SageMaker InvokeEndpoint emulator
// (bench/lib/sagemaker-emulator.mjs) in front of a model container (the worker's
// SageMaker server, iris-v1), (a) directly and (b) through the gateway, whose model
// has one `sagemaker` variant pointing at the same emulator. Sequential requests
// (1 client) and 16 concurrent clients, 2-row CSV; the two paths alternate round by
// round so that drift on a shared machine hits both alike.
// Env: BENCH_REQUESTS (per path and round), BENCH_ROUNDS (5), BENCH_QUICK=1 (~10 s).
// Progress goes to stderr; the last line of stdout is one JSON object.
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { serve } from '@hono/node-server';
import {
  closeRegistry,
  createApp,
  createModelRegistry,
  resolveGatewayConfig,
} from '@switchyard/gateway';
import { serveSageMaker, startModelHost } from '@switchyard/worker';
import { startSageMakerEmulator } from './lib/sagemaker-emulator.mjs';

const MODEL = fileURLToPath(new URL('../examples/models/iris-v1', import.meta.url));
const QUICK = process.env['BENCH_QUICK'] === '1';
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? (QUICK ? 2 : 5));
const REQUESTS = Number(process.env['BENCH_REQUESTS'] ?? (QUICK ? 300 : 1500));
const WARMUP = QUICK ? 200 : 500;
const CONCURRENCY = 16;
const REGION = 'us-east-1';
const ENDPOINT_NAME = 'iris-endpoint';
const BODY = new TextEncoder().encode('5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5\n');
const BATCHING = { maxBatchSize: 32, maxDelayMs: 0 };
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const log = (...args) => console.error(...args);
const round3 = (x) => Number(x.toFixed(3));

// Both the gateway's own SDK client and the benchmark's find these.
process.env['AWS_ACCESS_KEY_ID'] = 'bench';
process.env['AWS_SECRET_ACCESS_KEY'] = 'bench';
process.env['AWS_REGION'] = REGION;

/**
 * One SDK client per path, configured alike: the SDK's default NodeHttpHandler
 * (an http.Agent with keepAlive: true, maxSockets: 50, as @smithy/node-http-handler
 * 4.x creates it), no retries (an error must show, not be retried away).
 */
function sdkClient(endpoint) {
  return new SageMakerRuntimeClient({
    region: REGION,
    endpoint,
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    maxAttempts: 1,
  });
}

async function invoke(path, check = false) {
  const output = await path.client.send(
    new InvokeEndpointCommand({
      EndpointName: path.endpointName,
      Body: BODY,
      ContentType: 'text/csv',
      Accept: 'application/json',
    }),
  );
  if (output.Body === undefined || output.Body.byteLength === 0) {
    throw new Error(`${path.name}: empty answer`);
  }
  if (check) {
    const rows = JSON.parse(new TextDecoder().decode(output.Body));
    if (!Array.isArray(rows) || rows.length !== 2) {
      throw new Error(`${path.name}: unexpected answer ${JSON.stringify(rows)}`);
    }
    if (
      output.ContentType !== 'application/json' ||
      output.InvokedProductionVariant === undefined
    ) {
      throw new Error(`${path.name}: unexpected headers ${JSON.stringify(output)}`);
    }
  }
}

/** `count` requests from `clients` loops sharing one SDK client; latencies in ms. */
async function runBatch(path, count, clients) {
  const times = new Array(count);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < count) {
        const i = next++;
        const t0 = performance.now();
        await invoke(path);
        times[i] = performance.now() - t0;
      }
    }),
  );
  return { times, seconds: (performance.now() - started) / 1000 };
}

function summarize(times, seconds) {
  const sorted = Float64Array.from(times).sort();
  const at = (q) => round3(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]);
  return {
    requests: sorted.length,
    p50Ms: at(0.5),
    p90Ms: at(0.9),
    p99Ms: at(0.99),
    requestsPerSecond: Math.round(sorted.length / seconds),
  };
}

/** ROUNDS rounds of REQUESTS per path, the order of the paths flipping each round. */
async function compare(paths, clients) {
  const acc = new Map(paths.map((p) => [p.name, { times: [], seconds: 0, roundP50s: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? paths : [...paths].reverse();
    for (const path of order) {
      const { times, seconds } = await runBatch(path, REQUESTS, clients);
      const a = acc.get(path.name);
      a.times.push(...times);
      a.seconds += seconds;
      a.roundP50s.push(summarize(times, seconds).p50Ms);
    }
    log(
      `  ${clients} client(s), round ${round + 1}/${ROUNDS}: p50 ` +
        paths.map((p) => `${p.name} ${acc.get(p.name).roundP50s[round]} ms`).join(', '),
    );
  }
  const [direct, gateway] = paths.map((p) => {
    const a = acc.get(p.name);
    return { ...summarize(a.times, a.seconds), roundP50sMs: a.roundP50s };
  });
  return {
    clients,
    direct,
    gateway,
    addedP50Ms: round3(gateway.p50Ms - direct.p50Ms),
    addedP90Ms: round3(gateway.p90Ms - direct.p90Ms),
    addedP99Ms: round3(gateway.p99Ms - direct.p99Ms),
    addedP50MsPerRound: gateway.roundP50sMs.map((g, i) => round3(g - direct.roundP50sMs[i])),
    throughputRatio: round3(gateway.requestsPerSecond / direct.requestsPerSecond),
  };
}

const cleanup = [];
let failed = false;
try {
  log('starting the model container, the emulator and the gateway');
  const host = await startModelHost({
    modelDir: MODEL,
    modelName: 'iris',
    logger: silent,
    batching: BATCHING,
  });
  cleanup.push(() => host.close());
  const container = await serveSageMaker({ host, port: 0, logger: silent });
  cleanup.push(() => container.close());
  const emulator = await startSageMakerEmulator({ to: `http://127.0.0.1:${container.port}` });
  cleanup.push(() => emulator.close());

  const models = await createModelRegistry(
    resolveGatewayConfig({
      models: {
        iris: {
          variants: {
            sm: {
              weight: 1,
              backend: {
                type: 'sagemaker',
                endpointName: ENDPOINT_NAME,
                region: REGION,
                endpoint: emulator.url,
              },
            },
          },
        },
      },
    }),
    silent,
  );
  cleanup.push(() => closeRegistry(models));
  const app = createApp({ models, logger: silent });
  const gatewayUrl = await new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
      resolve(`http://127.0.0.1:${info.port}`),
    );
    cleanup.push(
      () =>
        new Promise((done) => {
          server.closeAllConnections?.();
          server.close(() => done());
        }),
    );
  });

  const paths = [
    { name: 'direct', client: sdkClient(emulator.url), endpointName: ENDPOINT_NAME },
    { name: 'gateway', client: sdkClient(gatewayUrl), endpointName: 'iris' },
  ];
  for (const p of paths) cleanup.push(() => p.client.destroy());

  for (const p of paths) await invoke(p, true);
  log(`warm-up: ${WARMUP} sequential and ${WARMUP} concurrent requests per path`);
  for (const p of paths) {
    await runBatch(p, WARMUP, 1);
    await runBatch(p, WARMUP, CONCURRENCY);
  }

  const started = performance.now();
  log(`sequential: ${ROUNDS} rounds × ${REQUESTS} requests per path`);
  const sequential = await compare(paths, 1);
  log(`concurrent: ${ROUNDS} rounds × ${REQUESTS} requests per path, ${CONCURRENCY} clients`);
  const concurrent = await compare(paths, CONCURRENCY);
  const seconds = (performance.now() - started) / 1000;

  log(
    `added by the gateway: p50 ${sequential.addedP50Ms} ms, p99 ${sequential.addedP99Ms} ms ` +
      `(sequential); p50 ${concurrent.addedP50Ms} ms, p99 ${concurrent.addedP99Ms} ms ` +
      `(${CONCURRENCY} clients); ${seconds.toFixed(1)} s measured`,
  );
  console.log(
    JSON.stringify({
      benchmark: 'sagemaker-overhead',
      machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version },
      settings: {
        model: 'examples/models/iris-v1',
        body: '2-row CSV (text/csv), Accept application/json',
        rounds: ROUNDS,
        requestsPerRoundPerPath: REQUESTS,
        warmupPerPath: { sequential: WARMUP, concurrent: WARMUP },
        concurrency: [1, CONCURRENCY],
        containerBatching: BATCHING,
        client:
          '@aws-sdk/client-sagemaker-runtime InvokeEndpointCommand, one client per path, ' +
          'default NodeHttpHandler (keepAlive, maxSockets 50), maxAttempts 1',
        gateway:
          'in-process createApp (silent logger, no metrics), @hono/node-server, ' +
          'one sagemaker variant → emulator',
        emulator: 'bench/lib/sagemaker-emulator.mjs, forward-only, keep-alive to the container',
        process: 'client, gateway, emulator and container share this process (model in a thread)',
        quick: QUICK,
      },
      sequential,
      concurrent,
      emulatorCalls: emulator.calls(),
      measuredSeconds: round3(seconds),
      goal: { addedP50MsAtMost: 1, met: sequential.addedP50Ms <= 1 },
    }),
  );
} catch (error) {
  failed = true;
  log(
    `sagemaker-overhead failed: ${error instanceof Error ? (error.stack ?? error.message) : error}`,
  );
} finally {
  for (const step of cleanup.reverse()) {
    try {
      await step();
    } catch (error) {
      log(`cleanup: ${error instanceof Error ? error.message : error}`);
    }
  }
}
process.exit(failed ? 1 : 0);
