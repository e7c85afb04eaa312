import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import {
  closeRegistry,
  createApp,
  createModelRegistry,
  resolveGatewayConfig,
  startPolicies,
  type ModelRegistry,
  type Policies,
} from '@switchyard/gateway';
import type { HandlerLogger } from '@switchyard/handlers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { MODELS } from '../support/worker-process.js';

const sha256 = (key: string) => createHash('sha256').update(key).digest('hex');
const ROW = '5.1,3.5,1.4,0.2';
const local = (model: string) => ({
  weight: 1,
  backend: { type: 'local', model: join(MODELS, model) },
});

/** Everything the gateway logs, to check that no key ever reaches a log. */
function recordingLogger(): { lines: string[]; logger: HandlerLogger } {
  const lines: string[] = [];
  const log =
    (level: string) =>
    (fields: object | string, message?: string): void => {
      lines.push(
        JSON.stringify(
          typeof fields === 'string' ? { level, msg: fields } : { level, ...fields, msg: message },
        ),
      );
    };
  return {
    lines,
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
  };
}

interface Gateway {
  readonly request: (path: string, init?: RequestInit) => Promise<Response>;
  close(): Promise<void>;
}

async function gateway(raw: Record<string, unknown>, logger = recordingLogger().logger) {
  const config = resolveGatewayConfig({
    models: {
      iris: { variants: { v1: local('iris-v1') } },
      other: { variants: { v2: local('iris-v2') } },
    },
    ...raw,
  });
  const models: ModelRegistry = await createModelRegistry(config, logger);
  const policies: Policies = startPolicies(config, logger);
  const app = createApp({
    models,
    logger,
    keys: policies.keys,
    limiter: policies.limiter,
    rateLimits: policies.rateLimits,
  });
  const result: Gateway = {
    request: async (path, init) => app.request(path, init),
    async close() {
      await policies.close();
      await closeRegistry(models);
    },
  };
  return result;
}

const invoke = (g: Gateway, model: string, key?: string, route: 'plain' | 'sagemaker' = 'plain') =>
  g.request(route === 'plain' ? `/v1/models/${model}/invoke` : `/endpoints/${model}/invocations`, {
    method: 'POST',
    body: ROW,
    headers: {
      'Content-Type': 'text/csv',
      ...(key === undefined ? {} : { Authorization: `Bearer ${key}` }),
    },
  });
const codeOf = async (response: Response) =>
  ((await response.json()) as { error: { code: string; message: string } }).error;

describe('API keys', () => {
  const admin = `admin-${randomUUID()}`;
  const team = `team-${randomUUID()}`;
  const logs = recordingLogger();
  let g: Gateway;

  beforeAll(async () => {
    g = await gateway(
      {
        auth: {
          keys: [
            { id: 'ops', sha256: sha256(admin), admin: true },
            { id: 'team-a', sha256: sha256(team), models: ['iris'] },
          ],
        },
      },
      logs.logger,
    );
  });
  afterAll(async () => {
    await g.close();
  });

  it('answers 401 without a key or with an unknown one, on both routes', async () => {
    const missing = await invoke(g, 'iris');
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    expect((await codeOf(missing)).code).toBe('UNAUTHORIZED');
    const unknown = await invoke(g, 'iris', 'not-a-key', 'sagemaker');
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get('x-amzn-errortype')).toBe('UnrecognizedClientException');
    expect((await codeOf(unknown)).message).toMatch(/unknown or revoked/);
  });

  it('lets a key call its models, and answers 403 for the others', async () => {
    expect((await invoke(g, 'iris', team)).status).toBe(200);
    const other = await invoke(g, 'other', team);
    expect(other.status).toBe(403);
    expect(await codeOf(other)).toMatchObject({
      code: 'FORBIDDEN',
      message: 'key "team-a" may not use model "other"',
    });
    expect((await invoke(g, 'other', admin)).status).toBe(200);
    // The model list shows what the key may use.
    const list = (await (
      await g.request('/v1/models', { headers: { Authorization: `Bearer ${team}` } })
    ).json()) as { models: { name: string }[] };
    expect(list.models.map((m) => m.name)).toEqual(['iris']);
  });

  it('keeps admin routes for admin keys', async () => {
    const put = (key: string) =>
      g.request('/v1/models/iris/weights', {
        method: 'PUT',
        body: JSON.stringify({ weights: { v1: 2 } }),
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
      });
    expect((await put(team)).status).toBe(403);
    expect((await put(admin)).status).toBe(200);
  });

  it('keeps probes open', async () => {
    expect((await g.request('/ping')).status).toBe(200);
    expect((await g.request('/health/ready')).status).toBe(200);
  });

  it('adds and revokes keys at run time, shows them without secrets, and never logs a key', async () => {
    const auth = { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' };
    const created = await g.request('/v1/admin/keys', {
      method: 'POST',
      body: JSON.stringify({ id: 'team-b', models: ['other'] }),
      headers: auth,
    });
    expect(created.status).toBe(201);
    const { key } = (await created.json()) as { key: string };
    expect((await invoke(g, 'other', key)).status).toBe(200);
    expect((await invoke(g, 'iris', key)).status).toBe(403);

    const listed = await (await g.request('/v1/admin/keys', { headers: auth })).text();
    expect(JSON.parse(listed)).toMatchObject({
      keys: [
        { id: 'ops', admin: true, source: 'config' },
        { id: 'team-a', models: ['iris'], source: 'config' },
        { id: 'team-b', models: ['other'], admin: false, source: 'api' },
      ],
    });
    for (const secret of [key, admin, team, sha256(key), sha256(admin)]) {
      expect(listed).not.toContain(secret);
    }
    const again = await g.request('/v1/admin/keys', {
      method: 'POST',
      body: JSON.stringify({ id: 'team-b' }),
      headers: auth,
    });
    expect(again.status).toBe(409);
    const asTeam = await g.request('/v1/admin/keys', {
      method: 'POST',
      body: JSON.stringify({ id: 'sneaky', admin: true }),
      headers: { ...auth, Authorization: `Bearer ${team}` },
    });
    expect(asTeam.status).toBe(403);

    const revoked = await g.request('/v1/admin/keys/team-b', { method: 'DELETE', headers: auth });
    expect(revoked.status).toBe(204);
    expect((await invoke(g, 'other', key)).status).toBe(401);
    expect(
      (await g.request('/v1/admin/keys/team-b', { method: 'DELETE', headers: auth })).status,
    ).toBe(404);
    expect(
      (await g.request('/v1/admin/keys/ops', { method: 'DELETE', headers: auth })).status,
    ).toBe(409);

    // One structured line per request, with what an operator filters on.
    const invocation = logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l['msg'] === 'invocation' && l['model'] === 'other');
    expect(invocation).toMatchObject({
      level: 'info',
      model: 'other',
      variant: 'v2',
      backend: 'local',
      status: 200,
    });
    expect(typeof invocation?.['requestId']).toBe('string');
    expect(typeof invocation?.['ms']).toBe('number');
    const everything = logs.lines.join('\n');
    expect(everything).not.toContain(ROW); // no bodies
    for (const secret of [key, admin, team]) expect(everything).not.toContain(secret);
    expect(everything).toContain('"keyId":"team-b"');
  });
});

describe('API keys in the embedded default', () => {
  it('are off until the first key, which must be an admin key, is added', async () => {
    const g = await gateway({});
    try {
      expect((await invoke(g, 'iris')).status).toBe(200);
      const json = { 'Content-Type': 'application/json' };
      const plain = await g.request('/v1/admin/keys', {
        method: 'POST',
        body: JSON.stringify({ id: 'first' }),
        headers: json,
      });
      expect(plain.status).toBe(400);
      expect((await codeOf(plain)).message).toMatch(/first key must be an admin key/);
      const created = await g.request('/v1/admin/keys', {
        method: 'POST',
        body: JSON.stringify({ id: 'root', admin: true }),
        headers: json,
      });
      expect(created.status).toBe(201);
      const { key } = (await created.json()) as { key: string };
      expect(key).toMatch(/^sy_/);
      expect((await invoke(g, 'iris')).status).toBe(401);
      expect((await invoke(g, 'iris', key)).status).toBe(200);
    } finally {
      await g.close();
    }
  });
});

describe('headers on every answer', () => {
  it('carries security headers and the request id, taken from the caller when given', async () => {
    const g = await gateway({});
    try {
      const answer = await g.request('/v1/models/iris/invoke', {
        method: 'POST',
        body: ROW,
        headers: { 'Content-Type': 'text/csv', 'X-Request-Id': 'trace-me-123' },
      });
      expect(answer.headers.get('x-request-id')).toBe('trace-me-123');
      expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
      expect(answer.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      const error = await g.request('/v1/models/nope/invoke', { method: 'POST', body: ROW });
      expect(error.status).toBe(404);
      expect(error.headers.get('x-request-id')).toMatch(/\S{8,}/);
      expect(error.headers.get('x-content-type-options')).toBe('nosniff');
    } finally {
      await g.close();
    }
  });
});

// Two replicas sharing one Redis (its own server: the last test stops it).
describe('rate limits and keys across replicas', () => {
  let redis: RedisServer;
  const admin = `admin-${randomUUID()}`;
  const slow = `slow-${randomUUID()}`;
  const fast = `fast-${randomUUID()}`;
  let a: Gateway;
  let b: Gateway;

  beforeAll(async () => {
    redis = await startRedisServer();
    const raw = {
      redis: { url: redis.url, namespace: `rl-${randomUUID()}` },
      auth: {
        keys: [
          { id: 'ops', sha256: sha256(admin), admin: true },
          { id: 'slow', sha256: sha256(slow), rateLimit: { rps: 0.5, burst: 2 } },
          { id: 'fast', sha256: sha256(fast) },
        ],
      },
      rateLimits: { models: { other: { rps: 1, burst: 4 } } },
    };
    a = await gateway(raw);
    b = await gateway(raw);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await redis.stop();
  });

  it('shares a model limit between replicas: 429 with Retry-After past the burst', async () => {
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => invoke(i % 2 === 0 ? a : b, 'other', fast)),
    );
    const ok = answers.filter((r) => r.status === 200).length;
    // A burst of 4, and at most one more token refilled while they ran.
    expect(ok).toBeGreaterThanOrEqual(4);
    expect(ok).toBeLessThanOrEqual(5);
    const refused = answers.filter((r) => r.status === 429);
    expect(refused).toHaveLength(10 - ok);
    for (const r of refused) {
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect((await codeOf(r)).message).toMatch(/model "other"/);
    }
    // Another model is not held back.
    expect((await invoke(a, 'iris', fast)).status).toBe(200);
  });

  it('limits a key by its own rate, and not the others', async () => {
    const answers = [];
    for (let i = 0; i < 4; i++)
      answers.push((await invoke(i % 2 === 0 ? a : b, 'iris', slow)).status);
    expect(answers).toEqual([200, 200, 429, 429]);
    expect((await invoke(b, 'iris', fast)).status).toBe(200);
  });

  it('sees a key added on one replica from the other, and its revocation within a second', async () => {
    const auth = { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' };
    const created = await a.request('/v1/admin/keys', {
      method: 'POST',
      body: JSON.stringify({ id: `k-${randomUUID().slice(0, 8)}`, models: ['iris'] }),
      headers: auth,
    });
    const { key, id } = (await created.json()) as { key: string; id: string };
    expect((await invoke(b, 'iris', key)).status).toBe(200);
    expect(
      (await a.request(`/v1/admin/keys/${id}`, { method: 'DELETE', headers: auth })).status,
    ).toBe(204);
    const deadline = Date.now() + 1500;
    let status = (await invoke(b, 'iris', key)).status;
    while (status === 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await invoke(b, 'iris', key)).status;
    }
    expect(status).toBe(401);
  });

  it('holds limits per replica while Redis is down, never refusing for Redis alone', async () => {
    await redis.stop();
    // Configured keys need no Redis; each replica now has its own bucket of 4.
    const answers = [];
    for (let i = 0; i < 8; i++) answers.push((await invoke(a, 'other', fast)).status);
    expect(answers.filter((s) => s >= 500)).toEqual([]);
    expect(answers.slice(0, 4)).toEqual([200, 200, 200, 200]);
    expect(answers.filter((s) => s === 429).length).toBeGreaterThanOrEqual(3);
    expect((await invoke(b, 'other', fast)).status).toBe(200);
  });
});
