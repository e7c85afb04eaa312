import {
  InferenceError,
  parseMediaType,
  toInferenceError,
  type HandlerLogger,
} from '@switchyard/handlers';
import type { Context, Hono } from 'hono';
import type { z } from 'zod';
import { adminOnly, type Env } from '../http/auth.js';
import { errorResponse } from '../http/errors.js';
import type { Deployments } from './deployments.js';
import { createModelBody, deployVariantBody } from './schema.js';

const ARCHIVE_TYPES = new Set([
  'application/gzip',
  'application/x-gzip',
  'application/x-tar',
  'application/octet-stream',
]);

/** A JSON body checked against `schema`, or INVALID_INPUT naming the fields at fault. */
async function jsonBody<T extends z.ZodType>(c: Context<Env>, schema: T): Promise<z.output<T>> {
  if (parseMediaType(c.req.header('Content-Type') ?? '')?.essence !== 'application/json') {
    throw new InferenceError('UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json');
  }
  const parsed = schema.safeParse(await c.req.json().catch(() => undefined));
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`,
    );
    throw new InferenceError('INVALID_INPUT', `invalid body: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/**
 * The deployment admin API: upload a model archive, create models, deploy,
 * replace and remove variants, and list what is deployed with its state.
 *
 * @example
 * ```ts
 * registerDeployRoutes(app, { deployments, logger, maxArtifactBytes: 2 * 1024 ** 3 });
 * ```
 */
export function registerDeployRoutes(
  app: Hono<Env>,
  deps: { deployments: Deployments; logger: HandlerLogger; maxArtifactBytes: number },
): void {
  const { deployments } = deps;
  const fail = (c: Context<Env>, error: unknown) =>
    errorResponse(toInferenceError(error).toJSON(), c.var.requestId, 'plain');
  const handle =
    (run: (c: Context<Env>) => Promise<Response>) =>
    async (c: Context<Env>): Promise<Response> => {
      try {
        return await run(c);
      } catch (error) {
        return fail(c, error);
      }
    };

  app.post(
    '/v1/admin/artifacts',
    adminOnly(),
    handle(async (c) => {
      const type = parseMediaType(c.req.header('Content-Type') ?? '')?.essence;
      if (type === undefined || !ARCHIVE_TYPES.has(type)) {
        throw new InferenceError(
          'UNSUPPORTED_MEDIA_TYPE',
          'send the model archive as application/gzip (a model.tar.gz)',
        );
      }
      const declared = Number(c.req.header('Content-Length') ?? Number.NaN);
      if (declared > deps.maxArtifactBytes) {
        throw new InferenceError(
          'PAYLOAD_TOO_LARGE',
          `the archive is over the limit of ${deps.maxArtifactBytes} bytes`,
        );
      }
      const body = c.req.raw.body;
      if (body === null) throw new InferenceError('INVALID_INPUT', 'the upload is empty');
      return c.json(await deployments.upload(body), 201);
    }),
  );
  app.get('/v1/admin/deployments', adminOnly(), (c) => c.json({ models: deployments.list() }));
  app.post(
    '/v1/admin/models',
    adminOnly(),
    handle(async (c) => {
      const { name, ...settings } = await jsonBody(c, createModelBody);
      return c.json(await deployments.createModel(name, settings), 201);
    }),
  );
  app.delete(
    '/v1/admin/models/:name',
    adminOnly(),
    handle(async (c) => {
      await deployments.deleteModel(c.req.param('name') ?? '');
      return c.body(null, 204);
    }),
  );
  app.get(
    '/v1/admin/models/:name/variants/:variant',
    adminOnly(),
    handle(async (c) =>
      Promise.resolve(
        c.json(
          deployments.describeVariant(c.req.param('name') ?? '', c.req.param('variant') ?? ''),
        ),
      ),
    ),
  );
  app.put(
    '/v1/admin/models/:name/variants/:variant',
    adminOnly(),
    handle(async (c) => {
      const body = await jsonBody(c, deployVariantBody);
      const view = await deployments.putVariant(
        c.req.param('name') ?? '',
        c.req.param('variant') ?? '',
        body,
      );
      return c.json(view, view.state === 'InService' ? 200 : 202);
    }),
  );
  app.delete(
    '/v1/admin/models/:name/variants/:variant',
    adminOnly(),
    handle(async (c) => {
      await deployments.removeVariant(c.req.param('name') ?? '', c.req.param('variant') ?? '');
      return c.body(null, 204);
    }),
  );
}
