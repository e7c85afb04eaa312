import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveGatewayConfig } from '../config/load.js';
import { createApp } from '../http/app.js';
import { closeRegistry, createModelRegistry, type ModelRegistry } from '../http/model-registry.js';
import type { ShadowReport } from './shadow.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

// Primary doubles a JSON number; the shadow agrees below 50, answers one more from
// 50 up (half of 0..99), fails on 13, and is slow.
const PRIMARY = `export const modelFn = () => null;
export const transformFn = (_m, body) => JSON.stringify(2 * JSON.parse(new TextDecoder().decode(body)));`;
const SHADOW = `export const modelFn = () => null;
export async function transformFn(_m, body) {
  await new Promise((r) => setTimeout(r, 150));
  const x = JSON.parse(new TextDecoder().decode(body));
  if (x === 13) throw new Error('shadow bug');
  return JSON.stringify(2 * x + (x >= 50 ? 1 : 0));
}`;

let dir: string;
let models: ModelRegistry;
let app: ReturnType<typeof createApp>;

async function modelDir(name: string, source: string): Promise<string> {
  const path = join(dir, name);
  await mkdir(join(path, 'code'), { recursive: true });
  await writeFile(join(path, 'code', 'inference.mjs'), source);
  return path;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-shadow-'));
  const config = resolveGatewayConfig({
    models: {
      m: {
        shadow: { variant: 'candidate', sampleRate: 1 },
        variants: {
          live: { weight: 1, backend: { type: 'local', model: await modelDir('live', PRIMARY) } },
          candidate: {
            weight: 0,
            backend: { type: 'local', model: await modelDir('candidate', SHADOW) },
          },
        },
      },
    },
  });
  models = await createModelRegistry(config, silent);
  app = createApp({ models, logger: silent });
});
afterAll(async () => {
  await closeRegistry(models);
  await rm(dir, { recursive: true, force: true });
});

const invoke = async (x: number): Promise<Response> =>
  app.request('/v1/models/m/invoke', {
    method: 'POST',
    body: String(x),
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
  });

describe('shadow traffic', () => {
  it('never changes or delays the primary answer, and scores the shadow', async () => {
    const latencies: number[] = [];
    for (let x = 0; x < 100; x++) {
      const started = performance.now();
      const response = await invoke(x);
      latencies.push(performance.now() - started);
      expect(response.status).toBe(200);
      expect(response.headers.get('x-amzn-invoked-production-variant')).toBe('live');
      expect(await response.json()).toBe(2 * x);
    }
    latencies.sort((a, b) => a - b);

    // The shadow takes 150 ms a call; the primary's median stays far below it.
    expect(latencies[50]).toBeLessThan(50);

    const report = async () =>
      ((await (await app.request('/v1/models/m')).json()) as { shadow: ShadowReport }).shadow;
    await expect
      .poll(async () => (await report()).requests - (await report()).errors, { timeout: 20_000 })
      .toBe(99);
    await expect
      .poll(
        async () => {
          const r = await report();
          return r.errors + Math.round((r.exactMatchRate ?? 0) * 99);
        },
        { timeout: 20_000 },
      )
      .toBe(1 + 49); // one failure, and 0..49 but 13 agreeing
    const final = await report();
    expect(final).toMatchObject({
      variant: 'candidate',
      sampleRate: 1,
      requests: 100,
      errors: 1,
      maxAbsDiff: 1,
    });
    // 0..49 agree (minus the failing 13), 50..99 differ by one.
    expect(final.exactMatchRate).toBeCloseTo(49 / 99, 5);
    expect(final.p50LatencyMs).toBeGreaterThan(140);
  }, 60_000);
});
