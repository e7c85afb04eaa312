import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspectRoutes } from 'hono/dev';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../backends/backend.js';
import { resolveGatewayConfig } from '../config/load.js';
import { startJobs, type Jobs } from '../jobs/index.js';
import { createGatewayMetrics } from '../metrics.js';
import { startPolicies, type Policies } from '../policy/index.js';
import { createObjectStore, memoryDeploymentStore } from '@switchyard/worker';
import { Traffic } from '../console/traffic.js';
import { Deployments } from '../deploy/deployments.js';
import { createApp } from './app.js';
import type { ModelRegistry, ModelState } from './model-registry.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

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

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

interface Spec {
  openapi: string;
  info: { title: string };
  paths: Record<string, Partial<Record<string, { security?: unknown[] }>>>;
  components: { securitySchemes: Record<string, { type: string; scheme: string }> };
}

/**
 * `METHOD /path/{param}` for each route with a handler. Middleware entries are left
 * out: `app.use()` ones (`ALL`, wildcards), and those `app.post(path, middleware)`
 * adds, which answer nothing by themselves (rate limits are registered on the async
 * paths even when their routes are not).
 */
function appRoutes(app: ReturnType<typeof createApp>): Set<string> {
  return new Set(
    inspectRoutes(app)
      .filter((r) => !r.isMiddleware && r.method !== 'ALL' && !r.path.includes('*'))
      .map((r) => `${r.method} ${r.path.replaceAll(/:([^/]+)/g, '{$1}')}`),
  );
}

function specRoutes(spec: Spec): Set<string> {
  return new Set(
    Object.entries(spec.paths).flatMap(([path, item]) =>
      METHODS.filter((m) => item[m] !== undefined).map((m) => `${m.toUpperCase()} ${path}`),
    ),
  );
}

const minus = (a: Set<string>, b: Set<string>) => [...a].filter((x) => !b.has(x)).sort();

let dir: string;
let models: ModelRegistry;
let jobs: Jobs;
let policies: Policies;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-openapi-'));
  const config = resolveGatewayConfig({
    models: { m: { variants: { a: { weight: 1, backend: { type: 'local', model: 'unused' } } } } },
    storage: { url: dir },
  });
  const modelConfig = config.models['m'];
  if (modelConfig === undefined) throw new Error('unreachable');
  models = new Map([
    [
      'm',
      {
        name: 'm',
        config: modelConfig,
        variants: new Map([['a', { name: 'a', weight: 1, backend: instant }]]),
      },
    ],
  ]);
  jobs = startJobs(config, models, silent);
  policies = startPolicies(config, silent);
  deployments = await Deployments.start({
    registry: Object.assign(models as Map<string, ModelState>, {
      shared: [],
      makeBackend: () => Promise.resolve(instant),
    }),
    config,
    store: memoryDeploymentStore(),
    artifacts: createObjectStore(dir),
    logger: silent,
    maxArtifactBytes: 1024,
  });
});
afterAll(async () => {
  await deployments.close();
  await jobs.close();
  await policies.close();
  await rm(dir, { recursive: true, force: true });
});

let deployments: Deployments;

const fullApp = () =>
  createApp({
    models,
    logger: silent,
    jobs,
    ...policies,
    metrics: createGatewayMetrics(models),
    deployments,
    traffic: new Traffic(),
  });

describe('the OpenAPI document', () => {
  it('describes exactly the routes the app has, with every group on', async () => {
    const app = fullApp();
    const response = await app.request('/openapi.json');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const spec = (await response.json()) as Spec;
    expect(spec.openapi).toBe('3.1.0');
    expect(spec.info.title).toBe('Switchyard gateway');

    const routes = appRoutes(app);
    const described = specRoutes(spec);
    // The groups that exist only with their deps are all here.
    for (const route of [
      'POST /v1/batch-jobs',
      'DELETE /v1/admin/keys/{id}',
      'PUT /v1/admin/models/{name}/variants/{variant}',
      'GET /console',
      'GET /metrics',
      'GET /docs',
    ]) {
      expect(routes).toContain(route);
    }
    expect({
      'routes missing from the spec': minus(routes, described),
      'spec paths with no route': minus(described, routes),
    }).toEqual({ 'routes missing from the spec': [], 'spec paths with no route': [] });
  });

  it('matches the routes of a bare app too (no jobs, keys or metrics)', async () => {
    const app = createApp({ models, logger: silent });
    const spec = (await (await app.request('/openapi.json')).json()) as Spec;
    const routes = appRoutes(app);
    const described = specRoutes(spec);
    expect(routes).not.toContain('POST /v1/batch-jobs');
    expect({
      'routes missing from the spec': minus(routes, described),
      'spec paths with no route': minus(described, routes),
    }).toEqual({ 'routes missing from the spec': [], 'spec paths with no route': [] });
  });

  it('puts bearer auth on /v1 and /endpoints routes only, and errors in one shape', async () => {
    const spec = (await (await fullApp().request('/openapi.json')).json()) as Spec;
    expect(spec.components.securitySchemes['bearer']).toMatchObject({
      type: 'http',
      scheme: 'bearer',
    });
    for (const [path, item] of Object.entries(spec.paths)) {
      const guarded = path.startsWith('/v1/') || path.startsWith('/endpoints/');
      for (const m of METHODS) {
        const operation = item[m];
        if (operation === undefined) continue;
        expect(operation.security, `${m} ${path}`).toEqual(guarded ? [{ bearer: [] }] : undefined);
      }
    }
    const invoke = spec.paths['/endpoints/{name}/invocations']?.['post'] as unknown as {
      parameters: { name: string; in: string }[];
      requestBody: { content: Record<string, unknown> };
      responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }>;
    };
    expect(invoke.parameters.map((p) => `${p.in}:${p.name}`)).toEqual(
      expect.arrayContaining([
        'path:name',
        'header:X-Amzn-SageMaker-Target-Variant',
        'header:X-Amzn-SageMaker-Custom-Attributes',
      ]),
    );
    expect(Object.keys(invoke.requestBody.content)).toEqual(
      expect.arrayContaining(['application/json', 'text/csv', 'application/x-npy']),
    );
    expect(invoke.responses['424']?.content?.['application/json']?.schema.$ref).toBe(
      '#/components/schemas/SageMakerError',
    );
    const asyncOp = spec.paths['/v1/models/{name}/async']?.['post'] as unknown as {
      parameters: { name: string }[];
    };
    expect(asyncOp.parameters.map((p) => p.name)).toEqual(
      expect.arrayContaining([
        'X-Amzn-SageMaker-InputLocation',
        'X-Amzn-SageMaker-RequestTTLSeconds',
        'X-Amzn-SageMaker-InvocationTimeoutSeconds',
      ]),
    );
  });

  it('stays open when API keys are on', async () => {
    const app = createApp({ models, logger: silent, adminKeySha256: ['0'.repeat(64)] });
    expect((await app.request('/v1/models')).status).toBe(401);
    expect((await app.request('/openapi.json')).status).toBe(200);
    expect((await app.request('/docs')).status).toBe(200);
    expect((await app.request('/docs/assets/swagger-ui-bundle.js')).status).toBe(200);
  });
});

describe('the /docs page', () => {
  it('loads only assets the gateway serves itself', async () => {
    const app = fullApp();
    const page = await app.request('/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/(src|href)=["']\/\//);
    const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] ?? '');
    expect(urls.length).toBeGreaterThanOrEqual(3);
    for (const url of urls) {
      const response = await app.request(url);
      expect(response.status, url).toBe(200);
      expect(response.headers.get('content-type'), url).toMatch(
        url.endsWith('.css') ? /^text\/css/ : /^text\/javascript/,
      );
      const text = await response.text();
      expect(text.length, url).toBeGreaterThan(0);
      if (url.endsWith('initializer.js')) {
        expect(text).toContain("url: '/openapi.json'");
        expect(text).not.toMatch(/https?:\/\//);
      }
    }
    expect((await app.request('/docs/assets/package.json')).status).toBe(404);
    expect((await app.request('/docs/assets/..%2Fpackage.json')).status).toBe(404);
  });
});
