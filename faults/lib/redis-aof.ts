import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A private `redis-server` with AOF on, in a directory of its own, that can be
 * stopped and started again on the same port with the same data (the helper in
 * test/support runs without persistence and deletes its directory on stop).
 */
export interface AofRedis {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Whether the process runs now. */
  running(): boolean;
  /** Stop it (SIGTERM: Redis writes and syncs the AOF, then exits). */
  stop(): Promise<void>;
  /** Start it again on the same port and directory; resolves on the first PONG. */
  start(): Promise<void>;
  /** Stop it and delete its directory. */
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (typeof address === 'object' && address !== null) resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
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
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
    socket.once('connect', () => socket.write('PING\r\n'));
  });
}

export async function startAofRedis(): Promise<AofRedis> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-faults-redis-'));
  let child: ChildProcess | undefined;
  let output = '';

  const start = async (): Promise<void> => {
    output = '';
    const started = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'everysec',
        '--maxmemory-policy',
        'noeviction',
        '--dir',
        dir,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = started;
    const collect = (chunk: Buffer): void => {
      output += chunk.toString();
    };
    started.stdout.on('data', collect);
    started.stderr.on('data', collect);
    const giveUpAt = Date.now() + 15_000;
    for (;;) {
      if (started.exitCode !== null) throw new Error(`redis-server exited:\n${output}`);
      if (await ping(port)) return;
      if (Date.now() > giveUpAt) throw new Error(`redis-server did not answer PING:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  const stop = async (): Promise<void> => {
    const current = child;
    if (current === undefined || current.exitCode !== null || current.signalCode !== null) return;
    const done = new Promise<void>((resolve) =>
      current.once('exit', () => {
        resolve();
      }),
    );
    current.kill('SIGTERM');
    const timer = setTimeout(() => current.kill('SIGKILL'), 10_000);
    await done;
    clearTimeout(timer);
  };

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    stop,
    start,
    async close() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
