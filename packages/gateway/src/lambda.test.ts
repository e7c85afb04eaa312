import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTensor, decode, encode, type Tensor } from '@switchyard/handlers';
import {
  serveSageMaker,
  startModelHost,
  type ModelHost,
  type SageMakerServer,
} from '@switchyard/worker';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { resolveGatewayConfig } from './config/load.js';
import { createApp } from './http/app.js';
import { closeRegistry, createModelRegistry, type ModelRegistry } from './http/model-registry.js';
import { createLambdaHandler, handler, type LambdaHandler } from './lambda.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const IRIS_V1 = fileURLToPath(new URL('../../../examples/models/iris-v1', import.meta.url));
const ROWS = '5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5\n';

type LambdaEvent = Parameters<LambdaHandler>[0];
type LambdaResult = Awaited<ReturnType<LambdaHandler>>;

interface Call {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array | string;
}

/**
 * The payload format 2.0 event that API Gateway's HTTP API (route `ANY /{proxy+}`)
 * or a Lambda function URL sends: lower-cased headers, the body as text, or base64
 * with `isBase64Encoded` when it is binary.
 */
function event(source: 'http-api' | 'function-url', call: Call): LambdaEvent {
  const [rawPath = '/', rawQueryString = ''] = call.path.split('?');
  const method = call.method ?? 'POST';
  const domainName =
    source === 'http-api'
      ? 'r3pmxmplak.execute-api.us-east-1.amazonaws.com'
      : 'abc.lambda-url.us-east-1.on.aws';
  const routeKey = source === 'http-api' ? 'ANY /{proxy+}' : '$default';
  const headers: Record<string, string> = { host: domainName, 'user-agent': 'vitest' };
  for (const [name, value] of Object.entries(call.headers ?? {})) {
    headers[name.toLowerCase()] = value;
  }
  return {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString,
    headers,
    ...(source === 'http-api' ? { pathParameters: { proxy: rawPath.slice(1) } } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: domainName.split('.')[0] ?? '',
      authentication: null,
      authorizer: {},
      domainName,
      domainPrefix: domainName.split('.')[0] ?? '',
      http: {
        method,
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: '203.0.113.7',
        userAgent: 'vitest',
      },
      requestId: 'JKJaXmPLvHcESHA=',
      routeKey,
      stage: '$default',
      time: '07/Mar/2026:12:00:00 +0000',
      timeEpoch: Date.now(),
    },
    body:
      call.body === undefined
        ? null
        : call.body instanceof Uint8Array
          ? Buffer.from(call.body).toString('base64')
          : call.body,
    isBase64Encoded: call.body instanceof Uint8Array,
  };
}

const header = (result: LambdaResult, name: string): string | undefined =>
  Object.entries(result.headers ?? {}).find(
    ([key]) => key.toLowerCase() === name.toLowerCase(),
  )?.[1] as string | undefined;

const bytesOf = (result: LambdaResult): Buffer =>
  Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');

// float32 [2, 4]; 5.1 is 0x40a33333, so the body holds bytes that are not UTF-8.
const npyRows = (): Uint8Array =>
  encode(
    createTensor('float32', [2, 4], new Float32Array([5.1, 3.5, 1.4, 0.2, 6.3, 3.3, 6.0, 2.5])),
    'application/x-npy',
  ).body;

/** What this test uses of test/support/sagemaker-emulator.ts (InvokeEndpoint's REST protocol). */
interface SageMakerEmulator {
  readonly url: string;
  set(
    endpoint: string,
    behaviour:
      { kind: 'forward'; to: string } | { kind: 'model-error'; status: number; message: string },
  ): void;
  close(): Promise<void>;
}

/**
 * The shared emulator, imported by path at run time: this package's
 * tsconfig.test.json does not list test/support, so a static import fails `tsc -b`
 * (TS6307).
 */
async function startSageMakerEmulator(): Promise<SageMakerEmulator> {
  const path = fileURLToPath(
    new URL('../../../test/support/sagemaker-emulator.ts', import.meta.url),
  );
  const support = (await import(path)) as {
    startSageMakerEmulator(): Promise<SageMakerEmulator>;
  };
  return support.startSageMakerEmulator();
}

let emulator: SageMakerEmulator;
let container: ModelHost;
let containerServer: SageMakerServer;
let lambda: LambdaHandler;
let models: ModelRegistry;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  // The SDK signs its requests even for an emulator, so it needs credentials.
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
  // The model container behind the emulated SageMaker endpoint: a worker in serve mode.
  container = await startModelHost({ modelDir: IRIS_V1, modelName: 'iris', logger: silent });
  containerServer = await serveSageMaker({ host: container, port: 0, logger: silent });
  emulator = await startSageMakerEmulator();
  const config = resolveGatewayConfig({
    models: {
      iris: { variants: { v1: { weight: 1, backend: { type: 'local', model: IRIS_V1 } } } },
      'iris-aws': {
        variants: {
          prod: {
            weight: 1,
            backend: { type: 'sagemaker', endpointName: 'iris-prod', endpoint: emulator.url },
          },
        },
      },
    },
  });
  lambda = createLambdaHandler(config, { logger: silent });
  // The same configuration served directly, for comparison.
  models = await createModelRegistry(config, silent);
  app = createApp({ models, logger: silent });
});
afterAll(async () => {
  await lambda.close();
  await closeRegistry(models);
  await emulator.close();
  await containerServer.close();
  await container.close();
  vi.unstubAllEnvs();
});

describe.each(['http-api', 'function-url'] as const)('Lambda handler, %s events', (source) => {
  it('answers a CSV request with JSON and the invoked variant', async () => {
    const result = await lambda(
      event(source, {
        path: '/endpoints/iris/invocations',
        headers: { 'Content-Type': 'text/csv', Accept: 'application/json' },
        body: ROWS,
      }),
    );
    expect(result.statusCode).toBe(200);
    expect(result.isBase64Encoded).toBe(false);
    expect(header(result, 'content-type')).toBe('application/json');
    expect(header(result, 'x-amzn-invoked-production-variant')).toBe('v1');
    const probabilities = JSON.parse(result.body) as number[][];
    expect(probabilities.map((row) => row.length)).toEqual([3, 3]);
    expect(probabilities[0]?.reduce((a, b) => a + b)).toBeCloseTo(1, 5);
  });

  it('takes a base64 NPY body as exact bytes and answers NPY base64-encoded', async () => {
    const body = npyRows();
    const result = await lambda(
      event(source, {
        path: '/endpoints/iris/invocations',
        headers: { 'Content-Type': 'application/x-npy', Accept: 'application/x-npy' },
        body,
      }),
    );
    expect(result.statusCode).toBe(200);
    expect(result.isBase64Encoded).toBe(true);
    expect(header(result, 'content-type')).toBe('application/x-npy');
    const answer = decode(bytesOf(result), 'application/x-npy') as Tensor;
    expect(answer.dtype).toBe('float32');
    expect(answer.shape).toEqual([2, 3]);

    const direct = await app.request('/endpoints/iris/invocations', {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/x-npy', Accept: 'application/x-npy' },
    });
    expect(direct.status).toBe(200);
    const expected = new Uint8Array(await direct.arrayBuffer());
    expect(new Uint8Array(bytesOf(result))).toEqual(expected);
    expect(answer.data).toEqual((decode(expected, 'application/x-npy') as Tensor).data);
  });

  it('serves a SageMaker variant with the endpoint’s own answer', async () => {
    emulator.set('iris-prod', { kind: 'forward', to: `http://127.0.0.1:${containerServer.port}` });
    const fromEmulator = await fetch(`${emulator.url}/endpoints/iris-prod/invocations`, {
      method: 'POST',
      body: ROWS,
      headers: { 'Content-Type': 'text/csv', Accept: 'application/json' },
    });
    expect(fromEmulator.status).toBe(200);
    const result = await lambda(
      event(source, {
        path: '/endpoints/iris-aws/invocations',
        headers: { 'Content-Type': 'text/csv', Accept: 'application/json' },
        body: ROWS,
      }),
    );
    expect(result.statusCode).toBe(200);
    expect(header(result, 'x-amzn-invoked-production-variant')).toBe('prod');
    expect(result.body).toBe(await fromEmulator.text());
  });

  describe('errors keep their shape', () => {
    const errorOf = (result: LambdaResult) =>
      JSON.parse(result.body) as { error: { code: string; message: string }; message?: string };

    it('415 for a Content-Type the model does not take, typed on the SageMaker route', async () => {
      const result = await lambda(
        event(source, {
          path: '/endpoints/iris/invocations',
          headers: { 'Content-Type': 'text/plain' },
          body: 'hello',
        }),
      );
      expect(result.statusCode).toBe(415);
      expect(result.isBase64Encoded).toBe(false);
      expect(header(result, 'x-amzn-errortype')).toBe('ValidationError');
      expect(errorOf(result).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      expect(errorOf(result).message).toBe(errorOf(result).error.message);
    });

    it('404 for an unknown model, on both routes', async () => {
      const sagemaker = await lambda(
        event(source, {
          path: '/endpoints/nope/invocations',
          headers: { 'Content-Type': 'text/csv' },
          body: ROWS,
        }),
      );
      expect(sagemaker.statusCode).toBe(404);
      expect(header(sagemaker, 'x-amzn-errortype')).toBe('ValidationError');
      expect(errorOf(sagemaker).error.code).toBe('NOT_FOUND');
      const plain = await lambda(
        event(source, {
          path: '/v1/models/nope/invoke',
          headers: { 'Content-Type': 'text/csv' },
          body: ROWS,
        }),
      );
      expect(plain.statusCode).toBe(404);
      expect(header(plain, 'x-amzn-errortype')).toBeUndefined();
      expect(errorOf(plain).error.code).toBe('NOT_FOUND');
    });

    it('424 ModelError when the SageMaker endpoint’s model fails', async () => {
      emulator.set('iris-prod', { kind: 'model-error', status: 500, message: 'boom' });
      const result = await lambda(
        event(source, {
          path: '/endpoints/iris-aws/invocations',
          headers: { 'Content-Type': 'text/csv' },
          body: ROWS,
        }),
      );
      expect(result.statusCode).toBe(424);
      expect(header(result, 'x-amzn-errortype')).toBe('ModelError');
      expect(errorOf(result).error.code).toBe('MODEL_ERROR');
      expect(errorOf(result).error.message).toContain('boom');
    });
  });

  it('does not serve async inference (no background work on Lambda)', async () => {
    const result = await lambda(
      event(source, {
        path: '/v1/models/iris/async',
        headers: { 'Content-Type': 'text/csv' },
        body: ROWS,
      }),
    );
    expect(result.statusCode).toBe(404);
  });
});

describe('the exported handler, configured by the environment', () => {
  const invokeIris = () =>
    handler(
      event('function-url', {
        path: '/v1/models/iris/invoke',
        headers: { 'Content-Type': 'text/csv', Accept: 'application/json' },
        body: ROWS,
      }),
    );
  const config = {
    models: {
      iris: { variants: { v1: { weight: 1, backend: { type: 'local', model: IRIS_V1 } } } },
    },
  };

  it('names both variables when neither is set', async () => {
    vi.stubEnv('SWITCHYARD_CONFIG', undefined);
    vi.stubEnv('SWITCHYARD_CONFIG_JSON', undefined);
    await expect(invokeIris()).rejects.toThrow(/SWITCHYARD_CONFIG .*SWITCHYARD_CONFIG_JSON/s);
  });

  it('reads SWITCHYARD_CONFIG_JSON', async () => {
    vi.stubEnv('SWITCHYARD_CONFIG', undefined);
    vi.stubEnv('SWITCHYARD_CONFIG_JSON', JSON.stringify(config));
    try {
      const result = await invokeIris();
      expect(result.statusCode).toBe(200);
      expect(header(result, 'x-amzn-invoked-production-variant')).toBe('v1');
    } finally {
      await handler.close();
    }
  });

  it('reads the file SWITCHYARD_CONFIG names, listing problems with their paths', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-lambda-'));
    try {
      const file = join(dir, 'gateway.yaml');
      await writeFile(file, `models:\n  iris:\n    variants:\n      v1: { weight: -1 }\n`);
      vi.stubEnv('SWITCHYARD_CONFIG', file);
      await expect(invokeIris()).rejects.toThrow(/iris\.variants\.v1/);
      await writeFile(file, JSON.stringify(config));
      const result = await invokeIris();
      expect(result.statusCode).toBe(200);
    } finally {
      await handler.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
