import { Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { InferenceError, toInferenceError, type HandlerLogger } from '@switchyard/handlers';
import type { Context, Hono } from 'hono';
import type { Jobs } from '../jobs/index.js';
import type { BatchJobRequest } from '../jobs/batch.js';
import { checkModel, type Env } from './auth.js';
import { checkTypes } from './content-types.js';
import { errorResponse, unknownModel } from './errors.js';
import type { ModelRegistry } from './model-registry.js';

const H = {
  contentType: 'X-Amzn-SageMaker-Content-Type',
  accept: 'X-Amzn-SageMaker-Accept',
  customAttributes: 'X-Amzn-SageMaker-Custom-Attributes',
  inferenceId: 'X-Amzn-SageMaker-Inference-Id',
  inputLocation: 'X-Amzn-SageMaker-InputLocation',
  ttl: 'X-Amzn-SageMaker-RequestTTLSeconds',
  timeout: 'X-Amzn-SageMaker-InvocationTimeoutSeconds',
  targetVariant: 'X-Amzn-SageMaker-Target-Variant',
  outputLocation: 'X-Amzn-SageMaker-OutputLocation',
  failureLocation: 'X-Amzn-SageMaker-FailureLocation',
  webhook: 'X-Switchyard-Webhook-Url',
} as const;

export interface JobRouteOptions {
  readonly jobs: Jobs;
  readonly models: ModelRegistry;
  readonly logger: HandlerLogger;
}

/** Whole seconds in [min, max] from a header, its default when absent. */
function seconds(
  value: string | undefined,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new InferenceError(
      'INVALID_INPUT',
      `${name} must be a whole number of seconds from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

function webhookUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const url = URL.canParse(value) ? new URL(value) : undefined;
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new InferenceError(
      'INVALID_INPUT',
      `${H.webhook} must be an http(s) URL, got ${JSON.stringify(value)}`,
    );
  }
  return url.href;
}

/**
 * The request body as a Node stream that fails with PAYLOAD_TOO_LARGE past
 * `max` bytes, without holding it: uploads go straight to the object store.
 */
function limitedBody(c: Context<Env>, max: number, what: string): Readable | undefined {
  const tooLarge = () =>
    new InferenceError('PAYLOAD_TOO_LARGE', `the ${what} is over the limit of ${max} bytes`);
  const length = c.req.header('Content-Length');
  if (length !== undefined && Number(length) > max) throw tooLarge();
  const body = c.req.raw.body;
  if (body === null) return undefined;
  let seen = 0;
  const limit = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.byteLength;
      callback(seen > max ? tooLarge() : null, chunk);
    },
  });
  return Readable.fromWeb(body as WebReadableStream<Uint8Array>).pipe(limit);
}

/**
 * Async inference and batch job routes:
 * - `POST /endpoints/{name}/async-invocations` (SageMaker's InvokeEndpointAsync)
 * - `POST /v1/models/{name}/async`, `GET /v1/inferences/{id}[/status]`
 * - `POST|GET /v1/batch-jobs`, `GET|DELETE /v1/batch-jobs/{id}`, `GET …/output`, `GET …/errors`
 */
export function registerJobRoutes(app: Hono<Env>, options: JobRouteOptions): void {
  const { jobs, models } = options;
  const plainError = (c: Context<Env>, error: unknown) =>
    errorResponse(toInferenceError(error).toJSON(), c.var.requestId, 'plain');

  const submit = (format: 'plain' | 'sagemaker') => async (c: Context<Env>) => {
    try {
      const name = c.req.param('name') ?? '';
      const model = models.get(name);
      if (model === undefined) {
        throw unknownModel(name, models.keys());
      }
      const contentType =
        (format === 'sagemaker' ? c.req.header(H.contentType) : undefined) ??
        c.req.header('Content-Type') ??
        '';
      const accept = checkTypes(
        model,
        contentType,
        (format === 'sagemaker' ? c.req.header(H.accept) : undefined) ?? c.req.header('Accept'),
      );
      const location = c.req.header(H.inputLocation);
      const upload =
        location === undefined
          ? limitedBody(c, jobs.limits.asyncMaxBodyBytes, 'async request body')
          : undefined;
      if (location === undefined && upload === undefined) {
        throw new InferenceError(
          'INVALID_INPUT',
          `the request has no body and no ${H.inputLocation}`,
        );
      }
      const status = await jobs.async.submit({
        model: name,
        contentType,
        accept,
        customAttributes: c.req.header(H.customAttributes),
        targetVariant: c.req.header(H.targetVariant),
        stickyKey:
          model.config.stickyHeader === undefined
            ? undefined
            : c.req.header(model.config.stickyHeader),
        inferenceId: c.req.header(H.inferenceId),
        // SageMaker's range is 60 to 21600; shorter TTLs are allowed here.
        ttlSeconds: seconds(c.req.header(H.ttl), H.ttl, 1, 21_600, 21_600),
        timeoutSeconds: seconds(c.req.header(H.timeout), H.timeout, 1, 3600, 900),
        webhookUrl: webhookUrl(c.req.header(H.webhook)),
        input: upload === undefined ? { location: location ?? '' } : { upload },
      });
      const headers = {
        [H.outputLocation]: status.outputLocation,
        [H.failureLocation]: status.failureLocation,
        Location: status.links.self,
      };
      return format === 'sagemaker'
        ? c.json({ InferenceId: status.inferenceId }, 202, headers)
        : c.json(status, 202, headers);
    } catch (error) {
      return errorResponse(toInferenceError(error).toJSON(), c.var.requestId, format);
    }
  };
  app.post('/endpoints/:name/async-invocations', submit('sagemaker'));
  app.post('/v1/models/:name/async', submit('plain'));

  // The answer once there is one (its own type); 202 with the status until then.
  app.get('/v1/inferences/:id', async (c) => {
    try {
      const id = c.req.param('id');
      const outcome = await jobs.async.result(id);
      if (outcome === undefined) {
        return c.json(await jobs.async.status(id), 202, { 'Retry-After': '1' });
      }
      if (outcome.status === 'completed') {
        return new Response(Readable.toWeb(outcome.body) as ReadableStream, {
          status: 200,
          headers: {
            'Content-Type': outcome.contentType,
            'X-Switchyard-Inference-Status': 'completed',
          },
        });
      }
      return errorResponse(outcome.error.toJSON(), c.var.requestId, 'plain', {
        'X-Switchyard-Inference-Status': outcome.status,
      });
    } catch (error) {
      return plainError(c, error);
    }
  });
  app.get('/v1/inferences/:id/status', async (c) => {
    try {
      return c.json(await jobs.async.status(c.req.param('id')));
    } catch (error) {
      return plainError(c, error);
    }
  });

  // A job spec as JSON (input at `inputLocation`), or the input itself as the body
  // with the spec in the query (`?model=iris&splitType=line&accept=text/csv`).
  app.post('/v1/batch-jobs', async (c) => {
    try {
      const query = c.req.query();
      let spec: BatchJobRequest;
      let upload: Readable | undefined;
      if (query['model'] !== undefined) {
        const number = (name: string) => {
          const value = query[name];
          if (value === undefined) return undefined;
          const n = Number(value);
          if (!Number.isFinite(n))
            throw new InferenceError(
              'INVALID_INPUT',
              `${name} must be a number, got ${JSON.stringify(value)}`,
            );
          return n;
        };
        const maxRecordsPerJob = number('maxRecordsPerJob');
        const maxPayloadBytes = number('maxPayloadBytes');
        spec = {
          model: query['model'],
          contentType: query['contentType'] ?? c.req.header('Content-Type') ?? '',
          ...(query['variant'] === undefined ? {} : { variant: query['variant'] }),
          ...(query['splitType'] === undefined ? {} : { splitType: query['splitType'] as 'line' }),
          ...(query['accept'] === undefined ? {} : { accept: query['accept'] }),
          ...(maxRecordsPerJob === undefined ? {} : { maxRecordsPerJob }),
          ...(maxPayloadBytes === undefined ? {} : { maxPayloadBytes }),
        };
        upload = limitedBody(c, jobs.limits.batchMaxInputBytes, 'batch input');
        if (upload === undefined)
          throw new InferenceError(
            'INVALID_INPUT',
            'the batch job has no input: upload it as the body',
          );
      } else {
        if (!(c.req.header('Content-Type') ?? '').startsWith('application/json')) {
          throw new InferenceError(
            'UNSUPPORTED_MEDIA_TYPE',
            'send a job spec as application/json, or the input as the body with ?model=… in the query',
          );
        }
        const body: unknown = await c.req.json().catch(() => undefined);
        if (typeof body !== 'object' || body === null) {
          throw new InferenceError('INVALID_INPUT', 'the job spec is not a JSON object');
        }
        spec = body as BatchJobRequest;
      }
      checkModel(c, spec.model);
      const job = await jobs.batch.create(spec, upload);
      return c.json(job, 201, { Location: `/v1/batch-jobs/${(job as { id: string }).id}` });
    } catch (error) {
      return plainError(c, error);
    }
  });
  app.get('/v1/batch-jobs', async (c) => {
    try {
      const limit = Math.min(500, Math.max(1, Number(c.req.query('limit') ?? 50) || 50));
      return c.json({ jobs: await jobs.batch.list(limit) });
    } catch (error) {
      return plainError(c, error);
    }
  });
  app.get('/v1/batch-jobs/:id', async (c) => {
    try {
      return c.json(await jobs.batch.status(c.req.param('id')));
    } catch (error) {
      return plainError(c, error);
    }
  });
  for (const kind of ['output', 'errors'] as const) {
    app.get(`/v1/batch-jobs/:id/${kind}`, async (c) => {
      try {
        const { body, contentType } = await jobs.batch.output(c.req.param('id'), kind);
        return new Response(Readable.toWeb(body) as ReadableStream, {
          status: 200,
          headers: { 'Content-Type': contentType },
        });
      } catch (error) {
        return plainError(c, error);
      }
    });
  }
  app.delete('/v1/batch-jobs/:id', async (c) => {
    try {
      return c.json(await jobs.batch.cancel(c.req.param('id')), 202);
    } catch (error) {
      return plainError(c, error);
    }
  });
}
