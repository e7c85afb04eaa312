import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import {
  startOtlpCollector,
  type CollectedSpan,
  type OtlpCollector,
} from '../support/otlp-collector.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import {
  startModelContainer,
  startSageMakerEmulator,
  type ModelContainer,
  type SageMakerEmulator,
} from '../support/sagemaker-emulator.js';
import { MODELS, startWorkerProcess, type WorkerProcess } from '../support/worker-process.js';

const ROW = '5.1,3.5,1.4,0.2\n';
// OTLP span kinds.
const SERVER = 2;
const CLIENT = 3;
const PRODUCER = 4;
const CONSUMER = 5;
const REQUESTS = 6;

// The helpers spawn with process.env: these reach the gateway and the worker.
const OTEL_ENV = [
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_PROTOCOL',
  'OTEL_SERVICE_NAME',
  'OTEL_BSP_SCHEDULE_DELAY',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
] as const;

describe('tracing across gateway and worker processes (OTLP)', () => {
  const queue = `test-${randomUUID()}`;
  const saved = new Map(OTEL_ENV.map((name) => [name, process.env[name]]));
  let collector: OtlpCollector;
  let redis: RedisServer;
  let dir: string;
  let worker: WorkerProcess;
  let gateway: GatewayProcess;
  let emulator: SageMakerEmulator;
  let container: ModelContainer;

  beforeAll(async () => {
    collector = await startOtlpCollector();
    redis = await startRedisServer();
    dir = await mkdtemp(join(tmpdir(), 'switchyard-tracing-'));
    // The model container behind the emulated SageMaker endpoint (untraced, in this process).
    container = await startModelContainer(join(MODELS, 'iris-v1'), 'iris');
    emulator = await startSageMakerEmulator();
    emulator.set('iris-prod', { kind: 'forward', to: container.url });

    process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] = collector.url;
    process.env['OTEL_EXPORTER_OTLP_PROTOCOL'] = 'http/json';
    process.env['AWS_ACCESS_KEY_ID'] ??= 'test';
    process.env['AWS_SECRET_ACCESS_KEY'] ??= 'test';
    // The worker exports every 100 ms; a request waits up to 50 ms for others to batch with.
    process.env['OTEL_SERVICE_NAME'] = 'test-worker';
    process.env['OTEL_BSP_SCHEDULE_DELAY'] = '100';
    worker = await startWorkerProcess(
      [
        ...['--model', join(MODELS, 'iris-v2'), '--model-name', 'iris', '--queue', queue],
        ...['--max-delay-ms', '50'],
      ],
      redis.url,
    );
    // The gateway would export only after a minute: its spans arrive through the
    // flush on SIGTERM.
    process.env['OTEL_SERVICE_NAME'] = 'test-gateway';
    process.env['OTEL_BSP_SCHEDULE_DELAY'] = '60000';
    gateway = await startGatewayProcess(
      {
        redis: { url: redis.url },
        models: {
          iris: { variants: { gpu: { weight: 1, backend: { type: 'queue', queue } } } },
          'iris-sm': {
            variants: {
              aws: {
                weight: 1,
                backend: { type: 'sagemaker', endpointName: 'iris-prod', endpoint: emulator.url },
              },
            },
          },
        },
      },
      dir,
    );
  });
  afterAll(async () => {
    for (const [name, value] of saved) {
      if (value === undefined) Reflect.deleteProperty(process.env, name);
      else process.env[name] = value;
    }
    for (const p of [gateway, worker]) p.child.kill('SIGKILL');
    await Promise.all([gateway.exited, worker.exited]);
    await emulator.close();
    await container.close();
    await collector.close();
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const invoke = (model: string): Promise<Response> =>
    fetch(`${gateway.url}/endpoints/${model}/invocations`, {
      method: 'POST',
      body: ROW,
      headers: { 'Content-Type': 'text/csv', Accept: 'application/json' },
    });

  it('shares one trace id from the gateway through the queue to the worker batch, and to SageMaker', async () => {
    const answers = await Promise.all([
      ...Array.from({ length: REQUESTS }, () => invoke('iris')),
      invoke('iris-sm'),
    ]);
    expect(answers.map((a) => a.status)).toEqual(new Array(REQUESTS + 1).fill(200));

    // The worker's spans come on their own; the gateway's when it stops.
    const named = (spans: readonly CollectedSpan[], service: string, name: string) =>
      spans.filter((s) => s.service === service && s.name === name);
    await collector.waitFor(
      (spans) => named(spans, 'test-worker', 'queue.process').length === REQUESTS,
      10_000,
    );
    gateway.child.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    const spans = collector.spans;

    // gateway `invoke iris` (SERVER) → `queue.send` (PRODUCER) → worker `queue.process` (CONSUMER)
    const requests = named(spans, 'test-gateway', 'invoke iris');
    expect(requests).toHaveLength(REQUESTS);
    expect(new Set(requests.map((r) => r.traceId)).size).toBe(REQUESTS);
    const processed: CollectedSpan[] = [];
    for (const request of requests) {
      expect(request).toMatchObject({
        kind: SERVER,
        parentSpanId: undefined,
        attributes: {
          'switchyard.model': 'iris',
          'switchyard.variant': 'gpu',
          'switchyard.backend': 'queue',
          'switchyard.status_code': 200,
        },
      });
      const sends = spans.filter(
        (s) => s.name === 'queue.send' && s.parentSpanId === request.spanId,
      );
      expect(sends).toHaveLength(1);
      const send = sends[0] as CollectedSpan;
      expect(send).toMatchObject({
        service: 'test-gateway',
        traceId: request.traceId,
        kind: PRODUCER,
        attributes: { 'messaging.system': 'bullmq', 'messaging.destination.name': queue },
      });
      const consumed = spans.filter((s) => s.parentSpanId === send.spanId);
      expect(consumed).toHaveLength(1);
      expect(consumed[0]).toMatchObject({
        service: 'test-worker',
        name: 'queue.process',
        traceId: request.traceId,
        kind: CONSUMER,
      });
      processed.push(consumed[0] as CollectedSpan);
    }

    // One `model.batch` span per batch, linked to each of its requests' `queue.process`
    // spans, a child of the first of them; every request is in exactly one batch.
    const batches = named(spans, 'test-worker', 'model.batch');
    expect(batches.length).toBeGreaterThanOrEqual(1);
    const linked = batches.flatMap((b) => b.links);
    expect(linked).toHaveLength(REQUESTS);
    expect(new Set(linked.map((l) => `${l.traceId}/${l.spanId}`))).toEqual(
      new Set(processed.map((p) => `${p.traceId}/${p.spanId}`)),
    );
    for (const batch of batches) {
      const first = batch.links[0];
      expect(batch).toMatchObject({
        traceId: first?.traceId,
        parentSpanId: first?.spanId,
        attributes: {
          'switchyard.model': 'iris',
          'switchyard.batch.size': batch.links.length,
          'switchyard.batch.failed': 0,
        },
      });
      expect(batch.endMs).toBeGreaterThanOrEqual(batch.startMs);
      // The batch ran while each of its requests was being processed (to the
      // millisecond: the thread's times are whole milliseconds).
      for (const link of batch.links) {
        const member = processed.find((p) => p.spanId === link.spanId) as CollectedSpan;
        expect(batch.startMs).toBeGreaterThanOrEqual(member.startMs - 1);
        expect(batch.endMs).toBeLessThanOrEqual(member.endMs + 1);
      }
    }

    // gateway `invoke iris-sm` (SERVER) → `sagemaker.InvokeEndpoint` (CLIENT), one trace.
    const [smRequest, ...more] = named(spans, 'test-gateway', 'invoke iris-sm');
    expect(more).toEqual([]);
    expect(smRequest).toMatchObject({
      kind: SERVER,
      attributes: { 'switchyard.backend': 'sagemaker', 'switchyard.status_code': 200 },
    });
    const calls = spans.filter((s) => s.parentSpanId === smRequest?.spanId);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      service: 'test-gateway',
      name: 'sagemaker.InvokeEndpoint',
      traceId: smRequest?.traceId,
      kind: CLIENT,
      attributes: { 'aws.sagemaker.endpoint_name': 'iris-prod' },
    });
  });
});
