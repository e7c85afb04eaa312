import { InferenceError } from '@switchyard/handlers';
import type { Context, MiddlewareHandler } from 'hono';
import type { RequestIdVariables } from 'hono/request-id';
import { mayUse, type KeyGrant, type KeyRing } from '../policy/keys.js';
import type { Rate, RateLimiter } from '../policy/rate-limit.js';
import { errorResponse } from './errors.js';

export type Env = { Variables: RequestIdVariables & { grant?: KeyGrant } };

export interface RateLimits {
  /** Each key's rate, unless the key has its own. */
  readonly perKey?: Rate | undefined;
  /** Each model's rate, across all callers. */
  readonly models: Readonly<Record<string, Rate>>;
}

const formatOf = (c: Context<Env>) =>
  c.req.path.startsWith('/endpoints/') ? ('sagemaker' as const) : ('plain' as const);

const fail = (c: Context<Env>, error: InferenceError, headers: Record<string, string> = {}) =>
  errorResponse(error.toJSON(), c.var.requestId, formatOf(c), headers);

/**
 * Bearer keys, once any exist: 401 without one (or with an unknown or revoked
 * one), the key's grant in `c.var.grant` otherwise. Without keys, every route is
 * open (the embedded default).
 */
export function authenticate(keys: KeyRing | undefined): MiddlewareHandler<Env> {
  return async (c, next) => {
    if (keys === undefined) return next();
    const token = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('Authorization') ?? '')?.[1];
    let grant: KeyGrant | undefined;
    let enabled: boolean;
    try {
      enabled = await keys.enabled();
      grant = !enabled || token === undefined ? undefined : await keys.verify(token);
    } catch (error) {
      if (error instanceof InferenceError) throw error;
      // Keys added at run time live in Redis: without it they cannot be checked.
      return fail(c, new InferenceError('UNAVAILABLE', 'cannot check the API key now'), {
        'Retry-After': '1',
      });
    }
    if (!enabled) return next();
    if (grant === undefined) {
      return fail(
        c,
        new InferenceError(
          'UNAUTHORIZED',
          token === undefined
            ? 'this gateway needs an API key: Authorization: Bearer <key>'
            : 'the API key is unknown or revoked',
        ),
        { 'WWW-Authenticate': 'Bearer' },
      );
    }
    c.set('grant', grant);
    return next();
  };
}

/** FORBIDDEN unless the request's key may use `model` (always allowed without keys). */
export function checkModel(c: Context<Env>, model: string): void {
  const grant = c.var.grant;
  if (grant !== undefined && !mayUse(grant, model)) {
    throw new InferenceError('FORBIDDEN', `key "${grant.id}" may not use model "${model}"`);
  }
}

/** Routes named by a model (`:name`): the key must cover it. */
export function modelAccess(): MiddlewareHandler<Env> {
  return async (c, next) => {
    try {
      checkModel(c, c.req.param('name') ?? '');
    } catch (error) {
      return fail(c, error as InferenceError);
    }
    return next();
  };
}

/** Admin routes: an admin key once keys exist. */
export function adminOnly(): MiddlewareHandler<Env> {
  return async (c, next) => {
    const grant = c.var.grant;
    if (grant !== undefined && !grant.admin) {
      return fail(c, new InferenceError('FORBIDDEN', `key "${grant.id}" is not an admin key`));
    }
    return next();
  };
}

/**
 * Token buckets for the model named by the route and for the caller's key:
 * 429 with Retry-After (whole seconds) when either is empty.
 */
export function rateLimit(
  limiter: RateLimiter | undefined,
  limits: RateLimits | undefined,
): MiddlewareHandler<Env> {
  return async (c, next) => {
    if (limiter === undefined || limits === undefined) return next();
    const model = c.req.param('name') ?? '';
    const grant = c.var.grant;
    const buckets: { key: string; rate: Rate; what: string }[] = [];
    const modelRate = limits.models[model];
    if (modelRate !== undefined) {
      buckets.push({ key: `model:${model}`, rate: modelRate, what: `model "${model}"` });
    }
    const keyRate = grant?.rateLimit ?? limits.perKey;
    if (grant !== undefined && keyRate !== undefined) {
      buckets.push({ key: `key:${grant.id}`, rate: keyRate, what: `key "${grant.id}"` });
    }
    for (const bucket of buckets) {
      const verdict = await limiter.take(bucket.key, bucket.rate);
      if (!verdict.allowed) {
        const seconds = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
        return fail(
          c,
          new InferenceError(
            'TOO_MANY_REQUESTS',
            `rate limit of ${bucket.rate.rps} requests/s (bursts of ${bucket.rate.burst}) for ${bucket.what}; retry in ${seconds} s`,
          ),
          { 'Retry-After': String(seconds) },
        );
      }
    }
    return next();
  };
}
