import { Counter, Histogram, Registry } from 'prom-client';
import type { ModelRuntime } from './runtime/model-runtime.js';
import type { RuntimeResult } from './runtime/types.js';

const MODEL_LABELS = ['model', 'variant'] as const;
const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Prometheus metrics of one worker process; labels are model and variant only. */
export interface WorkerMetrics {
  readonly registry: Registry;
  /** Record one result; `labels` override the model and variant given at creation. */
  record(result: RuntimeResult, labels?: MetricLabels): void;
}

/** A multi-model worker labels each result with the model and variant that answered. */
export interface MetricLabels {
  readonly model: string;
  readonly variant: string;
}

/**
 * The worker's metrics: batch sizes, queue and batch waits, model execution time,
 * requests dropped for their deadline, failures by code.
 *
 * @example
 * ```ts
 * const metrics = createWorkerMetrics({ model: 'iris', variant: 'A' });
 * const runtime = instrument(host, metrics);
 * ```
 */
export function createWorkerMetrics(labels: {
  model: string;
  variant?: string | undefined;
}): WorkerMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ model: labels.model, variant: labels.variant ?? '' });
  const batchSize = new Histogram({
    name: 'switchyard_worker_batch_size',
    help: 'Requests in the batch each request was computed in',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    labelNames: MODEL_LABELS,
    registers: [registry],
  });
  const queueWait = new Histogram({
    name: 'switchyard_worker_queue_wait_seconds',
    help: 'Time from enqueue to arrival at the model',
    buckets: SECONDS,
    labelNames: MODEL_LABELS,
    registers: [registry],
  });
  const batchWait = new Histogram({
    name: 'switchyard_worker_batch_wait_seconds',
    help: 'Time from arrival at the model to the start of its batch',
    buckets: SECONDS,
    labelNames: MODEL_LABELS,
    registers: [registry],
  });
  const execution = new Histogram({
    name: 'switchyard_worker_model_execution_seconds',
    help: 'Handler chain time of the batch each request was computed in',
    buckets: SECONDS,
    labelNames: MODEL_LABELS,
    registers: [registry],
  });
  const requests = new Counter({
    name: 'switchyard_worker_requests_total',
    help: 'Requests answered, by outcome',
    labelNames: ['outcome', ...MODEL_LABELS],
    registers: [registry],
  });
  const failures = new Counter({
    name: 'switchyard_worker_failures_total',
    help: 'Failed requests by error code',
    labelNames: ['code', ...MODEL_LABELS],
    registers: [registry],
  });
  const dropped = new Counter({
    name: 'switchyard_worker_dropped_deadline_total',
    help: 'Requests dropped before compute because their deadline had passed',
    labelNames: MODEL_LABELS,
    registers: [registry],
  });
  return {
    registry,
    record(result, labels) {
      const l = labels ?? {};
      const t = result.timings;
      queueWait.observe(l, t.queueMs / 1000);
      requests.inc({ ...l, outcome: result.ok ? 'ok' : 'error' });
      if (!result.ok) {
        failures.inc({ ...l, code: result.error.code });
        if (result.error.code === 'TIMEOUT' && t.computeMs === 0) dropped.inc(l);
      }
      if (t.batchSize > 0) {
        batchSize.observe(l, t.batchSize);
        batchWait.observe(l, t.batchWaitMs / 1000);
        execution.observe(l, t.computeMs / 1000);
      }
    },
  };
}

/** The same runtime, recording every result in `metrics` (with `labels`, if given). */
export function instrument<T extends ModelRuntime>(
  runtime: T,
  metrics: WorkerMetrics,
  labels?: MetricLabels,
): T {
  return Object.assign(Object.create(runtime) as T, {
    async invoke(request: Parameters<ModelRuntime['invoke']>[0]) {
      const result = await runtime.invoke(request);
      metrics.record(result, labels);
      return result;
    },
  });
}
