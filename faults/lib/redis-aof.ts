import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedisServer, type StartRedisOptions } from '../../test/support/redis-server.js';

/**
 * A private `redis-server` with AOF on, in a directory of its own, that can be
 * stopped and started again on the same port with the same data (the test/support
 * helper, given `appendonly` and a directory it does not delete).
 */
export interface AofRedis {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Stop it (SIGTERM: Redis writes and syncs the AOF, then exits). */
  stop(): Promise<void>;
  /** Start it again on the same port and directory; resolves on the first PONG. */
  start(): Promise<void>;
  /** Stop it and delete its directory. */
  close(): Promise<void>;
}

export async function startAofRedis(): Promise<AofRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-faults-redis-'));
  const options: StartRedisOptions = {
    appendonly: true,
    dir,
    readyTimeoutMs: 15_000,
    killAfterMs: 10_000,
  };
  let server = await startRedisServer(options);
  const { url, port } = server;
  return {
    url,
    port,
    dir,
    stop: () => server.stop(),
    async start() {
      server = await startRedisServer({ ...options, port });
    },
    async close() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
