import {
  InferenceError,
  parseMediaType,
  toInferenceError,
  type HandlerLogger,
} from '@switchyard/handlers';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import { z } from 'zod';
import { memoryState } from '../jobs/state.js';
import { KeyRing, adminKeys, mayUse } from '../policy/keys.js';
import type { RateLimiter } from '../policy/rate-limit.js';
import type { WeightSync } from '../routing/weight-sync.js';
import {
  adminOnly,
  authenticate,
  modelAccess,
  rateLimit,
  type Env,
  type RateLimits,
} from './auth.js';
import { checkTypes } from './content-types.js';
import { dispatch } from './dispatch.js';
import { registerJobRoutes } from './job-routes.js';
import type { Jobs } from '../jobs/index.js';
import type { GatewayMetrics } from '../metrics.js';
import { errorResponse, unknownModel } from './errors.js';
import type { ModelRegistry, ModelState } from './model-registry.js';
import { registerOpenApi } from './openapi.js';
import type { Deployments } from '../deploy/deployments.js';
import { registerDeployRoutes } from '../deploy/routes.js';
import { registerConsole } from '../console/routes.js';
import type { Traffic } from '../console/traffic.js';

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
  /**
   * SHA-256 hex digests of admin bearer keys (the `admin.keySha256` setting); with
   * any, every route needs a key. `keys` replaces it.
   */
  readonly adminKeySha256?: readonly string[];
  /** API keys; without any configured or added, routes are open. */
  readonly keys?: KeyRing;
  /** Rate limits per model and per key, shared through the limiter's Redis. */
  readonly limiter?: RateLimiter;
  readonly rateLimits?: RateLimits;
  readonly logger: HandlerLogger;
  /** Shares weight changes with other replicas (Redis); without it they stay local. */
  readonly weights?: WeightSync;
  /** Async inference and batch jobs; their routes exist only with it. */
  readonly jobs?: Jobs;
  /** Prometheus metrics; with them, requests are counted and `GET /metrics` serves them. */
  readonly metrics?: GatewayMetrics;
  /** Models and variants registered at runtime; the deployment routes exist only with it. */
  readonly deployments?: Deployments;
  /** Largest uploaded model archive. @defaultValue 2 GiB */
  readonly maxArtifactBytes?: number;
  /**
   * Recent traffic per variant for the console (`GET /console`); the console
   * exists only with it.
   */
  readonly traffic?: Traffic;
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

const keyBody = z.object({
  id: z.string(),
  models: z.array(z.string().min(1)).min(1).default(['*']),
  admin: z.boolean().default(false),
  rateLimit: z
    .object({ rps: z.number().positive(), burst: z.number().int().positive() })
    .optional(),
});

/** `POST|GET /v1/admin/keys`, `DELETE /v1/admin/keys/{id}`: keys without a restart. */
function registerKeyRoutes(app: Hono<Env>, keys: KeyRing, logger: HandlerLogger): void {
  const fail = (c: Context<Env>, error: unknown) =>
    errorResponse(toInferenceError(error).toJSON(), c.var.requestId, 'plain');
  app.post('/v1/admin/keys', adminOnly(), async (c) => {
    try {
      const parsed = keyBody.safeParse(await c.req.json().catch(() => undefined));
      if (!parsed.success) {
        throw new InferenceError(
          'INVALID_INPUT',
          'expected {"id": "<name>", "models": ["<model>" | "*"], "admin": false, "rateLimit": {"rps", "burst"}}',
        );
      }
      // The first key must be able to manage the others, or nobody could.
      if (!parsed.data.admin && !(await keys.enabled())) {
        throw new InferenceError('INVALID_INPUT', 'the first key must be an admin key');
      }
      const { key, grant } = await keys.create(parsed.data);
      logger.info(
        { requestId: c.var.requestId, keyId: grant.id, by: c.var.grant?.id },
        'key created',
      );
      return c.json({ ...grant, key }, 201);
    } catch (error) {
      return fail(c, error);
    }
  });
  app.get('/v1/admin/keys', adminOnly(), async (c) => c.json({ keys: await keys.list() }));
  app.delete('/v1/admin/keys/:id', adminOnly(), async (c) => {
    try {
      await keys.revoke(c.req.param('id'));
      logger.info(
        { requestId: c.var.requestId, keyId: c.req.param('id'), by: c.var.grant?.id },
        'key revoked',
      );
      return c.body(null, 204);
    } catch (error) {
      return fail(c, error);
    }
  });
}

const weightsBody = z.object({ weights: z.record(z.string(), z.number().nonnegative()) });

/** A body that did not arrive within the model's timeout (`ms`). */
const bodyTooSlow = (ms: number): InferenceError =>
  new InferenceError('REQUEST_TIMEOUT', `the request body did not arrive within ${ms} ms`);

/** A stalled client gets its answer, and its connection closed. */
const STALLED_HEADERS = { Connection: 'close' } as const;

/**
 * The request body, read within `ms` (the model's timeout): a client that stops
 * sending, or trickles, gets 408 instead of holding the request until Node's own
 * request timeout (300 s), and a body cut off by the client is its mistake (400),
 * not an internal error.
 */
async function readBody(c: Context<Env>, ms: number): Promise<Uint8Array> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(bodyTooSlow(ms));
    }, ms);
  });
  try {
    return new Uint8Array(await Promise.race([c.req.arrayBuffer(), late]));
  } catch (error) {
    if (error instanceof InferenceError) throw error;
    throw new InferenceError('INVALID_INPUT', 'the request body ended before it was complete', {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A body limit that judges a request by its Content-Length when it declares one
 * (Node's HTTP parser never reads past it) and hands chunked requests to Hono's
 * `bodyLimit`, which counts while the body streams in. Reading `c.req.raw.body`,
 * as `bodyLimit` does first, makes @hono/node-server build a full web `Request`
 * (headers, abort signal, stream) for every invocation; with the length declared,
 * the handler reads the body straight from the socket instead (within the
 * model's timeout, see `readBody`). A chunked body must also arrive within
 * `timeoutMs`, or the request is answered by `tooSlow`.
 */
function declaredOrStreamed(
  limits: { readonly maxSize: number; readonly timeoutMs: number },
  tooLarge: (c: Context<Env>) => Response,
  tooSlow: (c: Context<Env>) => Response,
  streamed: MiddlewareHandler<Env>,
): MiddlewareHandler<Env> {
  return async (c, next) => {
    const declared = c.req.header('content-length');
    if (declared === undefined || c.req.header('transfer-encoding') !== undefined) {
      // `streamed` reads the whole body before it calls `next`: only that part races
      // the deadline; the handler after it keeps its own.
      let bodyRead = (): void => undefined;
      const read = new Promise<'read'>((resolve) => {
        bodyRead = () => {
          resolve('read');
        };
      });
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => {
          resolve('late');
        }, limits.timeoutMs);
      });
      const run = streamed(c, async () => {
        bodyRead();
        await next();
      });
      const settled = run.then(
        () => 'done' as const,
        () => 'done' as const,
      );
      try {
        if ((await Promise.race([read, late, settled])) === 'late') return tooSlow(c);
      } finally {
        clearTimeout(timer);
      }
      return run;
    }
    if (Number(declared) > limits.maxSize) return tooLarge(c);
    await next();
  };
}

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
  app.use(secureHeaders());
  app.use(async (c, next) => {
    await next();
    c.res.headers.set('X-Request-Id', c.var.requestId);
  });
  const keys =
    deps.keys ??
    (deps.adminKeySha256 === undefined || deps.adminKeySha256.length === 0
      ? undefined
      : new KeyRing(adminKeys(deps.adminKeySha256), memoryState()));
  // Counted around everything else, so that refusals (401, 403, 413, 429) count too.
  if (deps.metrics !== undefined) {
    const count = countRequests(deps.metrics);
    app.post('/endpoints/:name/invocations', count('sagemaker'));
    app.post('/v1/models/:name/invoke', count('plain'));
    if (deps.jobs !== undefined) {
      app.post('/endpoints/:name/async-invocations', count('async'));
      app.post('/v1/models/:name/async', count('async'));
    }
  }
  const auth = authenticate(keys);
  for (const path of ['/v1/*', '/endpoints/*']) app.use(path, auth);
  for (const path of ['/v1/models/:name', '/v1/models/:name/*', '/endpoints/:name/*']) {
    app.use(path, modelAccess());
  }
  const limit = rateLimit(deps.limiter, deps.rateLimits);
  for (const path of [
    '/endpoints/:name/invocations',
    '/endpoints/:name/async-invocations',
    '/v1/models/:name/invoke',
    '/v1/models/:name/async',
  ]) {
    app.post(path, limit);
  }

  // Each model's own body limit, enforced while the body streams in (chunked too);
  // built on a model's first request (models registered at runtime come and go).
  const limits = new WeakMap<ModelState, Map<Format, MiddlewareHandler<Env>>>();
  const limitsOf = (model: ModelState): Map<Format, MiddlewareHandler<Env>> => {
    const known = limits.get(model);
    if (known !== undefined) return known;
    const perFormat = new Map<Format, MiddlewareHandler<Env>>();
    for (const format of ['plain', 'sagemaker'] as const) {
      const tooLarge = (c: Context<Env>) =>
        errorResponse(
          {
            code: 'PAYLOAD_TOO_LARGE',
            message: `request body is over model "${model.name}"'s limit of ${model.config.maxBodyBytes} bytes`,
          },
          c.var.requestId,
          format,
        );
      perFormat.set(
        format,
        declaredOrStreamed(
          { maxSize: model.config.maxBodyBytes, timeoutMs: model.config.timeoutMs },
          tooLarge,
          (c) =>
            errorResponse(
              bodyTooSlow(model.config.timeoutMs).toJSON(),
              c.var.requestId,
              format,
              STALLED_HEADERS,
            ),
          bodyLimit({
            maxSize: model.config.maxBodyBytes,
            onError: (c) => tooLarge(c as Context<Env>),
          }),
        ),
      );
    }
    limits.set(model, perFormat);
    return perFormat;
  };
  const limitFor =
    (format: Format): MiddlewareHandler<Env> =>
    async (c, next) => {
      const model = models.get(c.req.param('name') ?? '');
      const limit = model === undefined ? undefined : limitsOf(model).get(format);
      return limit === undefined ? next() : limit(c, next);
    };

  const invoke = (format: Format) => async (c: Context<Env>) => {
    const requestId = requestIdOf(c);
    const name = c.req.param('name') ?? '';
    const fail = (error: unknown, headers: Record<string, string> = {}) =>
      errorResponse(toInferenceError(error).toJSON(), requestId, format, headers);
    const model = models.get(name);
    if (model === undefined) {
      return fail(unknownModel(name, models.keys()));
    }
    try {
      const contentType = c.req.header('Content-Type') ?? '';
      const accept = checkTypes(model, contentType, c.req.header('Accept'));
      const customAttributes = c.req.header(H.customAttributes);
      const body = await readBody(c, model.config.timeoutMs);
      if (body.byteLength === 0) {
        // SageMaker's InvokeEndpoint refuses an empty body too; no model gets one.
        throw new InferenceError('INVALID_INPUT', 'the request has no body');
      }
      const started = performance.now();
      const { variant: variantName, response } = await dispatch(
        model,
        {
          requestId: c.req.header(H.inferenceId) ?? requestId,
          logId: requestId,
          body,
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
      const status = response.ok ? 200 : new InferenceError(response.error.code, '').status;
      deps.traffic?.record(name, variantName, {
        ms: performance.now() - started,
        error: status === 424 || status >= 500,
        batchSize: response.ok ? response.batchSize : undefined,
      });
      logger.info(
        {
          requestId,
          model: name,
          variant: variantName,
          backend: model.variants.get(variantName)?.backend.type,
          status,
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
      const stalled = error instanceof InferenceError && error.code === 'REQUEST_TIMEOUT';
      return fail(error, stalled ? STALLED_HEADERS : {});
    }
  };

  app.post('/endpoints/:name/invocations', limitFor('sagemaker'), invoke('sagemaker'));
  app.post('/v1/models/:name/invoke', limitFor('plain'), invoke('plain'));

  app.get('/v1/models', (c) => {
    const grant = c.var.grant;
    const visible = [...models.values()].filter(
      (m) => grant === undefined || mayUse(grant, m.name),
    );
    return c.json({ models: visible.map(describeModel) });
  });
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
  app.put('/v1/models/:name/weights', adminOnly(), async (c) => {
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
    // A registered variant's weight lives in its deployment record; the others'
    // in the shared weights.
    const registered = Object.fromEntries(
      Object.entries(weights).filter(([v]) => model.variants.get(v)?.deployment !== undefined),
    );
    const configured = Object.fromEntries(
      Object.entries(weights).filter(([v]) => model.variants.get(v)?.deployment === undefined),
    );
    try {
      if (deps.deployments !== undefined) {
        await deps.deployments.setWeights(model.name, registered);
      }
      if (deps.weights !== undefined && Object.keys(configured).length > 0) {
        await deps.weights.publish(model.name, configured);
      }
    } catch (error) {
      const known = error instanceof InferenceError ? error : undefined;
      return errorResponse(
        known?.toJSON() ?? {
          code: 'UNAVAILABLE',
          message: `cannot share the new weights: ${(error as Error).message}`,
        },
        requestId,
        'plain',
      );
    }
    for (const v of model.variants.values()) v.weight = weights[v.name] ?? v.weight;
    logger.info({ requestId, model: model.name, weights }, 'weights changed');
    return c.json(describeModel(model));
  });

  if (deps.jobs !== undefined) {
    registerJobRoutes(app, { jobs: deps.jobs, models, logger });
  }

  if (keys !== undefined) registerKeyRoutes(app, keys, logger);
  if (deps.traffic !== undefined) {
    registerConsole(app, { models, traffic: deps.traffic, jobs: deps.jobs, logger });
  }
  if (deps.deployments !== undefined) {
    registerDeployRoutes(app, {
      deployments: deps.deployments,
      logger,
      maxArtifactBytes: deps.maxArtifactBytes ?? 2 * 1024 ** 3,
    });
  }

  app.get('/ping', (c) => c.json({ status: 'ok' }));
  // Open like /ping even with API keys on: restrict it at the network level.
  const metrics = deps.metrics;
  if (metrics !== undefined) {
    app.get('/metrics', async (c) =>
      c.body(await metrics.registry.metrics(), 200, {
        'Content-Type': metrics.registry.contentType,
      }),
    );
  }
  app.get('/health/ready', (c) => {
    // Models registered at runtime come and go: a gateway is ready when the models
    // of its configuration are.
    const unready = [...models.values()]
      .filter((m) => [...m.variants.values()].some((v) => v.deployment === undefined))
      .filter((m) => ![...m.variants.values()].some((v) => v.weight > 0 && v.backend.healthy()))
      .map((m) => m.name);
    return unready.length === 0
      ? c.json({ status: 'ready' })
      : c.json({ status: 'unavailable', models: unready }, 503);
  });
  registerOpenApi(app, {
    jobs: deps.jobs !== undefined,
    keys: keys !== undefined,
    metrics: metrics !== undefined,
    deployments: deps.deployments !== undefined,
    console: deps.traffic !== undefined,
  });
  app.onError((error, c) => {
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

/**
 * Count each request on a model route once answered: the variant from the answer's
 * `x-Amzn-Invoked-Production-Variant`, the code from its error body. Async
 * submissions are counted, not timed (their inference runs later).
 */
function countRequests(metrics: GatewayMetrics) {
  return (route: 'sagemaker' | 'plain' | 'async'): MiddlewareHandler<Env> =>
    async (c, next) => {
      const started = performance.now();
      // Read now: after next(), params are those of the last route that ran.
      const model = c.req.param('name') ?? '';
      await next();
      const seconds = (performance.now() - started) / 1000;
      metrics.record({
        model,
        variant: c.res.headers.get(H.invokedVariant) ?? undefined,
        route,
        code: c.res.ok ? 'ok' : await errorCode(c.res),
        seconds: route === 'async' ? undefined : seconds,
      });
    };
}

/** The code of an error answer (`{"error": {"code"}}`), `INTERNAL` when it has none. */
async function errorCode(response: Response): Promise<string> {
  const body: unknown = await response
    .clone()
    .json()
    .catch(() => undefined);
  const error: unknown =
    typeof body === 'object' && body !== null ? (body as { error?: unknown }).error : undefined;
  const code: unknown =
    typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : 'INTERNAL';
}

/** The request id hono's request-id middleware set (from X-Request-Id, or new). */
function requestIdOf(c: Context<Env>): string {
  return c.var.requestId;
}
