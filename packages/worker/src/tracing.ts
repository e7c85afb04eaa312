import {
  ROOT_CONTEXT,
  SpanKind,
  propagation,
  trace,
  type Attributes,
  type Link,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';
import type { BatchTiming, RuntimeResult } from './runtime/types.js';

/**
 * The worker's tracer. Without an SDK (none is started unless `OTEL_*` asks for
 * one) every span it makes is a non-recording no-op.
 */
const tracer = trace.getTracer('@switchyard/worker');

/**
 * The CONSUMER span of one job: a child of the producer span whose W3C context
 * the job carries (`traceContext`), or a root span when it carries none.
 */
export function startJobSpan(
  queue: string,
  jobId: string | undefined,
  traceContext: { traceparent: string; tracestate?: string | undefined } | undefined,
): Span {
  const parent =
    traceContext === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, traceContext);
  const span = tracer.startSpan('queue.process', { kind: SpanKind.CONSUMER }, parent);
  if (span.isRecording()) {
    span.setAttributes({
      'messaging.system': 'bullmq',
      'messaging.operation.type': 'process',
      'messaging.destination.name': queue,
      ...(jobId === undefined ? {} : { 'messaging.message.id': jobId }),
    });
  }
  return span;
}

interface OpenBatch {
  readonly timing: BatchTiming;
  readonly size: number;
  seen: number;
  failed: number;
  readonly links: Link[];
}

/**
 * Records one `model.batch` span per batch the model thread ran. The thread
 * reports each request's batch (id, start and end) with its result; once every
 * request of a batch has reported, the span is recorded with those times and a
 * link to each traced request's `queue.process` span, as a child of the first
 * of them (so that request's trace reaches the model). Requests without a span
 * (batch-job records) count towards the batch but add no link; a batch with no
 * traced request records nothing.
 *
 * Until a job's span records (no SDK, or nothing sampled yet) this does nothing
 * at all: tracing off costs one check per result.
 */
export class BatchSpans {
  private active = false;
  private readonly open = new Map<number, OpenBatch>();

  constructor(
    private readonly attributes: Attributes,
    /** Batches whose requests have not all reported (a request lost with a dead thread). */
    private readonly maxOpen = 1024,
  ) {}

  /** Whether results need reporting (some job's span has recorded). */
  get enabled(): boolean {
    return this.active;
  }

  /** Note a job's span before its request reaches the model. */
  noteJob(span: Span): void {
    if (!this.active && span.isRecording()) this.active = true;
  }

  /** One request's result, with its job's span where it has one that records. */
  report(result: RuntimeResult, member: Span | undefined): void {
    if (!this.active) return;
    const { batch, batchSize } = result.timings;
    if (batch === undefined || batchSize < 1) return;
    let open = this.open.get(batch.id);
    if (open === undefined) {
      open = { timing: batch, size: batchSize, seen: 0, failed: 0, links: [] };
      this.open.set(batch.id, open);
    }
    open.seen++;
    if (!result.ok) open.failed++;
    if (member?.isRecording() === true) open.links.push({ context: member.spanContext() });
    if (open.seen >= open.size) {
      this.open.delete(batch.id);
      this.record(open);
    } else if (this.open.size > this.maxOpen) {
      const [oldest] = this.open.values();
      if (oldest !== undefined) {
        this.open.delete(oldest.timing.id);
        this.record(oldest);
      }
    }
  }

  /** Record the batches still waiting for requests (at shutdown). */
  flush(): void {
    for (const open of this.open.values()) this.record(open);
    this.open.clear();
  }

  private record(open: OpenBatch): void {
    const [first] = open.links;
    if (first === undefined) return;
    const parent: SpanContext = first.context;
    const span = tracer.startSpan(
      'model.batch',
      {
        kind: SpanKind.INTERNAL,
        startTime: open.timing.startedAt,
        links: open.links,
        attributes: {
          ...this.attributes,
          'switchyard.batch.id': open.timing.id,
          'switchyard.batch.size': open.size,
          'switchyard.batch.failed': open.failed,
          'switchyard.batch.traced': open.links.length,
        },
      },
      trace.setSpanContext(ROOT_CONTEXT, parent),
    );
    span.end(open.timing.endedAt);
  }
}

/** Whether the standard `OTEL_*` variables ask for traces to be exported. */
function tracingConfigured(env: NodeJS.ProcessEnv): boolean {
  if (env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') return false;
  const exporters = env['OTEL_TRACES_EXPORTER']?.trim();
  if (exporters === 'none') return false;
  return (
    (exporters !== undefined && exporters !== '') ||
    (env['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? '') !== '' ||
    (env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] ?? '') !== ''
  );
}

/**
 * Start the OpenTelemetry Node SDK, configured by the standard `OTEL_*` variables,
 * when they ask for traces (`OTEL_TRACES_EXPORTER`, `OTEL_EXPORTER_OTLP_ENDPOINT`,
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) and `OTEL_SDK_DISABLED` is not `true`;
 * otherwise the SDK is not even loaded. Metrics and logs stay off unless their own
 * exporters are named. `shutdown()` flushes the spans still buffered.
 */
export async function startTracing(
  serviceName: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ shutdown(): Promise<void> } | undefined> {
  if (!tracingConfigured(env)) return undefined;
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const named =
    (env['OTEL_SERVICE_NAME'] ?? '') !== '' ||
    /(^|,)\s*service\.name\s*=/.test(env['OTEL_RESOURCE_ATTRIBUTES'] ?? '');
  const sdk = new NodeSDK({
    ...(named ? {} : { serviceName }),
    ...((env['OTEL_METRICS_EXPORTER'] ?? '') === '' ? { metricReaders: [] } : {}),
    ...((env['OTEL_LOGS_EXPORTER'] ?? '') === '' ? { logRecordProcessors: [] } : {}),
  });
  sdk.start();
  return sdk;
}
