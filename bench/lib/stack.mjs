// Processes for the queue benchmarks: a private redis-server, worker processes and
// gateway processes, each started from the built packages and stopped at the end.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const MODELS = join(ROOT, 'examples/models');
const WORKER_CLI = join(ROOT, 'packages/worker/dist/cli.js');
const GATEWAY_MAIN = join(ROOT, 'packages/gateway/dist/main.js');

export const log = (...parts) => console.error(...parts);

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function until(check, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what} did not start within ${timeoutMs} ms`);
}

function exited(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

async function stop(child, signal = 'SIGTERM') {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = exited(child);
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await done;
  clearTimeout(timer);
}

/** `redis-server` on a free port, persistence off. */
export async function startRedis() {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-bench-redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { cwd: dir, stdio: 'ignore' },
  );
  const pong = () =>
    new Promise((resolve) => {
      const socket = createConnection(port, '127.0.0.1');
      socket.once('error', () => resolve(false));
      socket.once('connect', () => socket.write('PING\r\n'));
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString().startsWith('+PONG'));
      });
    });
  await until(pong, 'redis-server');
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      await stop(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A process that logs JSON lines; resolves once a line matches `ready`. */
async function startLogged(args, env, ready, what) {
  // BENCH_NODE_FLAGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) go to every process.
  const flags = (process.env['BENCH_NODE_FLAGS'] ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...flags, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (chunk) => {
    output += chunk.toString();
    if (output.length > 1_000_000) output = output.slice(-100_000);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  let match;
  await until(
    () => {
      if (child.exitCode !== null) throw new Error(`${what} exited early:\n${output}`);
      match = ready.exec(output);
      return match !== null;
    },
    what,
    60_000,
  );
  return { child, match, output: () => output, stop: () => stop(child) };
}

/**
 * `switchyard-worker` consuming `queue`, with extra CLI flags; without a model, a
 * multi-model worker (its pool and budget among the flags).
 */
export async function startWorker({ redisUrl, model, queue, flags = [] }) {
  const serves = model === undefined ? [] : ['--model', join(MODELS, model), '--queue', queue];
  const worker = await startLogged(
    [WORKER_CLI, ...serves, '--metrics-port', '0', ...flags],
    { REDIS_URL: redisUrl, LOG_LEVEL: 'info' },
    /"msg":"(?:consuming|worker ready|queue consumer started)[^"]*"/,
    'worker',
  );
  return { pid: worker.child.pid, stop: worker.stop, output: worker.output };
}

/** `switchyard-gateway` with `config` (its port chosen by the system). */
export async function startGateway(config) {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-bench-gateway-'));
  const file = join(dir, 'gateway.json');
  await writeFile(
    file,
    JSON.stringify({ storage: { url: join(dir, 'storage') }, ...config, server: { port: 0 } }),
  );
  const gateway = await startLogged(
    [GATEWAY_MAIN, '--config', file],
    { PORT: '0', LOG_LEVEL: 'warn' },
    /"port":(\d+)[^\n]*"msg":"gateway ready"/,
    'gateway',
  );
  return {
    url: `http://127.0.0.1:${gateway.match[1]}`,
    pid: gateway.child.pid,
    output: gateway.output,
    async stop() {
      await gateway.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A plain Node script as a process that prints `listening <port>` when ready. */
export async function startScript(script, env) {
  const started = await startLogged([script], env, /listening (\d+)/, script);
  return {
    url: `http://127.0.0.1:${started.match[1]}`,
    pid: started.child.pid,
    stop: started.stop,
  };
}

export const machine = async () => {
  const os = await import('node:os');
  return {
    cores: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
  };
};
