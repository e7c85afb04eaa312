import {
  SpanKind,
  SpanStatusCode,
  context,
  isSpanContextValid,
  trace,
  type Span,
} from '@opentelemetry/api';
import {
  HTTP_STATUS_BY_CODE,
  InferenceError,
  RETRYABLE_CODES,
  type HandlerLogger,
} from '@switchyard/handlers';
import type { BackendRequest, BackendResponse } from '../backends/backend.js';
import { chooseVariant } from '../routing/choose-variant.js';
import { tracer } from '../tracing.js';
import type { ModelState, VariantState } from './model-registry.js';

/** One validated request, as every entry point (sync now, async later) hands it over. */
export interface DispatchRequest extends Omit<BackendRequest, 'deadline'> {
  readonly targetVariant: string | undefined;
  readonly stickyKey: string | undefined;
  /** The gateway's own id for logs (the backend gets `requestId`). */
  readonly logId: string;
  /** Overrides the model's `timeoutMs` (async requests carry their own). */
  readonly timeoutMs?: number | undefined;
}

export interface Dispatched {
  readonly variant: string;
  readonly response: BackendResponse;
}

/**
 * The variants with the weights routing uses: a registered variant with no
 * revision in service counts as weight 0, and so does a variant its canary guard
 * has taken out, unless that would leave no variant at all.
 */
export function routable(model: ModelState): { name: string; weight: number }[] {
  const all = [...model.variants.values()].map((v) => ({
    name: v.name,
    weight: v.deployment !== undefined && v.deployment.serving === undefined ? 0 : v.weight,
    out: v.guard?.inRotation === false,
  }));
  const guarded = all.map((v) => ({ name: v.name, weight: v.out ? 0 : v.weight }));
  return guarded.some((v) => v.weight > 0)
    ? guarded
    : all.map((v) => ({ name: v.name, weight: v.weight }));
}

/** A registered variant that cannot answer: nothing in service, and the newest revision failed. */
function failedDeployment(variant: VariantState): BackendResponse | undefined {
  const d = variant.deployment;
  if (d === undefined || d.serving !== undefined || d.state !== 'Failed') return undefined;
  return {
    ok: false,
    error: new InferenceError(
      'UNAVAILABLE',
      `variant "${variant.name}" revision ${d.revision} failed to load: ${d.reason ?? 'unknown reason'}`,
    ).toJSON(),
  };
}

/**
 * Route one request to a model's variants: choose one (target, sticky key or
 * weights), call its backend, move on through the fallback list on retryable
 * failures while the deadline allows (never away from an explicit target), feed
 * each variant's canary guard, and offer the answered request to the shadow.
 * With tracing on, the request is an `invoke <model>` span, and each backend call
 * its child.
 */
export async function dispatch(
  model: ModelState,
  request: DispatchRequest,
  logger: HandlerLogger,
): Promise<Dispatched> {
  const span = tracer.startSpan(`invoke ${model.name}`, { kind: SpanKind.SERVER });
  // No SDK: a no-op span with no context to pass on, and nothing more to do.
  if (!isSpanContextValid(span.spanContext())) return route(model, request, logger, undefined);
  span.setAttribute('switchyard.model', model.name);
  try {
    const answered = await context.with(trace.setSpan(context.active(), span), () =>
      route(model, request, logger, span),
    );
    const status = answered.response.ok ? 200 : HTTP_STATUS_BY_CODE[answered.response.error.code];
    span.setAttribute('switchyard.status_code', status);
    if (!answered.response.ok) {
      span.setAttribute('switchyard.error_code', answered.response.error.code);
      if (status >= 500)
        span.setStatus({ code: SpanStatusCode.ERROR, message: answered.response.error.message });
    }
    return answered;
  } catch (error) {
    const inference = error instanceof InferenceError ? error : undefined;
    span.setAttribute('switchyard.status_code', inference?.status ?? 500);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    throw error;
  } finally {
    span.end();
  }
}

async function route(
  model: ModelState,
  request: DispatchRequest,
  logger: HandlerLogger,
  span: Span | undefined,
): Promise<Dispatched> {
  const { targetVariant, stickyKey, logId, timeoutMs, ...backendRequest } = request;
  const chosen = chooseVariant(routable(model), { targetVariant, stickyKey });
  const deadline = Date.now() + (timeoutMs ?? model.config.timeoutMs);
  const order =
    targetVariant === undefined
      ? [chosen, ...model.config.fallback.filter((v) => v !== chosen)]
      : [chosen];
  const sent: BackendRequest = { ...backendRequest, deadline };
  let answered: Dispatched | undefined;
  for (const candidate of order) {
    const variant = model.variants.get(candidate);
    if (variant === undefined || Date.now() >= deadline) break;
    span?.setAttributes({
      'switchyard.variant': candidate,
      'switchyard.backend': variant.backend.type,
    });
    const started = performance.now();
    const revision = variant.deployment?.serving ?? variant.deployment?.revision;
    const response =
      failedDeployment(variant) ??
      (await variant.backend.invoke(revision === undefined ? sent : { ...sent, revision }));
    variant.guard?.record({
      code: response.ok ? undefined : response.error.code,
      ms: performance.now() - started,
    });
    answered = { variant: candidate, response };
    if (response.ok || !(response.retryable ?? RETRYABLE_CODES.has(response.error.code))) break;
    span?.addEvent('fallback', {
      'switchyard.variant': candidate,
      'switchyard.error_code': response.error.code,
    });
    logger.warn(
      { requestId: logId, model: model.name, variant: candidate, code: response.error.code },
      'variant failed; trying the next',
    );
  }
  if (answered === undefined)
    throw new InferenceError('TIMEOUT', 'the deadline passed before any variant answered');
  if (model.shadow !== undefined && model.shadow.variant !== answered.variant) {
    model.shadow.offer(sent, answered.response);
  }
  return answered;
}
