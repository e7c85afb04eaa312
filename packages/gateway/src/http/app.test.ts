import { connect, type AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import {
  InvokeEndpointCommand,
  SageMakerRuntimeClient,
  ValidationError,
} from '@aws-sdk/client-sagemaker-runtime';
import { createModelRuntime } from '@switchyard/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedDefaultConfig } from '../config/load.js';
import { createApp } from './app.js';
import { closeRegistry, createModelRegistry, type ModelRegistry } from './model-registry.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const ROWS = '5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5\n';

let models: ModelRegistry;
let app: ReturnType<typeof createApp>;
let server: ServerType;
let base: string;

beforeAll(async () => {
  models = await createModelRegistry(embeddedDefaultConfig(0), silent);
  app = createApp({ models, logger: silent });
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0 }, (info: AddressInfo) => {
      base = `http://127.0.0.1:${info.port}`;
      resolve();
    });
  });
});
afterAll(async () => {
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  await closeRegistry(models);
});

const post = (
  path: string,
  body: NonNullable<RequestInit['body']>,
  headers: Record<string, string>,
) => app.request(path, { method: 'POST', body, headers });

/**
 * POST a body of unknown length (chunked transfer encoding) larger than `size`
 * bytes. The stream is left open after the last chunk: the server must answer
 * 413 from what it has read, without waiting for an end that never comes.
 */
async function postChunked(
  url: string,
  count: number,
  size: number,
): Promise<{ status: number; body: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-npy' },
    body: new ReadableStream({
      start(controller) {
        for (let i = 0; i < count; i++) controller.enqueue(new Uint8Array(size));
      },
    }),
    duplex: 'half',
  });
  return { status: response.status, body: await response.text() };
}

describe('an unmodified SageMaker Runtime client pointed at the gateway', () => {
  const client = () =>
    new SageMakerRuntimeClient({
      endpoint: base,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });

  it('invokes iris, honours TargetVariant and reports it back, with the direct answer', async () => {
    const backend = embeddedDefaultConfig(0).models['iris']?.variants['v2']?.backend;
    const direct = await createModelRuntime({
      modelDir: backend?.type === 'local' ? backend.model : '',
      modelName: 'iris',
      logger: silent,
    });
    try {
      const expected = await direct.invoke({
        requestId: 'direct',
        body: new TextEncoder().encode(ROWS),
        contentType: 'text/csv',
        accept: 'application/json',
        customAttributes: undefined,
        deadline: Date.now() + 10_000,
        enqueuedAt: Date.now(),
      });
      if (!expected.ok) throw new Error(expected.error.message);
      const output = await client().send(
        new InvokeEndpointCommand({
          EndpointName: 'iris',
          Body: new TextEncoder().encode(ROWS),
          ContentType: 'text/csv',
          Accept: 'application/json',
          TargetVariant: 'v2',
          CustomAttributes: 'trace=abc',
        }),
      );
      expect(output.InvokedProductionVariant).toBe('v2');
      expect(output.ContentType).toBe('application/json');
      expect(output.CustomAttributes).toBe('trace=abc');
      expect(new TextDecoder().decode(output.Body)).toBe(new TextDecoder().decode(expected.body));
    } finally {
      await direct.close();
    }
  });

  it('raises the typed ValidationError, with our message, for an unknown variant', async () => {
    const failure = client().send(
      new InvokeEndpointCommand({
        EndpointName: 'iris',
        Body: new TextEncoder().encode(ROWS),
        ContentType: 'text/csv',
        TargetVariant: 'v9',
      }),
    );
    await expect(failure).rejects.toBeInstanceOf(ValidationError);
    await expect(failure).rejects.toThrow('unknown target variant "v9"; the model has "v1", "v2"');
  });
});

describe.each([
  ['SageMaker route', '/endpoints/iris/invocations', '/endpoints/nope/invocations'],
  ['plain route', '/v1/models/iris/invoke', '/v1/models/nope/invoke'],
])('validation before any backend call (%s)', (_name, path, unknownPath) => {
  async function expectError(response: Response, status: number, code: string): Promise<string> {
    expect(response.status).toBe(status);
    const body = (await response.json()) as {
      error: { code: string; message: string; requestId: string };
    };
    expect(body.error.code).toBe(code);
    expect(body.error.requestId).toBe(response.headers.get('x-request-id'));
    return body.error.message;
  }

  it('415 for a Content-Type the model does not take', async () => {
    const message = await expectError(
      await post(path, '<x/>', { 'Content-Type': 'application/xml' }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    expect(message).toContain('supported: application/json, text/csv');
    await expectError(await post(path, ROWS, {}), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('400 for a request without a body', async () => {
    const message = await expectError(
      await post(path, '', { 'Content-Type': 'text/csv' }),
      400,
      'INVALID_INPUT',
    );
    expect(message).toBe('the request has no body');
  });

  it('406 for an Accept it cannot satisfy', async () => {
    await expectError(
      await post(path, ROWS, { 'Content-Type': 'text/csv', Accept: 'image/png' }),
      406,
      'NOT_ACCEPTABLE',
    );
  });

  it('404 for an unknown model, 400 for an unknown variant or a bad body', async () => {
    expect(
      await expectError(
        await post(unknownPath, ROWS, { 'Content-Type': 'text/csv' }),
        404,
        'NOT_FOUND',
      ),
    ).toContain('known models: iris');
    await expectError(
      await post(path, ROWS, {
        'Content-Type': 'text/csv',
        'X-Amzn-SageMaker-Target-Variant': 'v9',
      }),
      400,
      'INVALID_INPUT',
    );
    await expectError(
      await post(path, '1,2\n', { 'Content-Type': 'text/csv' }),
      400,
      'INVALID_INPUT',
    );
  });

  it('413 for a body over the model limit, chunked or not', async () => {
    const big = new Uint8Array(6 * 1024 * 1024 + 1);
    await expectError(
      await post(path, big, { 'Content-Type': 'application/x-npy' }),
      413,
      'PAYLOAD_TOO_LARGE',
    );
    const chunked = await postChunked(`${base}${path}`, 7, 1024 * 1024);
    expect(chunked.status).toBe(413);
    expect(chunked.body).toContain('"code":"PAYLOAD_TOO_LARGE"');
  });

  it('400 for a target model on a variant that serves one model', async () => {
    const message = await expectError(
      await post(path, ROWS, {
        'Content-Type': 'text/csv',
        'X-Amzn-SageMaker-Target-Model': 'other.tar.gz',
      }),
      400,
      'INVALID_INPUT',
    );
    expect(message).toContain('serves one model');
  });

  it('200 with the variant it chose', async () => {
    const response = await post(path, ROWS, { 'Content-Type': 'text/csv', Accept: 'text/csv' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/csv');
    expect(['v1', 'v2']).toContain(response.headers.get('x-amzn-invoked-production-variant'));
    expect((await response.text()).trim().split('\n')).toHaveLength(2);
  });
});

describe('registry routes', () => {
  it('lists models with variants, weights, shares, backends and health', async () => {
    const list = (await (await app.request('/v1/models')).json()) as { models: { name: string }[] };
    expect(list.models.map((m) => m.name)).toEqual(['iris']);
    const detail = await (await app.request('/v1/models/iris')).json();
    expect(detail).toMatchObject({
      name: 'iris',
      variants: [
        { name: 'v1', weight: 50, share: 0.5, backend: 'local', healthy: true },
        { name: 'v2', weight: 50, share: 0.5, backend: 'local', healthy: true },
      ],
    });
    expect((await app.request('/v1/models/nope')).status).toBe(404);
  });

  it('changes weights, refusing unknown variants and all-zero splits', async () => {
    const put = (body: unknown) =>
      app.request('/v1/models/iris/weights', {
        method: 'PUT',
        body: JSON.stringify(body),
        headers: { 'Content-Type': 'application/json' },
      });
    expect((await put({ weights: { v9: 1 } })).status).toBe(400);
    expect((await put({ weights: { v1: 0, v2: 0 } })).status).toBe(400);
    expect((await put({ nonsense: true })).status).toBe(400);
    const asText = await app.request('/v1/models/iris/weights', {
      method: 'PUT',
      body: '{"weights": {"v1": 1}}',
      headers: { 'Content-Type': 'text/plain' },
    });
    expect(asText.status).toBe(415);
    expect(
      (
        await app.request('/v1/models/nope/weights', {
          method: 'PUT',
          body: '{}',
          headers: { 'Content-Type': 'application/json' },
        })
      ).status,
    ).toBe(404);
    const changed = await put({ weights: { v1: 0 } });
    expect(await changed.json()).toMatchObject({
      variants: [
        { name: 'v1', share: 0 },
        { name: 'v2', share: 1 },
      ],
    });
    for (let i = 0; i < 20; i++) {
      const r = await post('/v1/models/iris/invoke', ROWS, { 'Content-Type': 'text/csv' });
      expect(r.headers.get('x-amzn-invoked-production-variant')).toBe('v2');
    }
    await put({ weights: { v1: 50 } });
  });

  it('answers /ping and /health/ready', async () => {
    expect((await app.request('/ping')).status).toBe(200);
    expect(await (await app.request('/health/ready')).json()).toEqual({ status: 'ready' });
    expect((await app.request('/nowhere')).status).toBe(404);
  });
});

describe('uploads that stall', () => {
  let slowModels: ModelRegistry;
  let slowServer: ServerType;
  let port = 0;

  beforeAll(async () => {
    const config = embeddedDefaultConfig(0);
    const iris = config.models['iris'];
    if (iris === undefined) throw new Error('the embedded default has no iris');
    slowModels = await createModelRegistry(
      { ...config, models: { iris: { ...iris, timeoutMs: 400 } } },
      silent,
    );
    const slowApp = createApp({ models: slowModels, logger: silent });
    await new Promise<void>((resolve) => {
      slowServer = serve({ fetch: slowApp.fetch, port: 0 }, (info: AddressInfo) => {
        port = info.port;
        resolve();
      });
    });
  });
  afterAll(async () => {
    await new Promise<void>((resolve) =>
      slowServer.close(() => {
        resolve();
      }),
    );
    await closeRegistry(slowModels);
  });

  /**
   * Sends the headers and `sent` of `declared` bytes (or one chunk of a chunked
   * body, when `declared` is undefined), then nothing; what comes back.
   */
  const stall = (declared: number | undefined, sent: number) =>
    new Promise<{ text: string; closedAfterMs: number }>((resolve, reject) => {
      const started = performance.now();
      const socket = connect(port, '127.0.0.1', () => {
        const length =
          declared === undefined
            ? `Transfer-Encoding: chunked\r\n\r\n${sent.toString(16)}\r\n${'1'.repeat(sent)}\r\n`
            : `Content-Length: ${declared}\r\n\r\n${'1'.repeat(sent)}`;
        socket.write(
          `POST /endpoints/iris/invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n${length}`,
        );
      });
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('error', reject);
      socket.on('close', () => {
        resolve({ text, closedAfterMs: performance.now() - started });
      });
    });

  it.each([
    ['a declared length', 1000],
    ['a chunked body', undefined],
  ])(
    'answers 408 with a JSON error at the model deadline, and closes the connection (%s)',
    async (_, declared) => {
      const { text, closedAfterMs } = await stall(declared, 100);
      expect(text).toMatch(/^HTTP\/1\.1 408 /);
      expect(text.toLowerCase()).toContain('connection: close');
      const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as {
        error: { code: string; message: string };
      };
      expect(body.error).toMatchObject({
        code: 'REQUEST_TIMEOUT',
        message: 'the request body did not arrive within 400 ms',
      });
      // Well before Node's own request timeout (300 s): the server let go of it.
      expect(closedAfterMs).toBeLessThan(10_000);
    },
  );
});
