import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Backend, BackendResponse, QueueDepth } from './backends/backend.js';
import { resolveGatewayConfig } from './config/load.js';
import { createApp } from './http/app.js';
import type { ModelRegistry, ModelState, VariantState } from './http/model-registry.js';
import { startJobs } from './jobs/index.js';
import { createGatewayMetrics } from './metrics.js';
import { CanaryGuard } from './routing/canary-guard.js';
import { Shadow } from './routing/shadow.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** A backend answering `[1]` at once, MODEL_ERROR for the body `fail`. */
function fake(type: Backend['type'], depth?: () => Promise<QueueDepth | undefined>): Backend {
  return {
    type,
    healthy: () => true,
    close: () => Promise.resolve(),
    runChunk: () => Promise.reject(new Error('not used here')),
    invoke: (request): Promise<BackendResponse> =>
      Promise.resolve(
        new TextDecoder().decode(request.body) === 'fail'
          ? { ok: false, error: { code: 'MODEL_ERROR', message: 'the model failed' } }
          : { ok: true, body: new TextEncoder().encode('[1]'), contentType: 'application/json' },
      ),
    ...(depth === undefined ? {} : { depth }),
  };
}

/**
 * Model `m`: `a` (local, guarded, weight 3), `b` (queue, weight 1), `s` (shadow);
 * model `q`: queue variants whose Redis is down (`down`) or does not answer (`stuck`).
 */
function registry(): ModelRegistry {
  const config = resolveGatewayConfig({
    models: Object.fromEntries(
      ['m', 'q'].map((name) => [
        name,
        {
          contentTypes: ['application/json'],
          variants: { x: { weight: 1, backend: { type: 'local', model: 'unused' } } },
        },
      ]),
    ),
  });
  const variant = (name: string, weight: number, backend: Backend, guard?: CanaryGuard) =>
    [name, { name, weight, backend, ...(guard === undefined ? {} : { guard }) }] as const;
  const guard = new CanaryGuard(
    { maxErrorRate: 0.9, maxP95Ms: 60_000, windowMs: 60_000, minRequests: 100, cooldownMs: 1_000 },
    () => undefined,
  );
  const m: ModelState = {
    name: 'm',
    config: config.models['m'] ?? expect.unreachable(),
    variants: new Map<string, VariantState>([
      variant('a', 3, fake('local'), guard),
      variant(
        'b',
        1,
        fake('queue', () => Promise.resolve({ waiting: 4, prioritized: 2, active: 1 })),
      ),
      variant('s', 0, fake('local')),
    ]),
    shadow: new Shadow('s', 1, fake('local')),
  };
  const q: ModelState = {
    name: 'q',
    config: config.models['q'] ?? expect.unreachable(),
    variants: new Map<string, VariantState>([
      variant(
        'down',
        1,
        fake('queue', () => Promise.reject(new Error('Stream is not writeable'))),
      ),
      variant(
        'stuck',
        1,
        fake('queue', () => new Promise(() => undefined)),
      ),
    ]),
  };
  return new Map([
    ['m', m],
    ['q', q],
  ]);
}

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Prometheus text format, samples only. */
function parse(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line) ?? expect.unreachable(line);
      const labels: Record<string, string> = {};
      for (const [, key = '', value = ''] of (match[2] ?? '').matchAll(
        /(\w+)="((?:[^"\\]|\\.)*)"/g,
      ))
        labels[key] = value;
      return { name: match[1] ?? '', labels, value: Number(match[3]) };
    });
}

/** The value of the one sample of `name` with (at least) `labels`; undefined without. */
function value(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  expect(found.length).toBeLessThanOrEqual(1);
  return found[0]?.value;
}

describe('GET /metrics', () => {
  const invoke = (
    app: ReturnType<typeof createApp>,
    path: string,
    body: string,
    headers: Record<string, string> = {},
  ) =>
    app.request(path, {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/json', ...headers },
    });

  it('counts requests by model, variant, route and code, and times them', async () => {
    const models = registry();
    const metrics = createGatewayMetrics(models, { depthTimeoutMs: 50 });
    const app = createApp({ models, logger: silent, metrics });
    const target = (variant: string) => ({ 'X-Amzn-SageMaker-Target-Variant': variant });
    for (let i = 0; i < 3; i++) {
      expect((await invoke(app, '/endpoints/m/invocations', '[1]', target('a'))).status).toBe(200);
    }
    expect((await invoke(app, '/endpoints/m/invocations', 'fail', target('a'))).status).toBe(424);
    expect((await invoke(app, '/v1/models/m/invoke', '[1]', target('b'))).status).toBe(200);
    const unsupported = await invoke(app, '/v1/models/m/invoke', '1,2', {
      'Content-Type': 'text/csv',
    });
    expect(unsupported.status).toBe(415);
    const secretId = 'request-id-0123456789';
    const unknown = await invoke(app, '/v1/models/no-such-model-4f1c/invoke', '[1]', {
      'X-Request-Id': secretId,
    });
    expect(unknown.status).toBe(404);

    const response = await app.request('/metrics');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    const samples = parse(text);
    const requests = (labels: Record<string, string>) =>
      value(samples, 'switchyard_gateway_requests_total', labels);
    expect(requests({ model: 'm', variant: 'a', route: 'sagemaker', code: 'ok' })).toBe(3);
    expect(requests({ model: 'm', variant: 'a', route: 'sagemaker', code: 'MODEL_ERROR' })).toBe(1);
    expect(requests({ model: 'm', variant: 'b', route: 'plain', code: 'ok' })).toBe(1);
    // Refused before any variant was chosen: no variant.
    expect(
      requests({ model: 'm', variant: '', route: 'plain', code: 'UNSUPPORTED_MEDIA_TYPE' }),
    ).toBe(1);
    expect(requests({ model: '_unknown', variant: '', route: 'plain', code: 'NOT_FOUND' })).toBe(1);
    const counted = samples.filter((s) => s.name === 'switchyard_gateway_requests_total');
    expect(counted.reduce((sum, s) => sum + s.value, 0)).toBe(7);

    // Every request timed once, under the same labels less the code.
    const histogram = (labels: Record<string, string>) =>
      value(samples, 'switchyard_gateway_request_duration_seconds_count', labels);
    expect(histogram({ model: 'm', variant: 'a', route: 'sagemaker' })).toBe(4);
    expect(histogram({ model: 'm', variant: 'b', route: 'plain' })).toBe(1);
    expect(histogram({ model: 'm', variant: '', route: 'plain' })).toBe(1);
    expect(histogram({ model: '_unknown', variant: '', route: 'plain' })).toBe(1);
    expect(
      value(samples, 'switchyard_gateway_request_duration_seconds_bucket', {
        model: 'm',
        variant: 'a',
        route: 'sagemaker',
        le: '60',
      }),
    ).toBe(4);

    // Nothing a caller chooses becomes a label value.
    expect(text).not.toContain('no-such-model-4f1c');
    expect(text).not.toContain(secretId);
    const modelLabels = new Set(samples.map((s) => s.labels['model']).filter(Boolean));
    expect([...modelLabels].sort()).toEqual(['_unknown', 'm', 'q']);

    // Weights and the guard, as configured and as it saw variant a.
    expect(value(samples, 'switchyard_gateway_variant_weight', { model: 'm', variant: 'a' })).toBe(
      3,
    );
    expect(value(samples, 'switchyard_gateway_variant_weight', { model: 'm', variant: 's' })).toBe(
      0,
    );
    const guarded = { model: 'm', variant: 'a' };
    expect(value(samples, 'switchyard_gateway_canary_in_rotation', guarded)).toBe(1);
    expect(value(samples, 'switchyard_gateway_canary_error_ratio', guarded)).toBe(0.25);
    expect(value(samples, 'switchyard_gateway_canary_p95_seconds', guarded)).toBeGreaterThanOrEqual(
      0,
    );
    expect(value(samples, 'switchyard_gateway_canary_trips_total', guarded)).toBe(0);
    // Unguarded variants have no guard series.
    expect(
      value(samples, 'switchyard_gateway_canary_in_rotation', { model: 'm', variant: 'b' }),
    ).toBeUndefined();
  });

  it('reports queue depth per variant and counts queues it cannot read', async () => {
    const models = registry();
    const app = createApp({
      models,
      logger: silent,
      metrics: createGatewayMetrics(models, { depthTimeoutMs: 50 }),
    });
    for (let scrape = 1; scrape <= 2; scrape++) {
      const response = await app.request('/metrics');
      expect(response.status).toBe(200);
      const samples = parse(await response.text());
      const depth = (state: string) =>
        value(samples, 'switchyard_gateway_queue_depth', { model: 'm', variant: 'b', state });
      expect([depth('waiting'), depth('prioritized'), depth('active')]).toEqual([4, 2, 1]);
      // Not a queue: no depth. Redis down or silent: skipped, and counted.
      expect(samples.filter((s) => s.name === 'switchyard_gateway_queue_depth')).toHaveLength(3);
      const errors = (variant: string) =>
        value(samples, 'switchyard_gateway_scrape_errors_total', { model: 'q', variant });
      expect([errors('down'), errors('stuck')]).toEqual([scrape, scrape]);
      expect(value(samples, 'switchyard_gateway_scrape_errors_total', { variant: 'b' })).toBe(0);
    }
  });

  it("reports the shadow's agreement with the primary", async () => {
    const models = registry();
    const app = createApp({
      models,
      logger: silent,
      metrics: createGatewayMetrics(models, { depthTimeoutMs: 50 }),
    });
    for (let i = 0; i < 4; i++) {
      await invoke(app, '/v1/models/m/invoke', '[1]', { 'X-Amzn-SageMaker-Target-Variant': 'a' });
    }
    const shadowed = { model: 'm', variant: 's' };
    let samples: Sample[] = [];
    await expect
      .poll(async () => {
        samples = parse(await (await app.request('/metrics')).text());
        return value(samples, 'switchyard_gateway_shadow_exact_match_ratio', shadowed);
      })
      .toBe(1);
    expect(value(samples, 'switchyard_gateway_shadow_requests_total', shadowed)).toBe(4);
    expect(value(samples, 'switchyard_gateway_shadow_errors_total', shadowed)).toBe(0);
    expect(value(samples, 'switchyard_gateway_shadow_max_abs_diff', shadowed)).toBe(0);
    expect(
      value(samples, 'switchyard_gateway_shadow_p50_latency_seconds', shadowed),
    ).toBeGreaterThanOrEqual(0);
  });

  it('stays open with API keys on, and counts the refused requests', async () => {
    const models = registry();
    const digest = createHash('sha256').update('sy-admin-0123456789').digest('hex');
    const app = createApp({
      models,
      logger: silent,
      adminKeySha256: [digest],
      metrics: createGatewayMetrics(models, { depthTimeoutMs: 50 }),
    });
    expect((await invoke(app, '/endpoints/m/invocations', '[1]')).status).toBe(401);
    expect(
      (await invoke(app, '/endpoints/m/invocations', '[1]', { Authorization: 'Bearer nope' }))
        .status,
    ).toBe(401);
    const response = await app.request('/metrics');
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).not.toContain('nope');
    expect(
      value(parse(text), 'switchyard_gateway_requests_total', {
        model: 'm',
        variant: '',
        route: 'sagemaker',
        code: 'UNAUTHORIZED',
      }),
    ).toBe(2);
  });

  it('counts async submissions under route async, without timing them', async () => {
    const models = registry();
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-metrics-'));
    const jobs = startJobs(
      resolveGatewayConfig({
        models: {
          m: { variants: { a: { weight: 1, backend: { type: 'local', model: 'unused' } } } },
        },
        storage: { url: dir },
      }),
      models,
      silent,
    );
    try {
      const app = createApp({
        models,
        logger: silent,
        jobs,
        metrics: createGatewayMetrics(models, { depthTimeoutMs: 50 }),
      });
      expect((await invoke(app, '/v1/models/m/async', '[1]')).status).toBe(202);
      expect((await invoke(app, '/endpoints/m/async-invocations', '[1]')).status).toBe(202);
      const csv = { 'Content-Type': 'text/csv' };
      expect((await invoke(app, '/v1/models/m/async', '1,2', csv)).status).toBe(415);
      const samples = parse(await (await app.request('/metrics')).text());
      const async = (code: string) =>
        value(samples, 'switchyard_gateway_requests_total', {
          model: 'm',
          variant: '',
          route: 'async',
          code,
        });
      expect([async('ok'), async('UNSUPPORTED_MEDIA_TYPE')]).toEqual([2, 1]);
      expect(
        samples.filter(
          (s) =>
            s.name === 'switchyard_gateway_request_duration_seconds_count' &&
            s.labels['route'] === 'async',
        ),
      ).toEqual([]);
    } finally {
      await jobs.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
