import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import {
  closeRegistry,
  createApp,
  createModelRegistry,
  resolveGatewayConfig,
} from '@switchyard/gateway';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import {
  startModelContainer,
  startSageMakerEmulator,
  type ModelContainer,
  type SageMakerEmulator,
} from '../support/sagemaker-emulator.js';
import { MODELS, startWorkerProcess, type WorkerProcess } from '../support/worker-process.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const ROWS = '5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5\n';

describe('gateway → SageMaker endpoint (emulated), with fallback to a queue variant', () => {
  const redisUrl = inject('redisUrl');
  const queue = `test-${randomUUID()}`;
  let emulator: SageMakerEmulator;
  let container: ModelContainer;
  let worker: WorkerProcess;
  let app: ReturnType<typeof createApp>;
  let models: Awaited<ReturnType<typeof createModelRegistry>>;

  beforeAll(async () => {
    process.env['AWS_ACCESS_KEY_ID'] ??= 'test';
    process.env['AWS_SECRET_ACCESS_KEY'] ??= 'test';
    // The model container behind the emulated endpoint: a worker in serve mode.
    container = await startModelContainer(join(MODELS, 'iris-v1'), 'iris');
    emulator = await startSageMakerEmulator();
    worker = await startWorkerProcess(
      ['--model', join(MODELS, 'iris-v2'), '--queue', queue],
      redisUrl,
    );
    const config = resolveGatewayConfig({
      redis: { url: redisUrl },
      models: {
        iris: {
          fallback: ['queue'],
          variants: {
            sm: {
              weight: 1,
              backend: { type: 'sagemaker', endpointName: 'iris-prod', endpoint: emulator.url },
            },
            queue: { weight: 0, backend: { type: 'queue', queue } },
          },
        },
      },
    });
    models = await createModelRegistry(config, silent);
    app = createApp({ models, logger: silent });
  });
  afterAll(async () => {
    worker.child.kill('SIGTERM');
    await worker.exited;
    await closeRegistry(models);
    await emulator.close();
    await container.close();
  });
  beforeEach(() => {
    emulator.calls.clear();
    emulator.set('iris-prod', { kind: 'forward', to: container.url });
  });

  const invoke = async (headers: Record<string, string> = {}): Promise<Response> =>
    app.request('/endpoints/iris/invocations', {
      method: 'POST',
      body: ROWS,
      headers: { 'Content-Type': 'text/csv', Accept: 'application/json', ...headers },
    });

  it('calls the endpoint through the SDK and answers with its result', async () => {
    const response = await invoke({ 'X-Amzn-SageMaker-Custom-Attributes': 'trace=1' });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-amzn-invoked-production-variant')).toBe('sm');
    expect(response.headers.get('x-amzn-sagemaker-custom-attributes')).toBe('trace=1');
    expect(((await response.json()) as number[][]).length).toBe(2);
    expect(emulator.calls.get('iris-prod')).toBe(1);
  });

  it('falls back to the queue variant when the endpoint throttles', async () => {
    emulator.set('iris-prod', { kind: 'throttle' });
    const response = await invoke();
    expect(response.status).toBe(200);
    expect(response.headers.get('x-amzn-invoked-production-variant')).toBe('queue');
    expect(emulator.calls.get('iris-prod')).toBe(1); // the SDK did not retry on its own
  });

  it.each(['unavailable', 'internal'] as const)('falls back on %s too', async (kind) => {
    emulator.set('iris-prod', { kind });
    const response = await invoke();
    expect(response.status).toBe(200);
    expect(response.headers.get('x-amzn-invoked-production-variant')).toBe('queue');
  });

  it('answers a ModelError with 424 and the original status, without retrying', async () => {
    emulator.set('iris-prod', { kind: 'model-error', status: 400, message: 'bad feature vector' });
    const response = await invoke();
    expect(response.status).toBe(424);
    expect(response.headers.get('x-amzn-errortype')).toBe('ModelError');
    expect(response.headers.get('x-amzn-invoked-production-variant')).toBe('sm');
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error).toMatchObject({
      code: 'MODEL_ERROR',
      message: 'the model answered 400: bad feature vector',
    });
    expect(emulator.calls.get('iris-prod')).toBe(1);
  });

  it('does not fall back from an explicitly targeted variant', async () => {
    emulator.set('iris-prod', { kind: 'throttle' });
    const response = await invoke({ 'X-Amzn-SageMaker-Target-Variant': 'sm' });
    expect(response.status).toBe(429);
    // Throttled by SageMaker, the caller is told when to come back.
    expect(response.headers.get('retry-after')).toBe('1');
  });

  it('aborts the call at the deadline', async () => {
    const slow = resolveGatewayConfig({
      models: {
        m: {
          timeoutMs: 300,
          variants: {
            sm: {
              weight: 1,
              backend: { type: 'sagemaker', endpointName: 'slow', endpoint: emulator.url },
            },
          },
        },
      },
    });
    emulator.set('slow', { kind: 'delay', ms: 3_000, then: { kind: 'throttle' } });
    const registry = await createModelRegistry(slow, silent);
    try {
      const started = performance.now();
      const response = await createApp({ models: registry, logger: silent }).request(
        '/endpoints/m/invocations',
        {
          method: 'POST',
          body: ROWS,
          headers: { 'Content-Type': 'text/csv' },
        },
      );
      expect(response.status).toBe(504);
      expect(performance.now() - started).toBeLessThan(1_500);
    } finally {
      await closeRegistry(registry);
    }
  });
});
