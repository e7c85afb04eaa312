import {
  SpanStatusCode,
  context,
  propagation,
  trace,
  type Span,
  type SpanKind,
} from '@opentelemetry/api';
import type { BackendResponse } from './backends/backend.js';

/**
 * The gateway's tracer. Without an SDK (none is started unless `OTEL_*` asks for
 * one) every span it makes is a non-recording no-op.
 */
export const tracer = trace.getTracer('@switchyard/gateway');

/**
 * A child span of the active span, where there is one: a backend call outside a
 * request's span (a batch job's record) makes none. Under a sampled-out request
 * the child is a non-recording span that still carries the decision onwards.
 */
export function startChildSpan(
  name: string,
  kind: SpanKind.CLIENT | SpanKind.PRODUCER,
): Span | undefined {
  return trace.getActiveSpan() === undefined ? undefined : tracer.startSpan(name, { kind });
}

/**
 * Run a backend call as `span` (when there is one), and end the span with the
 * call's outcome.
 */
export async function traced(
  span: Span | undefined,
  call: () => Promise<BackendResponse>,
): Promise<BackendResponse> {
  if (span === undefined) return call();
  try {
    const response = await context.with(trace.setSpan(context.active(), span), call);
    if (!response.ok) {
      span.setAttribute('switchyard.error_code', response.error.code);
      span.setStatus({ code: SpanStatusCode.ERROR, message: response.error.message });
    }
    return response;
  } catch (error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    throw error;
  } finally {
    span.end();
  }
}

/** The W3C trace context of the active span, for a job's `traceContext`. */
export function injectTraceContext(): { traceparent: string; tracestate?: string } | undefined {
  const carrier: { traceparent?: string; tracestate?: string } = {};
  propagation.inject(context.active(), carrier);
  const { traceparent, tracestate } = carrier;
  if (traceparent === undefined) return undefined;
  return tracestate === undefined || tracestate === ''
    ? { traceparent }
    : { traceparent, tracestate };
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
