// Records/s of a batch job against requests/s of the synchronous path, same model,
// same gateway, same run:
//   node bench/batch-jobs.mjs   (after pnpm build; pnpm bench runs it)
// (a) embedded: `local` backend in the gateway process; (b) distributed: the gateway
// in this process, a private redis-server and one worker process. Sync: autocannon,
// 64 connections sending one-row JSON requests to `/v1/models/iris/invoke`. Batch: one
// job of BENCH_RECORDS (default 100,000) JSON Lines records of the same rows.
import { mkdtemp, rm } from 'node:fs/promises';
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
} from '@switchyard/gateway';
import { freePort, startRedis, startWorker } from './lib/stack.mjs';

const MODEL = fileURLToPath(new URL('../examples/models/iris-v1', import.meta.url));
const QUICK = process.env['BENCH_QUICK'] === '1';
const RECORDS = Number(process.env['BENCH_RECORDS'] ?? (QUICK ? 20_000 : 100_000));
const SYNC_SECONDS = Number(process.env['BENCH_SECONDS'] ?? (QUICK ? 3 : 10));
const CLIENTS = 64;
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const row = (i) =>
  `[[${(4.3 + (i % 36) / 10).toFixed(1)},3.1,${(1 + (i % 59) / 10).toFixed(1)},1.2]]`;

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

async function run(name, config) {
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

const redis = await startRedis();
const queue = `bench-${Date.now()}`;
try {
  const worker = await startWorker({ redisUrl: redis.url, model: 'iris-v1', queue });
  try {
    results.push(
      await run('distributed (Redis, 1 worker process)', {
        redis: { url: redis.url },
        storage: { url: join(dir, 'distributed') },
        models: { iris: { variants: { v1: { weight: 1, backend: { type: 'queue', queue } } } } },
      }),
    );
  } finally {
    await worker.stop();
  }
} finally {
  await redis.stop();
}
await rm(dir, { recursive: true, force: true });

const summary = {
  model: 'iris-v1',
  records: RECORDS,
  syncClients: CLIENTS,
  syncSeconds: SYNC_SECONDS,
  modes: results.map((r) => ({
    name: r.name,
    syncRequestsPerSecond: Math.round(r.sync),
    batchRecordsPerSecond: Math.round(r.batch.job),
    batchRecordsPerSecondWall: Math.round(r.batch.wall),
    ratio: Number((r.batch.job / r.sync).toFixed(1)),
  })),
};
for (const m of summary.modes) {
  console.error(
    `${m.name}: sync ${m.syncRequestsPerSecond}/s, batch ${m.batchRecordsPerSecond} records/s (${m.ratio}×)`,
  );
}
console.log(JSON.stringify(summary));
