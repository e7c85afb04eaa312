import { randomUUID } from 'node:crypto';
import {
  closeRegistry,
  createApp,
  createModelRegistry,
  resolveGatewayConfig,
  startWeightSync,
  type WeightSync,
} from '@switchyard/gateway';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

describe('weights shared by gateway replicas through Redis', () => {
  const redisUrl = inject('redisUrl');
  // A model name of its own, so that stored weights from other runs cannot leak in.
  const model = `split-${randomUUID()}`;
  const config = resolveGatewayConfig({
    redis: { url: redisUrl },
    models: {
      [model]: {
        stickyHeader: 'X-User-Id',
        variants: {
          a: { weight: 70, backend: { type: 'queue', queue: `test-${randomUUID()}` } },
          b: { weight: 30, backend: { type: 'queue', queue: `test-${randomUUID()}` } },
        },
      },
    },
  });
  const replicas: { app: ReturnType<typeof createApp>; close: () => Promise<void> }[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      const models = await createModelRegistry(config, silent);
      const weights: WeightSync = await startWeightSync(models, redisUrl, silent);
      replicas.push({
        app: createApp({ models, logger: silent, weights }),
        close: async () => {
          await weights.close();
          await closeRegistry(models);
        },
      });
    }
  });
  afterAll(async () => {
    for (const r of replicas) await r.close();
  });

  const weightsOf = async (app: ReturnType<typeof createApp>) => {
    const detail = (await (await app.request(`/v1/models/${model}`)).json()) as {
      variants: { name: string; weight: number }[];
    };
    return Object.fromEntries(detail.variants.map((v) => [v.name, v.weight]));
  };

  it('reaches a second gateway within a second of the admin call', async () => {
    const [first, second] = replicas;
    if (first === undefined || second === undefined) throw new Error('two replicas expected');
    expect(await weightsOf(second.app)).toEqual({ a: 70, b: 30 });
    const changed = await first.app.request(`/v1/models/${model}/weights`, {
      method: 'PUT',
      body: JSON.stringify({ weights: { a: 20, b: 80 } }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(changed.status).toBe(200);
    const started = performance.now();
    await expect
      .poll(() => weightsOf(second.app), { timeout: 1_000, interval: 20 })
      .toEqual({ a: 20, b: 80 });
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('is picked up by a gateway that starts later', async () => {
    const models = await createModelRegistry(config, silent);
    const weights = await startWeightSync(models, redisUrl, silent);
    try {
      expect(await weightsOf(createApp({ models, logger: silent, weights }))).toEqual({
        a: 20,
        b: 80,
      });
    } finally {
      await weights.close();
      await closeRegistry(models);
    }
  });
});
