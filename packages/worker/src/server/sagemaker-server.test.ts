import { join } from 'node:path';
import { createTensor, decode, encode, isTensor } from '@switchyard/handlers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODELS, silentLogger } from '../../test/fixtures.js';
import { createWorkerMetrics, instrument, type WorkerMetrics } from '../metrics.js';
import { startModelHost, type ModelHost } from '../runtime/model-host.js';
import { serveSageMaker, type SageMakerServer } from './sagemaker-server.js';

describe('SageMaker container server over real HTTP (iris-v1)', () => {
  let host: ModelHost;
  let server: SageMakerServer;
  let metrics: WorkerMetrics;
  let base: string;
  beforeAll(async () => {
    metrics = createWorkerMetrics({ model: 'iris' });
    const started = await startModelHost({
      modelDir: join(MODELS, 'iris-v1'),
      modelName: 'iris',
      logger: silentLogger,
    });
    host = instrument(started, metrics);
    server = await serveSageMaker({ host, port: 0, logger: silentLogger, metrics });
    base = `http://127.0.0.1:${server.port}`;
  });
  afterAll(async () => {
    await server.close();
    await host.close();
  });

  const invoke = (body: NonNullable<RequestInit['body']>, headers: Record<string, string>) =>
    fetch(`${base}/invocations`, { method: 'POST', body, headers });

  it('answers /ping once the model is warm', async () => {
    const ping = await fetch(`${base}/ping`);
    expect(ping.status).toBe(200);
    expect(await ping.json()).toMatchObject({ status: 'healthy', model: 'iris' });
  });

  it('takes JSON, CSV and NPY and answers in the Accept type', async () => {
    const json = await invoke('[[5.1, 3.5, 1.4, 0.2]]', { 'Content-Type': 'application/json' });
    expect(json.status).toBe(200);
    expect(json.headers.get('content-type')).toBe('application/json');
    const probabilities = (await json.json()) as number[][];
    expect(probabilities[0]).toHaveLength(3);

    const csv = await invoke('5.1,3.5,1.4,0.2\n', {
      'Content-Type': 'text/csv',
      Accept: 'text/csv',
    });
    expect(csv.headers.get('content-type')).toBe('text/csv');
    // The same float32 values, whatever their decimal spelling.
    const fromCsv = (await csv.text())
      .trim()
      .split(',')
      .map((x) => Math.fround(Number(x)));
    expect(fromCsv).toEqual(probabilities[0]?.map((p) => Math.fround(p)));

    const npyIn = encode(
      createTensor('float32', [1, 4], new Float32Array([5.1, 3.5, 1.4, 0.2])),
      'application/x-npy',
    );
    const npy = await invoke(new Blob([npyIn.body]), {
      'Content-Type': 'application/x-npy',
      Accept: 'application/x-npy',
    });
    expect(npy.headers.get('content-type')).toBe('application/x-npy');
    const tensor = decode(new Uint8Array(await npy.arrayBuffer()), 'application/x-npy');
    expect(isTensor(tensor) && tensor.shape).toEqual([1, 3]);
  });

  it('echoes the custom attributes header', async () => {
    const response = await invoke('[[5.1, 3.5, 1.4, 0.2]]', {
      'Content-Type': 'application/json',
      'X-Amzn-SageMaker-Custom-Attributes': 'trace=abc',
    });
    expect(response.headers.get('x-amzn-sagemaker-custom-attributes')).toBe('trace=abc');
  });

  it.each([
    [{ 'Content-Type': 'application/xml' }, '<x/>', 415, 'UNSUPPORTED_MEDIA_TYPE'],
    [
      { 'Content-Type': 'application/json', Accept: 'image/png' },
      '[[1, 2, 3, 4]]',
      406,
      'NOT_ACCEPTABLE',
    ],
    [{ 'Content-Type': 'application/json' }, '[[1, 2], [3]]', 400, 'INVALID_INPUT'],
    [{ 'Content-Type': 'text/csv' }, '1,2,3\n', 400, 'INVALID_INPUT'],
  ])('answers %j with %i', async (headers, body, status, code) => {
    const response = await invoke(body, headers);
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const payload = (await response.json()) as {
      error: { code: string; message: string; requestId: string };
    };
    expect(payload.error.code).toBe(code);
    expect(payload.error.message.length).toBeGreaterThan(10);
    expect(payload.error.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses a body over 6 MB with 413, chunked or not', async () => {
    const big = new Uint8Array(6 * 1024 * 1024 + 1);
    const response = await invoke(new Blob([big]), { 'Content-Type': 'application/x-npy' });
    expect(response.status).toBe(413);
    const chunked = await fetch(`${base}/invocations`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-npy' },
      body: new ReadableStream({
        // Left open after 7 MiB: the server must answer from what it has read.
        start(controller) {
          for (let i = 0; i < 7; i++) controller.enqueue(new Uint8Array(1024 * 1024));
        },
      }),
      duplex: 'half',
    });
    expect(chunked.status).toBe(413);
  });

  it('counts requests and failures by code on /metrics', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(
      /switchyard_worker_requests_total\{outcome="ok",model="iris",variant=""\} \d+/,
    );
    expect(text).toMatch(
      /switchyard_worker_failures_total\{code="INVALID_INPUT",model="iris",variant=""\} [1-9]/,
    );
    expect(text).toContain('switchyard_worker_model_execution_seconds_bucket');
    expect(text).not.toMatch(/requestId|req-/);
  });
});
