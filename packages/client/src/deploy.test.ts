import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { serve, type ServerType } from '@hono/node-server';
import {
  closeRegistry,
  createApp,
  createModelRegistry,
  createObjectStore,
  Deployments,
  resolveGatewayConfig,
} from '@switchyard/gateway';
import { createTensor, decode, encode, isTensor, type Tensor } from '@switchyard/handlers';
import { createModelRuntime, memoryDeploymentStore } from '@switchyard/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as browser from './index.js';
import { deploy, DeployError, jsonDeserializer, jsonSerializer, PredictorError } from './node.js';
import * as node from './node.js';

const IRIS_V1 = fileURLToPath(new URL('../../../examples/models/iris-v1', import.meta.url));
const IRIS_V2 = fileURLToPath(new URL('../../../examples/models/iris-v2', import.meta.url));
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const ROWS = new Float32Array([5.1, 3.5, 1.4, 0.2, 6.3, 3.3, 6.0, 2.5, 5.9, 3.0, 5.1, 1.8]);
// A handler in SageMaker's layout with its own formats: JSON rows in, JSON rows out.
const INFERENCE_MJS = `
export function inputFn(body) {
  const rows = JSON.parse(new TextDecoder().decode(body));
  return {
    input: { dtype: 'float32', shape: [rows.length, rows[0].length], data: Float32Array.from(rows.flat()) },
  };
}

export function outputFn(prediction) {
  const [rows, width] = prediction.shape;
  const out = [];
  for (let i = 0; i < rows; i++) out.push(Array.from(prediction.data.subarray(i * width, (i + 1) * width)));
  return { body: new TextEncoder().encode(JSON.stringify(out)), contentType: 'application/json' };
}
`;

let endpoint = '';
let server: ServerType;
let models: Awaited<ReturnType<typeof createModelRegistry>>;
let deployments: Deployments;
let scratch: string;
let entryPoint: string;
/** iris-v2's answer to ROWS, from the model runtime directly (no HTTP, no gateway). */
let reference: number[];

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'switchyard-client-deploy-'));
  entryPoint = join(scratch, 'inference.mjs');
  await writeFile(entryPoint, INFERENCE_MJS);

  const runtime = await createModelRuntime({
    modelDir: IRIS_V2,
    modelName: 'iris',
    logger: silent,
    batching: { maxBatchSize: 1 },
  });
  try {
    const body = encode(createTensor('float32', [3, 4], ROWS), 'application/x-npy').body;
    const result = await runtime.invoke({
      requestId: 'reference',
      body,
      contentType: 'application/x-npy',
      accept: 'application/x-npy',
      customAttributes: undefined,
      deadline: Date.now() + 10_000,
      enqueuedAt: Date.now(),
    });
    if (!result.ok) throw new Error(result.error.message);
    const tensor = decode(result.body, result.contentType);
    if (!isTensor(tensor)) throw new Error('expected one tensor');
    reference = Array.from(tensor.data as Float32Array);
  } finally {
    await runtime.close();
  }

  // One configured model (a configuration needs one); the tests register the rest.
  const config = resolveGatewayConfig({
    models: {
      configured: { variants: { v1: { weight: 1, backend: { type: 'local', model: IRIS_V1 } } } },
    },
  });
  models = await createModelRegistry(config, silent);
  deployments = await Deployments.start({
    registry: models,
    config,
    store: memoryDeploymentStore(),
    artifacts: createObjectStore(join(scratch, 'artifacts')),
    logger: silent,
    maxArtifactBytes: 50 * 1024 * 1024,
  });
  const app = createApp({ models, logger: silent, deployments });
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0 }, (info: AddressInfo) => {
      endpoint = `http://127.0.0.1:${info.port}`;
      resolve();
    });
  });
}, 60_000);

afterAll(async () => {
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  await deployments.close();
  await closeRegistry(models);
  await rm(scratch, { recursive: true, force: true });
});

/** What `deploying` rejected with, checked to be a DeployError. */
async function rejection(deploying: Promise<unknown>): Promise<DeployError> {
  const error = await deploying.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(DeployError);
  return error as DeployError;
}

describe('deploy', () => {
  it('packs a model directory and a handler, and answers once in service', async () => {
    const iris = await deploy({
      endpoint,
      model: 'iris',
      variant: 'packed',
      modelDir: IRIS_V2,
      entryPoint,
      backend: { type: 'local' },
      weight: 1,
      serializer: jsonSerializer,
      deserializer: jsonDeserializer,
    });
    const pinned = new node.Predictor({
      endpoint,
      model: 'iris',
      targetVariant: 'packed',
      serializer: jsonSerializer,
      deserializer: jsonDeserializer,
    });
    for (const predictor of [iris, pinned]) {
      const answer = await predictor.invoke(ROWS, { shape: [3, 4] });
      expect(answer.variant).toBe('packed');
      const tensor = answer.value as Tensor<'float32'>;
      expect(tensor.shape).toEqual([3, 3]);
      expect(Array.from(tensor.data)).toEqual(reference);
    }
  }, 60_000);

  it.each([
    ['archive bytes that are a gzip of garbage', gzipSync('not a tar archive')],
    ['a location that does not exist', '/nonexistent/switchyard/model.tar.gz'],
  ])(
    'rejects with the reason when %s cannot load',
    async (_, modelData) => {
      const failed = browser.deploy({
        endpoint,
        model: 'broken',
        variant: typeof modelData === 'string' ? 'missing' : 'garbage',
        modelData,
        backend: { type: 'local' },
      });
      const error = await rejection(failed);
      expect(error).toBeInstanceOf(PredictorError);
      expect(error).toMatchObject({ name: 'DeployError', code: 'MODEL_ERROR', state: 'Failed' });
      expect(error.reason).toMatch(/\S/);
      expect(error.message).toContain(`state Failed): ${error.reason ?? ''}`);
    },
    30_000,
  );

  it('says the last state when the variant is not in service in time', async () => {
    const late = browser.deploy({
      endpoint,
      model: 'slow',
      variant: 'v1',
      modelData: IRIS_V2,
      backend: { type: 'local' },
      timeoutMs: 0,
    });
    const error = await rejection(late);
    expect(error.code).toBe('TIMEOUT');
    expect(['Creating', 'Loading']).toContain(error.state);
    expect(error.message).toContain(`last state ${error.state ?? ''}`);
  });

  it("rejects with the gateway's code when the model does not exist and is not to be created", async () => {
    const missing = browser.deploy({
      endpoint,
      model: 'nowhere',
      variant: 'v1',
      modelData: IRIS_V2,
      backend: { type: 'local' },
      createModel: false,
    });
    const error = await rejection(missing);
    expect(error).toMatchObject({ status: 404, code: 'NOT_FOUND', state: undefined });
    expect(error.requestId).toEqual(expect.any(String));
  });

  it('is exported from the Node entry with everything of the main one', () => {
    expect(Object.keys(node).sort()).toEqual(Object.keys(browser).sort());
  });
});
