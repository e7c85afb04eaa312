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
