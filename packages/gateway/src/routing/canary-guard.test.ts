import { InferenceError } from '@switchyard/handlers';
import { describe, expect, it } from 'vitest';
import type { Backend } from '../backends/backend.js';
import { resolveGatewayConfig } from '../config/load.js';
import { createApp } from '../http/app.js';
import type { ModelState } from '../http/model-registry.js';
import { CanaryGuard } from './canary-guard.js';

const options = {
  maxErrorRate: 0.2,
  maxP95Ms: 100,
  windowMs: 10_000,
  minRequests: 10,
  cooldownMs: 5_000,
};

describe('CanaryGuard', () => {
  it('trips on the error rate, stays out for the cool-down, then comes back fresh', () => {
    let now = 0;
    const trips: string[] = [];
    const guard = new CanaryGuard(
      options,
      (why) => trips.push(why),
      () => now,
    );
    for (let i = 0; i < 7; i++) guard.record({ ms: 5 });
    // Client errors are the caller's fault: they never count against a variant.
    for (let i = 0; i < 5; i++) guard.record({ code: 'INVALID_INPUT', ms: 5 });
    expect(guard.inRotation).toBe(true);
    // 3 failures in 15 is 20%, not over the bound; the 4th (4 in 16) is.
    for (let i = 0; i < 3; i++) guard.record({ code: 'MODEL_ERROR', ms: 5 });
    expect(guard.inRotation).toBe(true);
    guard.record({ code: 'UNAVAILABLE', ms: 5 });
    expect(guard.inRotation).toBe(false);
    expect(trips).toHaveLength(1);
    expect(trips[0]).toBe('error rate 25.0% over 20.0%');
    expect(guard.report()).toMatchObject({ state: 'out of rotation', trips: 1 });
    now = 4_999;
    expect(guard.inRotation).toBe(false);
    now = 5_000;
    expect(guard.inRotation).toBe(true);
    expect(guard.report()).toMatchObject({ state: 'in rotation', requests: 0 });
  });

  it('trips on p95 latency, and decides nothing below the minimum count', () => {
    let now = 0;
    const guard = new CanaryGuard(
      options,
      () => undefined,
      () => now,
    );
    for (let i = 0; i < 9; i++) guard.record({ ms: 500 });
    expect(guard.inRotation).toBe(true);
    guard.record({ ms: 500 });
    expect(guard.inRotation).toBe(false);
    expect(guard.report().until).toBe(new Date(5_000).toISOString());
    now = 20_000;
    // Old samples leave the window.
    for (let i = 0; i < 9; i++) guard.record({ ms: 5 });
    expect(guard.inRotation).toBe(true);
  });
});

describe('the canary guard in routing', () => {
  it('moves traffic off a failing variant and shows it in the model detail', async () => {
    const fake = (fail: boolean): Backend => ({
      type: 'local',
      healthy: () => true,
      close: () => Promise.resolve(),
      runChunk: () => Promise.reject(new Error('not used here')),
      invoke: () =>
        Promise.resolve(
          fail
            ? { ok: false, error: new InferenceError('MODEL_ERROR', 'broken').toJSON() }
            : { ok: true, body: new TextEncoder().encode('[1]'), contentType: 'application/json' },
        ),
    });
    const config = resolveGatewayConfig({
      models: {
        m: {
          variants: {
            good: { weight: 50, backend: { type: 'local', model: 'unused' } },
            bad: { weight: 50, backend: { type: 'local', model: 'unused' } },
          },
        },
      },
    });
    const modelConfig = config.models['m'];
    if (modelConfig === undefined) throw new Error('unreachable');
    const model: ModelState = {
      name: 'm',
      config: modelConfig,
      variants: new Map([
        ['good', { name: 'good', weight: 50, backend: fake(false) }],
        [
          'bad',
          {
            name: 'bad',
            weight: 50,
            backend: fake(true),
            guard: new CanaryGuard(
              {
                maxErrorRate: 0.1,
                maxP95Ms: 10_000,
                windowMs: 60_000,
                minRequests: 5,
                cooldownMs: 60_000,
              },
              () => undefined,
            ),
          },
        ],
      ]),
    };
    const app = createApp({
      models: new Map([['m', model]]),
      logger: { debug() {}, info() {}, warn() {}, error() {} },
    });
    const variants: string[] = [];
    for (let i = 0; i < 200; i++) {
      const response = await app.request('/v1/models/m/invoke', {
        method: 'POST',
        body: '[1]',
        headers: { 'Content-Type': 'application/json' },
      });
      variants.push(response.headers.get('x-amzn-invoked-production-variant') ?? '');
    }
    // At most the first handful reached "bad" before its guard tripped.
    expect(variants.filter((v) => v === 'bad').length).toBeLessThanOrEqual(5);
    expect(variants.slice(-100).every((v) => v === 'good')).toBe(true);
    const detail = (await (await app.request('/v1/models/m')).json()) as {
      variants: { name: string; guard: { state: string; trips: number } | null }[];
    };
    expect(detail.variants.find((v) => v.name === 'bad')?.guard).toMatchObject({
      state: 'out of rotation',
      trips: 1,
    });
    expect(detail.variants.find((v) => v.name === 'good')?.guard).toBeNull();
  });
});
