import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { serve, type ServerType } from '@hono/node-server';
import {
  closeRegistry,
  createApp,
  createModelRegistry,
  resolveGatewayConfig,
} from '@switchyard/gateway';
import { createTensor, decode, encode, isTensor, type Tensor } from '@switchyard/handlers';
import { createModelRuntime } from '@switchyard/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  csvDeserializer,
  csvSerializer,
  jsonDeserializer,
  jsonSerializer,
  npyDeserializer,
  npySerializer,
  Predictor,
  PredictorError,
  toTensor,
} from './index.js';

const IRIS_V1 = fileURLToPath(new URL('../../../examples/models/iris-v1', import.meta.url));
const IRIS_V2 = fileURLToPath(new URL('../../../examples/models/iris-v2', import.meta.url));
const silent = { debug() {}, info() {}, warn() {}, error() {} };
// Values that text formats must carry exactly: float32 neighbours of round decimals.
const ROWS = new Float32Array([5.1, 3.5, 1.4, 0.2, 6.3, 3.3, 6.0, 2.5, 5.9, 3.0, 5.1, 1.8]);

let endpoint = '';
let server: ServerType;
let models: Awaited<ReturnType<typeof createModelRegistry>>;
/** iris-v1's answer to ROWS, from the model runtime directly (no HTTP, no gateway). */
let reference: number[];

beforeAll(async () => {
  const runtime = await createModelRuntime({
    modelDir: IRIS_V1,
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

  models = await createModelRegistry(
    resolveGatewayConfig({
      models: {
        iris: {
          variants: {
            v1: { weight: 1, backend: { type: 'local', model: IRIS_V1 } },
            v2: { weight: 0, backend: { type: 'local', model: IRIS_V2 } },
          },
        },
      },
    }),
    silent,
  );
  const app = createApp({ models, logger: silent });
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
  await closeRegistry(models);
});

describe('Predictor.predict', () => {
  it.each([
    ['JSON', jsonSerializer, jsonDeserializer],
    ['CSV', csvSerializer, csvDeserializer],
    ['NPY', npySerializer, npyDeserializer],
  ])(
    'round-trips float32 rows through %s to the numbers of a direct invocation',
    async (_, serializer, deserializer) => {
      const iris = new Predictor({ endpoint, model: 'iris', serializer, deserializer });
      const answer = await iris.predict(ROWS, { shape: [3, 4] });
      expect(isTensor(answer)).toBe(true);
      const tensor = answer as Tensor<'float32'>;
      expect(tensor.shape).toEqual([3, 3]);
      expect(Array.from(tensor.data)).toEqual(reference);
    },
  );

  it('takes nested arrays and tensors as well as typed arrays', async () => {
    const iris = new Predictor({ endpoint, model: 'iris' });
    const nested = [
      [5.1, 3.5, 1.4, 0.2],
      [6.3, 3.3, 6.0, 2.5],
      [5.9, 3.0, 5.1, 1.8],
    ];
    const fromNested = (await iris.predict(nested)) as Tensor<'float32'>;
    const fromTensor = (await iris.predict(toTensor(ROWS, [3, 4]))) as Tensor<'float32'>;
    expect(Array.from(fromNested.data)).toEqual(reference);
    expect(Array.from(fromTensor.data)).toEqual(reference);
    expect(() => toTensor([[1, 2], [3]])).toThrow(/ragged input/);
  });

  it('calls the target variant and carries custom attributes', async () => {
    const iris = new Predictor({ endpoint, model: 'iris', targetVariant: 'v2' });
    const answer = await iris.invoke(ROWS, { shape: [3, 4], customAttributes: 'trace=1' });
    expect(answer.variant).toBe('v2');
    expect(answer.customAttributes).toBe('trace=1');
    // iris-v2 is another model: its numbers differ from iris-v1's.
    expect(Array.from((answer.value as Tensor<'float32'>).data)).not.toEqual(reference);
  });

  it("throws a PredictorError carrying the gateway's error code", async () => {
    const iris = new Predictor({ endpoint, model: 'iris' });
    const wrongWidth = iris.predict([[1, 2, 3]]);
    await expect(wrongWidth).rejects.toBeInstanceOf(PredictorError);
    await expect(wrongWidth).rejects.toMatchObject({ status: 400, code: 'INVALID_INPUT' });
    const missing = new Predictor({ endpoint, model: 'nope' }).predict(ROWS);
    await expect(missing).rejects.toMatchObject({ status: 404, code: 'NOT_FOUND' });
    await expect(missing).rejects.toHaveProperty('requestId', expect.any(String));
  });
});
