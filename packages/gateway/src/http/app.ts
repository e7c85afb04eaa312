import { createHash, timingSafeEqual } from 'node:crypto';
import {
  InferenceError,
  parseMediaType,
  toInferenceError,
  type HandlerLogger,
} from '@switchyard/handlers';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { HTTPException } from 'hono/http-exception';
import { bodyLimit } from 'hono/body-limit';
import { requestId, type RequestIdVariables } from 'hono/request-id';
import { z } from 'zod';
import type { WeightSync } from '../routing/weight-sync.js';
import { checkTypes } from './content-types.js';
import { dispatch } from './dispatch.js';
import { registerJobRoutes } from './job-routes.js';
import type { Jobs } from '../jobs/index.js';
import { errorResponse } from './errors.js';
import type { ModelRegistry, ModelState } from './model-registry.js';

const H = {
  customAttributes: 'X-Amzn-SageMaker-Custom-Attributes',
  targetVariant: 'X-Amzn-SageMaker-Target-Variant',
  targetModel: 'X-Amzn-SageMaker-Target-Model',
  inferenceId: 'X-Amzn-SageMaker-Inference-Id',
  invokedVariant: 'x-Amzn-Invoked-Production-Variant',
} as const;

type Format = 'plain' | 'sagemaker';

export interface AppDeps {
  readonly models: ModelRegistry;
  /** SHA-256 hex digests of the admin bearer keys; admin routes are open without. */
  readonly adminKeySha256?: readonly string[];
  readonly logger: HandlerLogger;
  /** Shares weight changes with other replicas (Redis); without it they stay local. */
  readonly weights?: WeightSync;
  /** Async inference and batch jobs; their routes exist only with it. */
  readonly jobs?: Jobs;
}

function describeModel(model: ModelState) {
  const variants = [...model.variants.values()];
  const total = variants.reduce((sum, v) => sum + v.weight, 0);
  return {
    name: model.name,
    contentTypes: model.config.contentTypes,
    accepts: model.config.accepts,
    maxBodyBytes: model.config.maxBodyBytes,
    stickyHeader: model.config.stickyHeader ?? null,
    shadow: model.shadow?.report() ?? null,
    variants: variants.map((v) => ({
      name: v.name,
      weight: v.weight,
      share: total > 0 ? v.weight / total : 0,
      backend: v.backend.type,
      healthy: v.backend.healthy(),
      guard: v.guard?.report() ?? null,
    })),
  };
}

/** Bearer auth against stored key digests, answering in our error shape. */
function adminOnly(digests: readonly string[] | undefined): MiddlewareHandler<Env> {
  if (digests === undefined || digests.length === 0) return async (_c, next) => next();
  const stored = digests.map((d) => Buffer.from(d, 'hex'));
  return bearerAuth({
    verifyToken: (token) => {
      const digest = createHash('sha256').update(token).digest();
      return stored.some((s) => s.length === digest.length && timingSafeEqual(s, digest));
    },
  });
}

const weightsBody = z.object({ weights: z.record(z.string(), z.number().nonnegative()) });

/**
 * The gateway's HTTP API over a model registry. No I/O happens here: backends are
 * started by whoever builds `deps`.
 *
 * @example
 * ```ts
 * const app = createApp({ models: await createModelRegistry(config, logger), logger });
 * serve({ fetch: app.fetch, port: 8080 });
 * ```
 */
export function createApp(deps: AppDeps): Hono<Env> {
  const { models, logger } = deps;
  const app = new Hono<Env>();
  app.use(requestId());

  // Each model's own body limit, enforced while the body streams in (chunked too).
  const limits = new Map<string, Map<Format, MiddlewareHandler<Env>>>();
  for (const model of models.values()) {
    const perFormat = new Map<Format, MiddlewareHandler<Env>>();
    for (const format of ['plain', 'sagemaker'] as const) {
      perFormat.set(
        format,
        bodyLimit({
          maxSize: model.config.maxBodyBytes,
          onError: (c) =>
            errorResponse(
              {
                code: 'PAYLOAD_TOO_LARGE',
                message: `request body is over model "${model.name}"'s limit of ${model.config.maxBodyBytes} bytes`,
              },
              (c as Context<Env>).var.requestId,
              format,
            ),
        }),
      );
    }
    limits.set(model.name, perFormat);
  }
  const limitFor =
    (format: Format): MiddlewareHandler<Env> =>
    async (c, next) => {
      const limit = limits.get(c.req.param('name') ?? '')?.get(format);
      return limit === undefined ? next() : limit(c, next);
    };

  const invoke = (format: Format) => async (c: Context<Env>) => {
    const requestId = requestIdOf(c);
    const name = c.req.param('name') ?? '';
    const fail = (error: unknown, headers: Record<string, string> = {}) =>
      errorResponse(toInferenceError(error).toJSON(), requestId, format, headers);
    const model = models.get(name);
    if (model === undefined) {
      return fail(
        new InferenceError(
          'NOT_FOUND',
          `no model "${name}"; known models: ${[...models.keys()].join(', ')}`,
        ),
      );
    }
    try {
      const contentType = c.req.header('Content-Type') ?? '';
      const accept = checkTypes(model, contentType, c.req.header('Accept'));
      const customAttributes = c.req.header(H.customAttributes);
      const started = performance.now();
      const { variant: variantName, response } = await dispatch(
        model,
        {
          requestId: c.req.header(H.inferenceId) ?? requestId,
          logId: requestId,
          body: new Uint8Array(await c.req.arrayBuffer()),
          contentType,
          accept,
          customAttributes,
          targetModel: c.req.header(H.targetModel),
          targetVariant: c.req.header(H.targetVariant),
          stickyKey:
            model.config.stickyHeader === undefined
              ? undefined
              : c.req.header(model.config.stickyHeader),
        },
        logger,
      );
      logger.info(
        {
          requestId,
          model: name,
          variant: variantName,
          backend: model.variants.get(variantName)?.backend.type,
          status: response.ok ? 200 : new InferenceError(response.error.code, '').status,
          ms: Math.round((performance.now() - started) * 100) / 100,
        },
        'invocation',
      );
      const headers: Record<string, string> = { [H.invokedVariant]: variantName };
      if (!response.ok) {
        if (response.retryAfter !== undefined) headers['Retry-After'] = String(response.retryAfter);
        return errorResponse(response.error, requestId, format, headers);
      }
      const echoed = response.customAttributes ?? customAttributes;
      if (echoed !== undefined) headers[H.customAttributes] = echoed;
      return new Response(response.body, {
        status: 200,
        headers: { 'Content-Type': response.contentType, 'X-Request-Id': requestId, ...headers },
      });
    } catch (error) {
      return fail(error);
    }
  };

  app.post('/endpoints/:name/invocations', limitFor('sagemaker'), invoke('sagemaker'));
  app.post('/v1/models/:name/invoke', limitFor('plain'), invoke('plain'));

  app.get('/v1/models', (c) => c.json({ models: [...models.values()].map(describeModel) }));
  app.get('/v1/models/:name', (c) => {
    const model = models.get(c.req.param('name'));
    if (model === undefined) {
      return errorResponse(
        { code: 'NOT_FOUND', message: `no model "${c.req.param('name')}"` },
        requestIdOf(c),
        'plain',
      );
    }
    return c.json(describeModel(model));
  });
  app.put('/v1/models/:name/weights', adminOnly(deps.adminKeySha256), async (c) => {
    const requestId = requestIdOf(c);
    const model = models.get(c.req.param('name'));
    if (model === undefined) {
      return errorResponse(
        { code: 'NOT_FOUND', message: `no model "${c.req.param('name')}"` },
        requestId,
        'plain',
      );
    }
    if (parseMediaType(c.req.header('Content-Type') ?? '')?.essence !== 'application/json') {
      return errorResponse(
        { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'send the weights as application/json' },
        requestId,
        'plain',
      );
    }
    const parsed = weightsBody.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) {
      return errorResponse(
        {
          code: 'INVALID_INPUT',
          message: 'expected {"weights": {"<variant>": <weight ≥ 0>, ...}}',
        },
        requestId,
        'plain',
      );
    }
    const { weights } = parsed.data;
    const unknown = Object.keys(weights).filter((v) => !model.variants.has(v));
    if (unknown.length > 0) {
      return errorResponse(
        { code: 'INVALID_INPUT', message: `unknown variant ${unknown.join(', ')}` },
        requestId,
        'plain',
      );
    }
    const next = [...model.variants.values()].map((v) => weights[v.name] ?? v.weight);
    if (!next.some((w) => w > 0)) {
      return errorResponse(
        { code: 'INVALID_INPUT', message: 'at least one variant needs a weight above 0' },
        requestId,
        'plain',
      );
    }
    if (deps.weights !== undefined) {
      try {
        await deps.weights.publish(model.name, weights);
      } catch (error) {
        return errorResponse(
          {
            code: 'UNAVAILABLE',
            message: `cannot share the new weights: ${(error as Error).message}`,
          },
          requestId,
          'plain',
        );
      }
    }
    for (const v of model.variants.values()) v.weight = weights[v.name] ?? v.weight;
    logger.info({ requestId, model: model.name, weights }, 'weights changed');
    return c.json(describeModel(model));
  });

  if (deps.jobs !== undefined) {
    registerJobRoutes(app, { jobs: deps.jobs, models, logger });
  }

  app.get('/ping', (c) => c.json({ status: 'ok' }));
  app.get('/health/ready', (c) => {
    const unready = [...models.values()]
      .filter((m) => ![...m.variants.values()].some((v) => v.weight > 0 && v.backend.healthy()))
      .map((m) => m.name);
    return unready.length === 0
      ? c.json({ status: 'ready' })
      : c.json({ status: 'unavailable', models: unready }, 503);
  });
  // Hono's bearer auth answers with an HTTPException; give it our error shape.
  app.onError((error, c) => {
    if (error instanceof HTTPException && error.status === 401) {
      return errorResponse(
        { code: 'UNAUTHORIZED', message: 'admin routes need Authorization: Bearer <admin key>' },
        requestIdOf(c),
        'plain',
        { 'WWW-Authenticate': error.getResponse().headers.get('WWW-Authenticate') ?? 'Bearer' },
      );
    }
    logger.error({ requestId: requestIdOf(c), err: error.message }, 'unhandled error');
    return errorResponse({ code: 'INTERNAL', message: 'internal error' }, requestIdOf(c), 'plain');
  });
  app.notFound((c) =>
    errorResponse(
      { code: 'NOT_FOUND', message: `no route ${c.req.method} ${c.req.path}` },
      requestIdOf(c),
      'plain',
    ),
  );
  return app;
}

type Env = { Variables: RequestIdVariables };

/** The request id hono's request-id middleware set (from X-Request-Id, or new). */
function requestIdOf(c: Context<Env>): string {
  return c.var.requestId;
}
