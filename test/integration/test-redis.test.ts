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
    const after = new Redis(server.url, {
      maxRetriesPerRequest: 0,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    after.on('error', () => undefined);
    await expect(after.connect()).rejects.toThrow(/ECONNREFUSED/);
    after.disconnect();
  });

  it('says how to install redis-server when it is missing', async () => {
    await expect(startRedisServer({ command: 'redis-server-not-installed' })).rejects.toThrow(
      /redis-server was not found on PATH.*apt-get install redis-server.*REDIS_URL/s,
    );
  });
});
