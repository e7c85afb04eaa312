// Deployments: how long a deployed variant takes to be in service (PUT to
// InService) on a multi-model worker (queue) and in the gateway (local), and what
// a request costs on a multi-model worker when its model is loaded (warm) and when
// it must be loaded again after being unloaded to make room (cold), against the
// same request on a single-model worker.
//
//   pnpm build && node bench/deploy.mjs
import { MODELS, log, startGateway, startRedis, startWorker } from './lib/stack.mjs';

const ROUNDS = Number(process.env['BENCH_DEPLOY_ROUNDS'] ?? 5);
const REQUESTS = Number(process.env['BENCH_DEPLOY_REQUESTS'] ?? 200);

const redis = await startRedis();
const namespace = 'bench-deploy';
// A budget that holds one iris model at a time: alternating two unloads one each time.
const [single, pool] = await Promise.all([
  startWorker({ redisUrl: redis.url, model: 'iris-v2', queue: 'bench-single' }),
  startWorker({
    redisUrl: redis.url,
    flags: [
      '--namespace',
      namespace,
      '--pool',
      'bench',
      '--memory-budget-mb',
      String(1000 / 1024 ** 2),
    ],
  }),
]);
const gateway = await startGateway({
  redis: { url: redis.url, namespace },
  models: {
    single: { variants: { a: { weight: 1, backend: { type: 'queue', queue: 'bench-single' } } } },
  },
});
const call = (path, init) => fetch(`${gateway.url}${path}`, init);
const send = (path, body, method = 'PUT') =>
  call(path, {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const percentile = (xs, p) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * p)];

try {
  const invoke = async (model) => {
    const started = performance.now();
    const response = await call(`/endpoints/${model}/invocations`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/csv' },
      body: '5.1,3.5,1.4,0.2',
    });
    if (response.status !== 200)
      throw new Error(`${model}: ${response.status} ${await response.text()}`);
    await response.arrayBuffer();
    return performance.now() - started;
  };
  const timed = async (models, n) => {
    for (let i = 0; i < 20; i++) await invoke(models[0]);
    const ms = [];
    for (let i = 0; i < n; i++) ms.push(await invoke(models[i % models.length]));
    return ms;
  };
  // Before anything is deployed: the gateway alone, as configured.
  const before = await timed(['single'], REQUESTS);
  const inService = { queue: [], local: [] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const type of ['queue', 'local']) {
      const name = `${type}-${i}`;
      await send('/v1/admin/models', { name }, 'POST');
      const started = performance.now();
      await send(`/v1/admin/models/${name}/variants/main`, {
        backend: type === 'queue' ? { type, pool: 'bench' } : { type },
        modelData: `${MODELS}/${i % 2 === 0 ? 'iris-v2' : 'iris-v1'}`,
      });
      for (;;) {
        const view = await (await call(`/v1/admin/models/${name}/variants/main`)).json();
        if (view.state === 'Failed') throw new Error(`${name} failed: ${view.reason}`);
        if (view.state === 'InService') break;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      inService[type].push(performance.now() - started);
    }
  }
  const singleMs = await timed(['single'], REQUESTS);
  const warmMs = await timed(['queue-0'], REQUESTS);
  const coldMs = await timed(['queue-0', 'queue-1'], Math.min(REQUESTS, 40));
  const row = (what, xs) =>
    `| ${what} | ${median(xs).toFixed(2)} | ${percentile(xs, 0.9).toFixed(2)} |`;
  console.log(
    `PUT → InService (ms, median of ${ROUNDS}): queue ${median(inService.queue).toFixed(0)}, local ${median(inService.local).toFixed(0)}`,
  );
  console.log('| request, one client | p50 ms | p90 ms |\n|---|---|---|');
  console.log(row('single-model worker, before any deployment', before));
  console.log(row('single-model worker', singleMs));
  console.log(row('multi-model worker, model loaded', warmMs));
  console.log(row('multi-model worker, model loaded again after an unload', coldMs));
} finally {
  await gateway.stop();
  await Promise.all([single.stop(), pool.stop()]);
  await redis.stop();
  log('done');
}
