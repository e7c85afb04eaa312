import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Backend } from '../backends/backend.js';
import { resolveGatewayConfig } from '../config/load.js';
import { createApp } from './app.js';
import type { ModelState } from './model-registry.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

// Backends that answer at once, so that 10,000 requests measure routing alone.
const instant: Backend = {
  type: 'local',
  healthy: () => true,
  close: () => Promise.resolve(),
  runChunk: () => Promise.reject(new Error('not used here')),
  invoke: () =>
    Promise.resolve({
      ok: true,
      body: new TextEncoder().encode('[1]'),
      contentType: 'application/json',
    }),
};

function appWith(weights: Record<string, number>, adminKeySha256?: string[]) {
  const config = resolveGatewayConfig({
    models: {
      m: {
        stickyHeader: 'X-User-Id',
        variants: Object.fromEntries(
          Object.entries(weights).map(([name, weight]) => [
            name,
            { weight, backend: { type: 'local', model: 'unused' } },
          ]),
        ),
      },
    },
  });
  const modelConfig = config.models['m'];
  if (modelConfig === undefined) throw new Error('unreachable');
  const model: ModelState = {
    name: 'm',
    config: modelConfig,
    variants: new Map(
      Object.entries(weights).map(([name, weight]) => [name, { name, weight, backend: instant }]),
    ),
  };
  return createApp({
    models: new Map([['m', model]]),
    logger: silent,
    ...(adminKeySha256 === undefined ? {} : { adminKeySha256 }),
  });
}

async function variantOf(
  app: ReturnType<typeof appWith>,
  headers: Record<string, string> = {},
): Promise<string> {
  const response = await app.request('/endpoints/m/invocations', {
    method: 'POST',
    body: '[1]',
    headers: { 'Content-Type': 'application/json', ...headers },
  });
  return response.headers.get('x-amzn-invoked-production-variant') ?? '';
}

describe('routing through the gateway', () => {
  it('lands 10,000 requests on a 70/30 split within ±2 points', async () => {
    const app = appWith({ a: 70, b: 30 });
    let a = 0;
    for (let i = 0; i < 10_000; i++) if ((await variantOf(app)) === 'a') a++;
    expect(Math.abs(a / 10_000 - 0.7)).toBeLessThan(0.02);
  }, 60_000);

  it('keeps each sticky key on one variant until the weights change', async () => {
    const app = appWith({ a: 50, b: 50 });
    const first = new Map<string, string>();
    for (let i = 0; i < 200; i++)
      first.set(`user-${i}`, await variantOf(app, { 'X-User-Id': `user-${i}` }));
    for (const [user, variant] of first)
      expect(await variantOf(app, { 'X-User-Id': user })).toBe(variant);
    await app.request('/v1/models/m/weights', {
      method: 'PUT',
      body: JSON.stringify({ weights: { a: 100, b: 0 } }),
      headers: { 'Content-Type': 'application/json' },
    });
    for (const user of first.keys()) expect(await variantOf(app, { 'X-User-Id': user })).toBe('a');
  });
});

describe('admin routes', () => {
  const key = 'sy-admin-0123456789';
  const digest = createHash('sha256').update(key).digest('hex');
  const put = (app: ReturnType<typeof appWith>, headers: Record<string, string>) =>
    app.request('/v1/models/m/weights', {
      method: 'PUT',
      body: JSON.stringify({ weights: { a: 10 } }),
      headers: { 'Content-Type': 'application/json', ...headers },
    });

  it('need the admin key once keys are configured: 401 without it or with another', async () => {
    const app = appWith({ a: 50, b: 50 }, [digest]);
    const missing = await put(app, {});
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await missing.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    expect((await put(app, { Authorization: 'Bearer wrong-key' })).status).toBe(401);
    expect((await put(app, { Authorization: `Bearer ${key}` })).status).toBe(200);
  });

  it('are open without configured keys (the embedded default)', async () => {
    expect((await put(appWith({ a: 50, b: 50 }), {})).status).toBe(200);
  });
});
