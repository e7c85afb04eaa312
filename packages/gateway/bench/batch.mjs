// Records/s of a batch job against requests/s of the synchronous path, same model,
// same gateway, same run:
//   node packages/gateway/bench/batch.mjs   (after pnpm build; pnpm bench runs it)
// (a) embedded: `local` backend in the gateway process; (b) distributed: the gateway
// in this process, a private redis-server and one worker process. Sync: autocannon,
// 64 connections sending one-row JSON requests to `/v1/models/iris/invoke`. Batch: one
// job of BENCH_RECORDS (default 100,000) JSON Lines records of the same rows.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import autocannon from 'autocannon';
import {
  closeRegistry,
  createApp,
  createModelRegistry,
  resolveGatewayConfig,
  startJobs,
} from '../dist/index.js';

const MODEL = fileURLToPath(new URL('../../../examples/models/iris-v1', import.meta.url));
const WORKER = fileURLToPath(new URL('../../worker/dist/cli.js', import.meta.url));
const RECORDS = Number(process.env['BENCH_RECORDS'] ?? 100_000);
const SYNC_SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const CLIENTS = 64;
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const row = (i) =>
  `[[${(4.3 + (i % 36) / 10).toFixed(1)},3.1,${(1 + (i % 59) / 10).toFixed(1)},1.2]]`;

async function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// autocannon keeps 64 connections busy at a fraction of fetch()'s cost per request,
// so the figure is the gateway's, not the load generator's.
async function syncRate(base, seconds = SYNC_SECONDS) {
  const result = await autocannon({
    url: `${base}/v1/models/iris/invoke`,
    connections: CLIENTS,
    duration: seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: row(0),
  });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`sync: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  }
  return result.requests.average;
}

async function batchRate(base) {
  const body = `${Array.from({ length: RECORDS }, (_, i) => row(i)).join('\n')}\n`;
  const started = performance.now();
  const created = await fetch(`${base}/v1/batch-jobs?model=iris`, {
    method: 'POST',
    body,
    headers: { 'Content-Type': 'application/jsonlines' },
  });
  if (created.status !== 201) throw new Error(`batch: ${created.status} ${await created.text()}`);
  const { id } = await created.json();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const status = await (await fetch(`${base}/v1/batch-jobs/${id}`)).json();
    if (status.state === 'completed') {
      if (status.records.done !== RECORDS) throw new Error(`batch: ${JSON.stringify(status)}`);
      return {
        job: status.recordsPerSecond,
        wall: RECORDS / ((performance.now() - started) / 1000),
      };
    }
    if (status.state !== 'running' && status.state !== 'queued') {
      throw new Error(`batch ended ${status.state}: ${status.reason}`);
    }
  }
}

async function run(name, config, setup = async () => undefined) {
  const teardown = await setup();
  const resolved = resolveGatewayConfig(config);
  const models = await createModelRegistry(resolved, silent);
  const jobs = startJobs(resolved, models, silent);
  const app = createApp({ models, logger: silent, jobs });
  const port = await freePort();
  const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' });
  const base = `http://127.0.0.1:${port}`;
  try {
    await syncRate(base, 2); // warm-up
    const sync = await syncRate(base);
    const batch = await batchRate(base);
    return { name, sync, batch };
  } finally {
    server.close();
    await jobs.close();
    await closeRegistry(models);
    await teardown?.();
  }
}

const dir = await mkdtemp(join(tmpdir(), 'switchyard-bench-'));
const results = [];
results.push(
  await run('embedded (local backend)', {
    storage: { url: join(dir, 'embedded') },
    models: {
      iris: { variants: { v1: { weight: 1, backend: { type: 'local', model: MODEL } } } },
    },
  }),
);

const redisPort = await freePort();
const queue = `bench-${Date.now()}`;
results.push(
  await run(
    'distributed (Redis, 1 worker process)',
    {
      redis: { url: `redis://127.0.0.1:${redisPort}` },
      storage: { url: join(dir, 'distributed') },
      models: { iris: { variants: { v1: { weight: 1, backend: { type: 'queue', queue } } } } },
    },
    async () => {
      const redis = spawn(
        'redis-server',
        ['--port', String(redisPort), '--save', '', '--appendonly', 'no'],
        {
          stdio: 'ignore',
        },
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      const worker = spawn(
        process.execPath,
        [WORKER, '--model', MODEL, '--queue', queue, '--metrics-port', '0'],
        {
          env: { ...process.env, REDIS_URL: `redis://127.0.0.1:${redisPort}`, LOG_LEVEL: 'warn' },
          stdio: ['ignore', 'ignore', 'inherit'],
        },
      );
      await new Promise((resolve) => setTimeout(resolve, 2000));
      return async () => {
        worker.kill('SIGTERM');
        await new Promise((resolve) => worker.once('exit', resolve));
        redis.kill('SIGTERM');
      };
    },
  ),
);
await rm(dir, { recursive: true, force: true });

console.log(
  `\nBatch job vs synchronous requests, iris-v1, ${RECORDS} records, ${CLIENTS} sync clients\n`,
);
console.log(
  '| mode | sync requests/s | batch records/s (job) | batch records/s (upload to done) | ratio |',
);
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const r of results) {
  console.log(
    `| ${r.name} | ${r.sync.toFixed(0)} | ${r.batch.job.toFixed(0)} | ${r.batch.wall.toFixed(0)} | ${(r.batch.job / r.sync).toFixed(1)}× |`,
  );
}
