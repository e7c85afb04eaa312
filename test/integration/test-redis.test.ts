import { createConnection } from 'node:net';
import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { startRedisServer } from '../support/redis-server.js';

describe('the test Redis', () => {
  it('is a private server, not the shared one on the default port', async () => {
    const url = new URL(inject('redisUrl'));
    if (process.env['REDIS_URL'] === undefined) expect(url.port).not.toBe('6379');
    const client = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 1 });
    try {
      expect(await client.ping()).toBe('PONG');
      expect(await client.config('GET', 'maxmemory-policy')).toEqual([
        'maxmemory-policy',
        'noeviction',
      ]);
    } finally {
      await client.quit();
    }
  });

  it('starts and stops a server of its own', async () => {
    const server = await startRedisServer();
    const client = new Redis(server.url, { maxRetriesPerRequest: 1, lazyConnect: true });
    try {
      await client.connect();
      expect(await client.ping()).toBe('PONG');
    } finally {
      client.disconnect();
      await server.stop();
    }
    // Stopped means stopped: nothing listens on its port any more.
    const refused = await new Promise<string | undefined>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port: server.port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(undefined);
      });
      socket.once('error', (error: NodeJS.ErrnoException) => {
        resolve(error.code);
      });
    });
    expect(refused).toBe('ECONNREFUSED');
  });

  it('says how to install redis-server when it is missing', async () => {
    await expect(startRedisServer({ command: 'redis-server-not-installed' })).rejects.toThrow(
      /redis-server was not found on PATH.*apt-get install redis-server.*REDIS_URL/s,
    );
  });
});
