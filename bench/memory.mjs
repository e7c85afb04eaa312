// Gateway and worker memory under sustained load, in one run:
//   node bench/memory.mjs   (after pnpm build; needs redis-server on PATH)
// A private redis-server, one worker process (iris-v1) and the gateway as its own
// process (`packages/gateway/dist/main.js --config FILE`, a `queue` backend, its
// default logging), then autocannon (32 connections) sends BENCH_MEMORY_REQUESTS
// (default 100,000; BENCH_QUICK=1: 10,000) one-row JSON requests to
// /v1/models/iris/invoke. Both processes' RSS (/proc/PID/status VmRSS) is sampled
// every second; warm-up is the first 10,000 requests (a tenth of a shorter run).
// The gateway runs with --trace-gc (its log gets a line per GC), so that its live heap
// after each full GC can be told apart from heap V8 merely keeps committed; the worker
// cannot (its model threads refuse such flags). Diagnosis: BENCH_MEMORY_KEEP_LOGS=1
// keeps the children's logs; BENCH_MEMORY_GATEWAY_NODE_ARGS replaces "--trace-gc".
// Progress goes to stderr; the last line of stdout is one JSON object.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MODEL = join(ROOT, 'examples/models/iris-v1');
const WORKER_CLI = join(ROOT, 'packages/worker/dist/cli.js');
const GATEWAY_MAIN = join(ROOT, 'packages/gateway/dist/main.js');
const QUICK = process.env['BENCH_QUICK'] === '1';
const REQUESTS = Number(process.env['BENCH_MEMORY_REQUESTS'] ?? (QUICK ? 10_000 : 100_000));
const WARMUP = Math.min(10_000, Math.floor(REQUESTS / 10));
const CONNECTIONS = 32;
const SAMPLE_MS = 1000;
const BODY = '[[5.1,3.5,1.4,0.2]]';
const GOAL_GROWTH_PCT = 10;
const KEEP_LOGS = process.env['BENCH_MEMORY_KEEP_LOGS'] === '1';
const NODE_ARGS = (process.env['BENCH_MEMORY_GATEWAY_NODE_ARGS'] ?? '--trace-gc')
  .split(' ')
  .filter(Boolean);
const log = (...args) => console.error(...args);
const round = (x, digits = 1) => Number(x.toFixed(digits));

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** VmRSS of a process in MB, or undefined once it is gone. */
function rssMb(pid, field = 'VmRSS') {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

/** A child whose stdout and stderr go to `logFile` (read back for readiness and errors). */
function startProcess(name, command, args, options, logFile) {
  const fd = openSync(logFile, 'w');
  const child = spawn(command, args, { ...options, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  let done = false;
  void exited.then(() => (done = true));
  const output = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  return {
    name,
    child,
    exited,
    output,
    running: () => !done,
    /** Polls the log until `pattern` matches; fails if the process exits first. */
    async waitFor(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = pattern.exec(output());
        if (found !== null) return found;
        if (done) throw new Error(`${name} exited before it was ready:\n${output().slice(-2000)}`);
        if (Date.now() > deadline) throw new Error(`${name}: not ready after ${timeoutMs} ms`);
        await sleep(100);
      }
    },
    /** SIGTERM, then SIGKILL after `graceMs`. */
    async stop(graceMs = 10_000) {
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function waitForPort(port, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await sleep(100);
  }
}

/** Least-squares slope of y over x. */
function slope(points) {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

function memoryFigures(samples, column, warmupSample, endSample, pid) {
  const afterWarmup = warmupSample[column];
  const end = endSample[column];
  const post = samples.filter((s) => s[1] >= WARMUP);
  return {
    rssAfterWarmupMb: round(afterWarmup),
    rssEndMb: round(end),
    rssPeakMb: round(Math.max(...samples.map((s) => s[column]))),
    rssPeakAfterWarmupMb: round(Math.max(...post.map((s) => s[column]))),
    kernelPeakRssMb: round(rssMb(pid, 'VmHWM') ?? NaN), // VmHWM, startup included
    growthAfterWarmupPct: round(((end - afterWarmup) / afterWarmup) * 100, 2),
    peakGrowthAfterWarmupPct: round(
      ((Math.max(...post.map((s) => s[column])) - afterWarmup) / afterWarmup) * 100,
      2,
    ),
    // Trend over all samples after warm-up (robust to where GC happens to be at the end).
    slopeMbPer10kRequests: round(slope(post.map((s) => [s[1], s[column]])) * 10_000, 3),
  };
}

/**
 * The gateway's full GCs from its --trace-gc lines, on the benchmark's clock:
 * [seconds, heap MB after]. `offsetS`: benchmark seconds at the process's start.
 */
function majorGcs(output, offsetS) {
  const gcs = [];
  const pattern = /\s(\d+(?:\.\d+)?) ms: Mark-Compact[^\d]*[\d.]+ \([\d.]+\) -> ([\d.]+) \(/g;
  for (const [, ms, after] of output.matchAll(pattern)) {
    gcs.push([round(Number(ms) / 1000 + offsetS, 2), Number(after)]);
  }
  return gcs;
}

function heapFigures(gcs, warmupS, endS) {
  const measured = gcs.filter(([t]) => t >= warmupS && t <= endS);
  if (measured.length === 0) return { note: 'no full GC after warm-up' };
  const [first] = measured;
  const last = measured[measured.length - 1];
  return {
    note:
      'V8 heap used right after each full GC (--trace-gc Mark-Compact); objects allocated ' +
      'during incremental marking count too, so it reads above the live heap when the heap is large',
    fullGcsAfterWarmup: measured.length,
    heapAfterFirstFullGcAfterWarmupMb: first[1],
    heapAfterLastFullGcMb: last[1],
    growthPct: round(((last[1] - first[1]) / first[1]) * 100, 2),
    seriesColumns: ['seconds', 'heapAfterFullGcMb'],
    series: gcs,
  };
}

const children = [];
const dir = await mkdtemp(join(tmpdir(), 'switchyard-memory-'));
let failed = false;
let interrupted = false;
const cleanup = async () => {
  for (const child of [...children].reverse()) {
    try {
      await child.stop();
    } catch (error) {
      log(`cleanup ${child.name}: ${error instanceof Error ? error.message : error}`);
    }
  }
  children.length = 0;
  if (KEEP_LOGS) log(`logs kept in ${dir}`);
  else await rm(dir, { recursive: true, force: true });
};
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    interrupted = true;
    log(`${signal}: stopping the children`);
    void cleanup().then(() => process.exit(130));
  });
}

try {
  const redisPort = await freePort();
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const queue = `bench-memory-${Date.now()}`;
  log(`redis-server on ${redisPort}`);
  const redis = startProcess(
    'redis-server',
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { cwd: dir },
    join(dir, 'redis.log'),
  );
  children.push(redis);
  await waitForPort(redisPort);

  log('worker process');
  const worker = startProcess(
    'worker',
    process.execPath,
    [WORKER_CLI, '--model', MODEL, '--queue', queue, '--metrics-port', '0'],
    { cwd: dir, env: { ...process.env, REDIS_URL: redisUrl } },
    join(dir, 'worker.log'),
  );
  children.push(worker);
  await worker.waitFor(/"msg":"consuming"/);

  log('gateway process');
  const configFile = join(dir, 'gateway.json');
  const config = {
    server: { port: 0 },
    redis: { url: redisUrl },
    models: { iris: { variants: { v1: { weight: 1, backend: { type: 'queue', queue } } } } },
  };
  await writeFile(configFile, JSON.stringify(config));
  const gatewayStartedAt = performance.now();
  const gateway = startProcess(
    'gateway',
    process.execPath,
    [...NODE_ARGS, GATEWAY_MAIN, '--config', configFile],
    { cwd: dir, env: { ...process.env, PORT: '0' } },
    join(dir, 'gateway.log'),
  );
  children.push(gateway);
  const [, gatewayPort] = await gateway.waitFor(/"port":(\d+)[^\n]*"msg":"gateway ready"/);
  const url = `http://127.0.0.1:${gatewayPort}/v1/models/iris/invoke`;

  const probe = await fetch(url, {
    method: 'POST',
    body: BODY,
    headers: { 'content-type': 'application/json' },
  });
  const probeText = await probe.text();
  if (probe.status !== 200 || !Array.isArray(JSON.parse(probeText))) {
    throw new Error(`probe request: ${probe.status} ${probeText}`);
  }

  const pids = { gateway: gateway.child.pid, worker: worker.child.pid };
  const t0 = performance.now();
  let done = 0;
  /** [seconds, requests done, gateway RSS MB, worker RSS MB] */
  const samples = [];
  const sample = () => {
    const g = rssMb(pids.gateway);
    const w = rssMb(pids.worker);
    if (g === undefined || w === undefined) {
      throw new Error(`a process is gone (gateway ${g}, worker ${w})`);
    }
    const s = [round((performance.now() - t0) / 1000, 2), done, round(g, 2), round(w, 2)];
    samples.push(s);
    return s;
  };
  sample();
  let warmupSample;
  let samplingError;
  let lastLog = 0;
  const timer = setInterval(() => {
    try {
      const s = sample();
      if (s[0] - lastLog >= 15) {
        lastLog = s[0];
        log(
          `  ${s[0].toFixed(0)} s: ${done}/${REQUESTS} requests, gateway ${s[2].toFixed(1)} MB, ` +
            `worker ${s[3].toFixed(1)} MB`,
        );
      }
    } catch (error) {
      samplingError = error;
    }
  }, SAMPLE_MS);

  log(`load: ${REQUESTS} requests, ${CONNECTIONS} connections, warm-up ${WARMUP}`);
  let result;
  let endSample;
  try {
    result = await new Promise((resolve, reject) => {
      const instance = autocannon(
        {
          url,
          connections: CONNECTIONS,
          amount: REQUESTS,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: BODY,
          timeout: 30,
        },
        (error, res) => (error ? reject(error) : resolve(res)),
      );
      instance.on('response', () => {
        done++;
        if (done === WARMUP) {
          try {
            warmupSample = sample();
          } catch (error) {
            samplingError = error;
          }
        }
        if (done === REQUESTS) endSample = sample();
      });
    });
  } finally {
    clearInterval(timer);
  }
  endSample ??= sample();
  const seconds = (performance.now() - t0) / 1000;
  if (samplingError !== undefined) throw samplingError;
  if (warmupSample === undefined) throw new Error(`only ${done} answers: no warm-up mark`);

  const errors = result.errors + result.non2xx;
  const report = {
    benchmark: 'memory',
    machine: {
      cores: cpus().length,
      cpu: cpus()[0]?.model,
      memoryGb: round(totalmem() / 2 ** 30),
      node: process.version,
    },
    settings: {
      requests: REQUESTS,
      warmupRequests: WARMUP,
      connections: CONNECTIONS,
      sampleEveryMs: SAMPLE_MS,
      request: `POST /v1/models/iris/invoke, content-type application/json, body ${BODY}`,
      model: 'examples/models/iris-v1',
      gateway: 'node packages/gateway/dist/main.js --config FILE (own process, default logging)',
      gatewayConfig: { ...config, redis: { url: 'redis://127.0.0.1:PORT' } },
      worker:
        'node packages/worker/dist/cli.js --model examples/models/iris-v1 --queue Q --metrics-port 0',
      redis: "redis-server --save '' --appendonly no (private, this run only)",
      loadGenerator: 'autocannon 9 in the benchmark process',
      gatewayNodeArgs: NODE_ARGS,
      quick: QUICK,
    },
    requests: {
      sent: result.requests.sent,
      answered: done,
      ok: result['2xx'],
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      perSecond: round(done / seconds),
      latencyP50Ms: result.latency.p50,
      latencyP99Ms: result.latency.p99,
      seconds: round(seconds),
    },
    gateway: {
      ...memoryFigures(samples, 2, warmupSample, endSample, pids.gateway),
      heapAfterFullGc: NODE_ARGS.includes('--trace-gc')
        ? heapFigures(
            majorGcs(gateway.output(), (gatewayStartedAt - t0) / 1000),
            warmupSample[0],
            endSample[0],
          )
        : { note: 'run without --trace-gc' },
    },
    worker: memoryFigures(samples, 3, warmupSample, endSample, pids.worker),
    goal: { maxGrowthAfterWarmupPct: GOAL_GROWTH_PCT },
    seriesColumns: ['seconds', 'requests', 'gatewayRssMb', 'workerRssMb'],
    series: samples,
  };
  report.goal.met =
    report.gateway.growthAfterWarmupPct <= GOAL_GROWTH_PCT &&
    report.worker.growthAfterWarmupPct <= GOAL_GROWTH_PCT;
  log(
    `${done} requests in ${seconds.toFixed(1)} s (${report.requests.perSecond}/s), ${errors} errors; ` +
      `gateway ${report.gateway.rssAfterWarmupMb} → ${report.gateway.rssEndMb} MB ` +
      `(${report.gateway.growthAfterWarmupPct}%), worker ${report.worker.rssAfterWarmupMb} → ` +
      `${report.worker.rssEndMb} MB (${report.worker.growthAfterWarmupPct}%)`,
  );
  if (errors > 0 || done < REQUESTS) {
    failed = true;
    log(`errors: ${result.errors} (timeouts ${result.timeouts}), non-2xx: ${result.non2xx}`);
    log(`gateway log tail:\n${gateway.output().slice(-1500)}`);
  }
  console.log(JSON.stringify(report));
} catch (error) {
  failed = true;
  log(
    `memory benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : error}`,
  );
  for (const child of children) log(`--- ${child.name} log tail:\n${child.output().slice(-1500)}`);
} finally {
  if (!interrupted) await cleanup();
}
if (!interrupted) process.exit(failed ? 1 : 0);
