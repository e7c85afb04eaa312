import { randomUUID } from 'node:crypto';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  closeRegistry,
  createApp,
  createModelRegistry,
  Deployments,
  resolveGatewayConfig,
} from '@switchyard/gateway';
import {
  createModelRuntime,
  createObjectStore,
  modelBytes,
  packModel,
  redisDeploymentStore,
  startMultiModelWorker,
} from '@switchyard/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MODELS, startWorkerProcess, type WorkerProcess } from '../support/worker-process.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const ROWS = JSON.stringify([
  [5.1, 3.5, 1.4, 0.2],
  [6.3, 3.3, 6.0, 2.5],
]);
// A handler whose answers differ from the default one's, on the same ONNX model.
const INFERENCE = `
export function outputFn(prediction) {
  const text = JSON.stringify({ custom: Array.from(prediction.data, (p) => Number(p.toFixed(4))) });
  return { body: new TextEncoder().encode(text), contentType: 'application/json' };
}
`;

/** The answer of a model directory to ROWS, straight from the model runtime. */
async function reference(modelDir: string): Promise<string> {
  const runtime = await createModelRuntime({ modelDir, modelName: 'reference', logger: silent });
  try {
    const result = await runtime.invoke({
      requestId: 'reference',
      body: new TextEncoder().encode(ROWS),
      contentType: 'application/json',
      accept: 'application/json',
      customAttributes: undefined,
      deadline: Date.now() + 10_000,
      enqueuedAt: Date.now(),
    });
    if (!result.ok) throw new Error(result.error.message);
    return new TextDecoder().decode(result.body);
  } finally {
    await runtime.close();
  }
}

describe('a multi-model worker', () => {
  const redisUrl = inject('redisUrl');
  const namespace = `mm-${randomUUID().slice(0, 8)}`;
  let dir: string;
  let worker: WorkerProcess;
  let app: ReturnType<typeof createApp>;
  let close: () => Promise<void>;
  /** Three different models: iris-v1, iris-v2, and iris-v2 with its own output code. */
  const dirs: Record<string, string> = {};
  const expected: Record<string, string> = {};
  let budget = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-mm-'));
    dirs['a'] = join(MODELS, 'iris-v1');
    dirs['b'] = join(MODELS, 'iris-v2');
    dirs['c'] = join(dir, 'c');
    await cp(dirs['b'], dirs['c'], { recursive: true });
    await mkdir(join(dirs['c'], 'code'), { recursive: true });
    await writeFile(join(dirs['c'], 'code', 'inference.mjs'), INFERENCE);
    const sizes: number[] = [];
    for (const [name, modelDir] of Object.entries(dirs)) {
      expected[name] = await reference(modelDir);
      sizes.push(await modelBytes(modelDir));
    }
    expect(new Set(Object.values(expected)).size).toBe(3);
    // Room for the two largest together, never for all three.
    sizes.sort((x, y) => y - x);
    // (A few bytes over their sum: the budget travels as a fraction of a MiB.)
    budget = (sizes[0] ?? 0) + (sizes[1] ?? 0) + 16;
    expect(budget).toBeLessThan(sizes.reduce((s, x) => s + x, 0));

    worker = await startWorkerProcess(
      ['--namespace', namespace, '--pool', 'mm', '--memory-budget-mb', String(budget / 1024 ** 2)],
      redisUrl,
    );
    const config = resolveGatewayConfig({
      redis: { url: redisUrl, namespace },
      models: {
        // The configuration needs a model; this one is never called.
        unused: {
          variants: { a: { weight: 1, backend: { type: 'queue', queue: `${namespace}-x` } } },
        },
      },
    });
    const models = await createModelRegistry(config, silent);
    const deployments = await Deployments.start({
      registry: models,
      config,
      store: redisDeploymentStore(redisUrl, namespace),
      artifacts: createObjectStore(join(dir, 'storage')),
      logger: silent,
      maxArtifactBytes: 1024 ** 2,
    });
    app = createApp({ models, logger: silent, deployments });
    close = async () => {
      await deployments.close();
      await closeRegistry(models);
    };
  });
  afterAll(async () => {
    worker.child.kill('SIGTERM');
    await worker.exited;
    await close();
    await rm(dir, { recursive: true, force: true });
  });

  const put = (path: string, body: unknown, method = 'PUT') =>
    app.request(path, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  const invoke = (model: string, headers: Record<string, string> = {}) =>
    app.request(`/endpoints/${model}/invocations`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...headers },
      body: ROWS,
    });
  const loaded = async () =>
    (
      (await (await fetch(`http://127.0.0.1:${worker.metricsPort}/models`)).json()) as {
        loaded: { key: string; bytes: number }[];
      }
    ).loaded;

  it('serves more models than its memory budget holds, unloading the least recently used', async () => {
    for (const name of Object.keys(dirs)) {
      expect((await put('/v1/admin/models', { name }, 'POST')).status).toBe(201);
      const deployed = await put(`/v1/admin/models/${name}/variants/main`, {
        backend: { type: 'queue', pool: 'mm' },
        modelData: dirs[name],
      });
      expect(deployed.status).toBe(202);
    }
    for (const name of Object.keys(dirs)) {
      await expect
        .poll(
          async () =>
            (
              (await (await app.request(`/v1/admin/models/${name}/variants/main`)).json()) as {
                state: string;
              }
            ).state,
          { timeout: 30_000 },
        )
        .toBe('InService');
    }
    // Every model in turn, one at a time, then all at once: each answer is its own model's.
    const order = ['a', 'b', 'c', 'a', 'c', 'b', 'b', 'a', 'c', 'c', 'a', 'b'];
    const held: number[] = [];
    for (const name of order) {
      const response = await invoke(name);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe(expected[name]);
      held.push((await loaded()).reduce((s, e) => s + e.bytes, 0));
    }
    for (let round = 0; round < 5; round++) {
      const names = [...order].sort(() => Math.random() - 0.5);
      const answers = await Promise.all(
        names.map(async (name) => [name, await invoke(name)] as const),
      );
      for (const [name, response] of answers) {
        expect(response.status).toBe(200);
        expect(await response.text()).toBe(expected[name]);
      }
      held.push((await loaded()).reduce((s, e) => s + e.bytes, 0));
    }
    expect(Math.max(...held)).toBeLessThanOrEqual(budget);
    expect((await loaded()).length).toBeLessThanOrEqual(2);
    // The same, as Prometheus sees it.
    const metrics = await (await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`)).text();
    const gauge = (name: string) =>
      Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
    expect(gauge('switchyard_worker_model_budget_bytes')).toBeCloseTo(budget, 0);
    expect(gauge('switchyard_worker_model_bytes')).toBeLessThanOrEqual(budget);
    expect(gauge('switchyard_worker_models_loaded')).toBeGreaterThan(0);
    // Requests are counted per model and variant.
    for (const name of Object.keys(dirs)) {
      expect(metrics).toMatch(
        new RegExp(
          `switchyard_worker_requests_total\\{model="${name}",variant="main",outcome="ok"\\} [1-9]`,
        ),
      );
    }
    // Models were unloaded and loaded again to make room.
    const unloads = worker.output().match(/"msg":"model unloaded"/g) ?? [];
    const loads = worker.output().match(/"msg":"model loaded"/g) ?? [];
    expect(unloads.length).toBeGreaterThan(3);
    expect(loads.length).toBeGreaterThan(Object.keys(dirs).length);
  }, 120_000);

  it('runs the archive X-Amzn-SageMaker-Target-Model names, as a multi-model endpoint', async () => {
    // A prefix holding models the way a SageMaker multi-model endpoint's S3 prefix does.
    const prefix = join(dir, 'mme');
    await cp(dirs['a'] ?? '', join(prefix, 'a'), { recursive: true });
    await packModel({
      model: dirs['b'] ?? '',
      entryPoint: join(dirs['c'] ?? '', 'code', 'inference.mjs'),
      output: join(prefix, 'c.tar.gz'),
    });
    expect((await put('/v1/admin/models', { name: 'mme' }, 'POST')).status).toBe(201);
    await put('/v1/admin/models/mme/variants/all', {
      backend: { type: 'queue', pool: 'mm' },
      modelData: prefix,
      multiModel: true,
    });
    await expect
      .poll(
        async () =>
          (
            (await (await app.request('/v1/admin/models/mme/variants/all')).json()) as {
              state: string;
            }
          ).state,
        { timeout: 30_000 },
      )
      .toBe('InService');
    const target = (name: string) => invoke('mme', { 'X-Amzn-SageMaker-Target-Model': name });
    for (const [name, want] of [
      ['a', expected['a']],
      ['c.tar.gz', expected['c']],
      ['a', expected['a']],
    ] as const) {
      const response = await target(name);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe(want);
    }
    const none = await invoke('mme');
    expect(none.status).toBe(400);
    expect(await none.text()).toContain('X-Amzn-SageMaker-Target-Model');
    expect((await target('missing.tar.gz')).status).toBe(404);
    const climbing = await target('../a');
    expect(climbing.status).toBe(400);
    expect(await climbing.text()).toContain('relative path');
  }, 60_000);

  it('tries a revision that failed to load again, and serves it once it loads', async () => {
    // A worker in this process, retrying failed loads after 200 ms (30 s by default).
    const retrying = await startMultiModelWorker({
      redisUrl,
      namespace,
      pool: 'retry',
      budgetBytes: 1024 ** 2,
      concurrency: 4,
      lockDurationMs: 30_000,
      stalledIntervalMs: 30_000,
      resultTtlMs: 60_000,
      logger: silent,
      pollMs: 100,
      retryFailedLoadMs: 200,
    });
    try {
      // The model is not where the variant says yet, as when a store is briefly down.
      const later = join(dir, 'later');
      expect((await put('/v1/admin/models', { name: 'later' }, 'POST')).status).toBe(201);
      await put('/v1/admin/models/later/variants/main', {
        backend: { type: 'queue', pool: 'retry' },
        modelData: later,
      });
      const state = async () =>
        (
          (await (await app.request('/v1/admin/models/later/variants/main')).json()) as {
            state: string;
            reason?: string;
          }
        ).state;
      await expect.poll(state, { timeout: 10_000 }).toBe('Failed');
      await cp(dirs['a'] ?? '', later, { recursive: true });
      await expect.poll(state, { timeout: 10_000 }).toBe('InService');
      const response = await invoke('later');
      expect(response.status).toBe(200);
      expect(await response.text()).toBe(expected['a']);
    } finally {
      await retrying.close();
    }
  }, 60_000);
});
