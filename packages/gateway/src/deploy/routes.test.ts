import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createObjectStore, memoryDeploymentStore } from '@switchyard/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedDefaultConfig } from '../config/load.js';
import { createApp } from '../http/app.js';
import { closeRegistry, createModelRegistry } from '../http/model-registry.js';
import { Deployments } from './deployments.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

let dir: string;
let app: ReturnType<typeof createApp>;
let close: () => Promise<void>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-deploy-routes-'));
  const config = embeddedDefaultConfig(0);
  const models = await createModelRegistry(config, silent);
  const deployments = await Deployments.start({
    registry: models,
    config,
    store: memoryDeploymentStore(),
    artifacts: createObjectStore(join(dir, 'storage')),
    logger: silent,
    maxArtifactBytes: 4096,
  });
  app = createApp({ models, logger: silent, deployments, maxArtifactBytes: 4096 });
  close = async () => {
    await deployments.close();
    await closeRegistry(models);
  };
});
afterAll(async () => {
  await close();
  await rm(dir, { recursive: true, force: true });
});

const send = (method: string, path: string, body?: unknown, type = 'application/json') =>
  app.request(path, {
    method,
    headers: { 'Content-Type': type },
    ...(body === undefined
      ? {}
      : { body: body instanceof Uint8Array ? body : JSON.stringify(body) }),
  });

const error = async (response: Response) =>
  ((await response.json()) as { error: { code: string; message: string } }).error;

describe('POST /v1/admin/artifacts', () => {
  it('keeps a gzip archive and says where, how large and its digest', async () => {
    const archive = gzipSync(Buffer.from('a tar would be here'));
    const response = await send('POST', '/v1/admin/artifacts', archive, 'application/gzip');
    expect(response.status).toBe(201);
    const stored = (await response.json()) as { modelData: string; bytes: number; sha256: string };
    expect(stored.modelData).toMatch(/^file:\/\/.*\/model\.tar\.gz$/);
    expect(stored.bytes).toBe(archive.byteLength);
    expect(stored.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses what is not a gzip archive, too large, or empty', async () => {
    const plain = await send(
      'POST',
      '/v1/admin/artifacts',
      new Uint8Array([1, 2, 3]),
      'application/gzip',
    );
    expect(plain.status).toBe(415);
    expect((await error(plain)).message).toContain('not a gzip archive');
    const large = await send(
      'POST',
      '/v1/admin/artifacts',
      new Uint8Array(5000).fill(0x1f),
      'application/gzip',
    );
    expect(large.status).toBe(413);
    const empty = await send('POST', '/v1/admin/artifacts', new Uint8Array(0), 'application/gzip');
    expect(empty.status).toBe(400);
    const json = await send('POST', '/v1/admin/artifacts', { archive: 'no' });
    expect(json.status).toBe(415);
  });
});

describe('models and variants', () => {
  it('creates a model once, and never over a configured one', async () => {
    const created = await send('POST', '/v1/admin/models', { name: 'fresh' });
    expect(created.status).toBe(201);
    expect(await created.json()).toEqual({ name: 'fresh', source: 'api', variants: [] });
    expect((await error(await send('POST', '/v1/admin/models', { name: 'fresh' }))).code).toBe(
      'CONFLICT',
    );
    expect((await send('POST', '/v1/admin/models', { name: 'iris' })).status).toBe(409);
    const bad = await send('POST', '/v1/admin/models', { name: '../x' });
    expect(bad.status).toBe(400);
    expect((await error(bad)).message).toContain('name');
    // A model with no variant in service answers 503, naming the problem.
    const call = await app.request('/v1/models/fresh/invoke', {
      method: 'POST',
      headers: { 'Content-Type': 'text/csv' },
      body: '1,2,3,4',
    });
    expect(call.status).toBe(503);
    expect((await send('DELETE', '/v1/admin/models/fresh')).status).toBe(204);
    expect((await send('DELETE', '/v1/admin/models/fresh')).status).toBe(404);
    expect((await send('DELETE', '/v1/admin/models/iris')).status).toBe(409);
  });

  it('says what is wrong with a variant before registering it', async () => {
    const cases: [string, unknown, number, string][] = [
      [
        '/v1/admin/models/nope/variants/a',
        { backend: { type: 'local' }, modelData: '/m' },
        404,
        'create it first',
      ],
      [
        '/v1/admin/models/iris/variants/v1',
        { backend: { type: 'local' }, modelData: '/m' },
        409,
        'configuration file',
      ],
      [
        '/v1/admin/models/iris/variants/q',
        { backend: { type: 'queue' }, modelData: '/m' },
        400,
        'Redis',
      ],
      ['/v1/admin/models/iris/variants/l', { backend: { type: 'local' } }, 400, 'modelData'],
      [
        '/v1/admin/models/iris/variants/l',
        { backend: { type: 'local' }, modelData: '/m', multiModel: true },
        400,
        'queue',
      ],
      [
        '/v1/admin/models/iris/variants/l',
        { weight: -1, backend: { type: 'local' }, modelData: '/m' },
        400,
        'weight',
      ],
      [
        '/v1/admin/models/iris/variants/l',
        { backend: { type: 'gpu' }, modelData: '/m' },
        400,
        'backend',
      ],
    ];
    for (const [path, body, status, says] of cases) {
      const response = await send('PUT', path, body);
      expect({ path, body, status: response.status }).toEqual({ path, body, status });
      expect((await error(response)).message).toContain(says);
    }
    expect((await send('PUT', '/v1/admin/models/iris/variants/l', 'x', 'text/plain')).status).toBe(
      415,
    );
    const listed = (await (await app.request('/v1/admin/deployments')).json()) as {
      models: { name: string; variants: { name: string }[] }[];
    };
    expect(listed.models.find((m) => m.name === 'iris')?.variants.map((v) => v.name)).toEqual([
      'v1',
      'v2',
    ]);
  });

  it('reports a variant whose model is missing as Failed, with the reason, and routes nothing to it', async () => {
    const put = await send('PUT', '/v1/admin/models/iris/variants/missing', {
      weight: 1000,
      backend: { type: 'local' },
      modelData: join(dir, 'nothing-here'),
    });
    expect(put.status).toBe(202);
    const view = async () =>
      (await (await app.request('/v1/admin/models/iris/variants/missing')).json()) as {
        state: string;
        reason?: string;
      };
    await expect.poll(async () => (await view()).state).toBe('Failed');
    expect((await view()).reason).toContain('does not exist');
    for (let i = 0; i < 20; i++) {
      const response = await app.request('/endpoints/iris/invocations', {
        method: 'POST',
        headers: { 'Content-Type': 'text/csv' },
        body: '5.1,3.5,1.4,0.2',
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-amzn-invoked-production-variant')).not.toBe('missing');
    }
    expect((await send('DELETE', '/v1/admin/models/iris/variants/missing')).status).toBe(204);
    expect((await send('DELETE', '/v1/admin/models/iris/variants/missing')).status).toBe(404);
    expect((await send('DELETE', '/v1/admin/models/iris/variants/v1')).status).toBe(409);
  });
});
