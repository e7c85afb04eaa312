import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A private `redis-server` process for one test run. */
export interface RedisServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  /** @defaultValue `'redis-server'` from PATH */
  command?: string;
  /** How long to wait for the first PONG. @defaultValue 10 000 ms */
  readyTimeoutMs?: number;
  /** Listen here (to bring a stopped server back at the same address). @defaultValue a free port */
  port?: number;
  /** Turn the AOF on (`appendfsync everysec`), for a server that is restarted with its data. @defaultValue false */
  appendonly?: boolean;
  /** Keep the data here; the caller owns it (`stop()` leaves it). @defaultValue a temporary directory, deleted by `stop()` */
  dir?: string;
  /** How long `stop()` waits after SIGTERM before SIGKILL. @defaultValue 5 000 ms */
  killAfterMs?: number;
}

const MISSING_REDIS =
  'redis-server was not found on PATH. The integration tests start a private one on a free ' +
  'port. Install it (Debian/Ubuntu: `apt-get install redis-server`, macOS: `brew install redis`) ' +
  'or set REDIS_URL to a Redis the tests may write to.';

/** Ask the kernel for a free loopback port. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (typeof address === 'object' && address !== null) resolve(address.port);
        else reject(new Error('could not read the port of a probe socket'));
      });
    });
  });
}

/**
 * Start `redis-server` on a free loopback port with persistence off (unless
 * `appendonly`) and `noeviction` (as BullMQ requires), and wait until it answers PING.
 */
export async function startRedisServer(options: StartRedisOptions = {}): Promise<RedisServer> {
  const {
    command = 'redis-server',
    readyTimeoutMs = 10_000,
    appendonly = false,
    killAfterMs = 5_000,
  } = options;
  const port = options.port ?? (await freePort());
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'switchyard-redis-')));
  const child = spawn(
    command,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      appendonly ? 'yes' : 'no',
      ...(appendonly ? ['--appendfsync', 'everysec'] : []),
      '--maxmemory-policy',
      'noeviction',
      '--dir',
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const collect = (chunk: Buffer): void => {
    output += chunk.toString();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<Error>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      resolve(error.code === 'ENOENT' ? new Error(MISSING_REDIS) : error);
    });
    child.once('exit', (code, signal) => {
      resolve(
        new Error(`redis-server exited (${signal ?? String(code)}) before answering:\n${output}`),
      );
    });
  });
  const stop = async (): Promise<void> => {
    await stopProcess(child, killAfterMs);
    if (ownDir) await rm(dir, { recursive: true, force: true });
  };
  const outcome = await Promise.race([waitForPong(port, readyTimeoutMs), exited]);
  if (outcome instanceof Error) {
    await stop();
    throw outcome;
  }
  return { url: `redis://127.0.0.1:${port}`, port, stop };
}

async function stopProcess(child: ChildProcess, killAfterMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  await done;
  clearTimeout(timer);
}

/** Resolves `true` on the first `+PONG`; rejects after `timeoutMs`. */
async function waitForPong(port: number, timeoutMs: number): Promise<true> {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    if (await ping(port)) return true;
    if (Date.now() > giveUpAt) {
      throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const finish = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => {
      finish(false);
    });
    socket.once('error', () => {
      finish(false);
    });
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
    socket.once('connect', () => socket.write('PING\r\n'));
  });
}
