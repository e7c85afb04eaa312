import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { OpenAPIHono, createRoute, z, type RouteConfig } from '@hono/zod-openapi';
import {
  HTTP_STATUS_BY_CODE,
  INFERENCE_ERROR_CODES,
  type InferenceErrorCode,
} from '@switchyard/handlers';
import type { Hono } from 'hono';
import { batchJobRequestSchema } from '../jobs/batch.js';
import type { Env } from './auth.js';
import { errorResponse } from './errors.js';

/** Which optional route groups the app has, as `createApp` registered them. */
export interface OpenApiRoutes {
  /** Async inference and batch job routes (`deps.jobs`). */
  readonly jobs: boolean;
  /** Admin key routes (keys configured or given). */
  readonly keys: boolean;
  /** `GET /metrics` (`deps.metrics`). */
  readonly metrics: boolean;
  /** Deployment admin routes (`deps.deployments`). */
  readonly deployments?: boolean;
  /** The console page and its data (`deps.traffic`). */
  readonly console?: boolean;
}

// ---- Schemas ---------------------------------------------------------------

const ErrorBody = z
  .object({
    error: z.object({
      code: z.enum(INFERENCE_ERROR_CODES),
      message: z.string(),
      requestId: z.string(),
    }),
  })
  .openapi('Error', { description: 'Every error answer: `{"error": {code, message, requestId}}`' });

const SageMakerErrorBody = z
  .object({
    error: ErrorBody.shape.error,
    message: z.string().openapi({ description: 'What AWS SDK clients read' }),
    OriginalStatusCode: z.number().int().optional().openapi({ description: 'ModelError only' }),
    OriginalMessage: z.string().optional().openapi({ description: 'ModelError only' }),
  })
  .openapi('SageMakerError', {
    description:
      'Errors on `/endpoints/…` routes: ours plus what AWS SDK clients read (`x-amzn-ErrorType` header, top-level `message`)',
  });

const Variant = z.object({
  name: z.string(),
  weight: z.number(),
  share: z.number(),
  backend: z.enum(['local', 'queue', 'sagemaker']),
  healthy: z.boolean(),
  guard: z.record(z.string(), z.unknown()).nullable(),
});

const Model = z
  .object({
    name: z.string(),
    contentTypes: z.array(z.string()),
    accepts: z.array(z.string()),
    maxBodyBytes: z.number().int(),
    stickyHeader: z.string().nullable(),
    shadow: z.record(z.string(), z.unknown()).nullable(),
    variants: z.array(Variant),
  })
  .openapi('Model');

const Weights = z
  .object({ weights: z.record(z.string(), z.number().nonnegative()) })
  .openapi('Weights', { example: { weights: { v1: 90, v2: 10 } } });

const Timestamp = z.string().nullable().openapi({ format: 'date-time' });

const AsyncStatus = z
  .object({
    inferenceId: z.string(),
    model: z.string(),
    status: z.enum(['queued', 'running', 'completed', 'failed', 'expired']),
    variant: z.string().nullable(),
    createdAt: Timestamp,
    startedAt: Timestamp,
    finishedAt: Timestamp,
    expiresAt: Timestamp,
    inputLocation: z.string(),
    outputLocation: z.string(),
    failureLocation: z.string(),
    result: z.record(z.string(), z.unknown()).nullable(),
    error: z.record(z.string(), z.unknown()).nullable(),
    webhook: z.record(z.string(), z.unknown()).nullable(),
    links: z.object({ self: z.string(), status: z.string() }),
  })
  .openapi('AsyncInference');

// The schema the route itself validates with, so the document cannot drift from it.
const BatchJobSpec = batchJobRequestSchema;

const BatchJob = z
  .object({
    id: z.string(),
    model: z.string(),
    variant: z.string(),
    state: z.enum(['queued', 'running', 'cancelling', 'completed', 'failed', 'cancelled']),
    splitType: z.enum(['line', 'none']),
    contentType: z.string(),
    accept: z.string(),
    maxRecordsPerJob: z.number().int(),
    maxPayloadBytes: z.number().int(),
    createdAt: z.string().openapi({ format: 'date-time' }),
    startedAt: Timestamp,
    finishedAt: Timestamp,
    records: z.object({
      done: z.number().int(),
      failed: z.number().int(),
      total: z.number().int().nullable(),
    }),
    recordsPerSecond: z.number(),
    reason: z.string().nullable(),
    inputLocation: z.string(),
    outputLocation: z.string(),
    errorsLocation: z.string(),
    links: z.record(z.string(), z.string()),
  })
  .openapi('BatchJob');

const RateLimit = z.object({ rps: z.number().positive(), burst: z.number().int().positive() });

const KeyGrant = z
  .object({
    id: z.string(),
    models: z.array(z.string()),
    admin: z.boolean(),
    rateLimit: RateLimit.optional(),
  })
  .openapi('KeyGrant');

const NewKey = z
  .object({
    id: z.string(),
    models: z.array(z.string().min(1)).min(1).default(['*']),
    admin: z.boolean().default(false),
    rateLimit: RateLimit.optional(),
  })
  .openapi('NewKey');

// ---- Parameters ------------------------------------------------------------

const header = (description: string, extra: { example?: string } = {}) =>
  z
    .string()
    .optional()
    .openapi({ description, ...extra });
const wholeSeconds = (description: string) =>
  z.string().regex(/^\d+$/).optional().openapi({ description });

const modelParam = z.object({
  name: z.string().openapi({ description: 'Model name', example: 'iris' }),
});
const idParam = (what: string) => z.object({ id: z.string().openapi({ description: what }) });

const invokeHeaders = z.object({
  'X-Amzn-SageMaker-Target-Variant': header('Send to this variant (never overridden by fallback)'),
  'X-Amzn-SageMaker-Target-Model': header('Passed to the backend (multi-model endpoints)'),
  'X-Amzn-SageMaker-Custom-Attributes': header('Passed to the handler and echoed back'),
  'X-Amzn-SageMaker-Inference-Id': header('The request id the handler and backend see'),
  'X-Request-Id': header('Request id for logs; one is made up without it'),
});

const asyncHeaders = z.object({
  'X-Amzn-SageMaker-InputLocation': header(
    'Object store URL of the input, instead of a body (`s3://…`, `file://…`)',
  ),
  'X-Amzn-SageMaker-RequestTTLSeconds': wholeSeconds(
    'How long it may wait before it starts, 1–21600 (default 21600)',
  ),
  'X-Amzn-SageMaker-InvocationTimeoutSeconds': wholeSeconds(
    'How long it may run once started, 1–3600 (default 900)',
  ),
  'X-Amzn-SageMaker-Target-Variant': header('Send to this variant'),
  'X-Amzn-SageMaker-Custom-Attributes': header('Passed to the handler'),
  'X-Amzn-SageMaker-Inference-Id': header(
    'Your id for the inference (`[A-Za-z0-9][A-Za-z0-9._-]{0,63}`)',
  ),
  'X-Switchyard-Webhook-Url': header('http(s) URL told of the outcome with a POST'),
});

const sageMakerAsyncHeaders = asyncHeaders.extend({
  'X-Amzn-SageMaker-Content-Type': header('Type of the input (over Content-Type)'),
  'X-Amzn-SageMaker-Accept': header('Type of the answer (over Accept)'),
});

// ---- Bodies and responses --------------------------------------------------

const binary = z.string().openapi({ format: 'binary' });
const MODEL_TYPES = [
  'application/json',
  'application/jsonlines',
  'text/csv',
  'application/x-npy',
  'application/x-npz',
] as const;

/** A model's input or answer: the types the model's configuration lists. */
const modelContent = Object.fromEntries(
  MODEL_TYPES.map((type) => [type, { schema: binary }]),
) as Record<(typeof MODEL_TYPES)[number], { schema: typeof binary }>;

const json = <T extends z.ZodType>(schema: T) => ({ 'application/json': { schema } });

type Responses = NonNullable<RouteConfig['responses']>;

/** Error answers for `codes`, with the body of the route's format. */
function errors(format: 'plain' | 'sagemaker', codes: readonly InferenceErrorCode[]): Responses {
  const byStatus = new Map<number, InferenceErrorCode[]>();
  for (const code of codes) {
    const status = HTTP_STATUS_BY_CODE[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const schema = format === 'sagemaker' ? SageMakerErrorBody : ErrorBody;
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [
      String(status),
      {
        description: list.join(', '),
        content: json(schema),
        ...(format === 'sagemaker'
          ? { headers: { 'x-amzn-ErrorType': { schema: { type: 'string' as const } } } }
          : {}),
      },
    ]),
  );
}

/** Refusals any route behind keys can answer (keys on, Redis down). */
const AUTH: readonly InferenceErrorCode[] = ['UNAUTHORIZED', 'FORBIDDEN', 'UNAVAILABLE'];
const INVOKE: readonly InferenceErrorCode[] = [
  ...AUTH,
  'INVALID_INPUT',
  'NOT_FOUND',
  'NOT_ACCEPTABLE',
  'REQUEST_TIMEOUT',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'MODEL_ERROR',
  'TOO_MANY_REQUESTS',
  'INTERNAL',
  'TIMEOUT',
];
const SUBMIT: readonly InferenceErrorCode[] = [
  ...AUTH,
  'INVALID_INPUT',
  'NOT_FOUND',
  'NOT_ACCEPTABLE',
  'CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'TOO_MANY_REQUESTS',
  'INTERNAL',
];
const READ: readonly InferenceErrorCode[] = [...AUTH, 'NOT_FOUND', 'INTERNAL'];

const bearer = [{ bearer: [] }];

// ---- Routes ----------------------------------------------------------------

function invokeRoute(format: 'plain' | 'sagemaker') {
  const sagemaker = format === 'sagemaker';
  return createRoute({
    method: 'post',
    path: sagemaker ? '/endpoints/{name}/invocations' : '/v1/models/{name}/invoke',
    tags: ['inference'],
    summary: sagemaker
      ? 'Invoke a model, SageMaker InvokeEndpoint style'
      : 'Invoke a model (errors in our format only)',
    description:
      "The body goes to one variant of the model, chosen by weight (or the sticky header the model configures, or the target variant); its answer comes back with the negotiated `Accept` type. The model's `contentTypes` and `accepts` narrow the types listed here.",
    security: bearer,
    request: {
      params: modelParam,
      headers: invokeHeaders,
      body: { required: true, content: modelContent },
    },
    responses: {
      200: {
        description: "The model's answer",
        headers: {
          'x-Amzn-Invoked-Production-Variant': {
            description: 'The variant that answered',
            schema: { type: 'string' },
          },
          'X-Amzn-SageMaker-Custom-Attributes': {
            description: 'The custom attributes, as the handler left them',
            schema: { type: 'string' },
          },
        },
        content: modelContent,
      },
      ...errors(format, INVOKE),
    },
  });
}

function asyncRoute(format: 'plain' | 'sagemaker') {
  const sagemaker = format === 'sagemaker';
  return createRoute({
    method: 'post',
    path: sagemaker ? '/endpoints/{name}/async-invocations' : '/v1/models/{name}/async',
    tags: ['async'],
    summary: sagemaker
      ? 'Queue an inference, SageMaker InvokeEndpointAsync style'
      : 'Queue an inference',
    description:
      'The body (or the object at `X-Amzn-SageMaker-InputLocation`) is stored and inferred later; poll `Location`.',
    security: bearer,
    request: {
      params: modelParam,
      headers: sagemaker ? sageMakerAsyncHeaders : asyncHeaders,
      body: { required: false, content: modelContent },
    },
    responses: {
      202: {
        description: 'Queued',
        headers: {
          Location: { description: 'The inference', schema: { type: 'string' } },
          'X-Amzn-SageMaker-OutputLocation': { schema: { type: 'string' } },
          'X-Amzn-SageMaker-FailureLocation': { schema: { type: 'string' } },
        },
        content: json(sagemaker ? z.object({ InferenceId: z.string() }) : AsyncStatus),
      },
      ...errors(format, SUBMIT),
    },
  });
}

const coreRoutes = [
  invokeRoute('sagemaker'),
  invokeRoute('plain'),
  createRoute({
    method: 'get',
    path: '/v1/models',
    tags: ['models'],
    summary: "List the models the caller's key may use, with variants and weights",
    security: bearer,
    responses: {
      200: { description: 'Models', content: json(z.object({ models: z.array(Model) })) },
      ...errors('plain', AUTH),
    },
  }),
  createRoute({
    method: 'get',
    path: '/v1/models/{name}',
    tags: ['models'],
    summary: 'Describe one model',
    security: bearer,
    request: { params: modelParam },
    responses: {
      200: { description: 'The model', content: json(Model) },
      ...errors('plain', [...AUTH, 'NOT_FOUND']),
    },
  }),
  createRoute({
    method: 'put',
    path: '/v1/models/{name}/weights',
    tags: ['models'],
    summary: "Change variants' weights (admin key)",
    description: 'Variants not named keep their weight; at least one must stay above 0.',
    security: bearer,
    request: {
      params: modelParam,
      body: { required: true, content: json(Weights) },
    },
    responses: {
      200: { description: 'The model with its new weights', content: json(Model) },
      ...errors('plain', [...AUTH, 'INVALID_INPUT', 'NOT_FOUND', 'UNSUPPORTED_MEDIA_TYPE']),
    },
  }),
];

const batchQuery = z.object({
  model: z.string().optional().openapi({
    description: 'With it, the body is the input and the spec is in the query',
  }),
  contentType: z
    .string()
    .optional()
    .openapi({ description: 'Type of the records (over Content-Type)' }),
  variant: z.string().optional(),
  splitType: z.enum(['line', 'none']).optional(),
  accept: z.string().optional(),
  maxRecordsPerJob: z.string().optional().openapi({ description: 'A number' }),
  maxPayloadBytes: z.string().optional().openapi({ description: 'A number' }),
});

const jobRoutes = [
  asyncRoute('sagemaker'),
  asyncRoute('plain'),
  createRoute({
    method: 'get',
    path: '/v1/inferences/{id}',
    tags: ['async'],
    summary: 'The answer of an async inference, once there is one',
    security: bearer,
    request: { params: idParam('Inference id') },
    responses: {
      200: {
        description: 'The answer, with its own Content-Type',
        headers: { 'X-Switchyard-Inference-Status': { schema: { type: 'string' } } },
        content: modelContent,
      },
      202: {
        description: 'Not answered yet: the status',
        headers: { 'Retry-After': { schema: { type: 'string' } } },
        content: json(AsyncStatus),
      },
      ...errors('plain', [...READ, 'MODEL_ERROR', 'INVALID_INPUT', 'TIMEOUT']),
    },
  }),
  createRoute({
    method: 'get',
    path: '/v1/inferences/{id}/status',
    tags: ['async'],
    summary: 'The status of an async inference',
    security: bearer,
    request: { params: idParam('Inference id') },
    responses: {
      200: { description: 'The status', content: json(AsyncStatus) },
      ...errors('plain', READ),
    },
  }),
  createRoute({
    method: 'post',
    path: '/v1/batch-jobs',
    tags: ['batch'],
    summary: 'Start a batch job',
    description:
      'Either a job spec as JSON (input at `inputLocation`), or the input itself as the body with the spec in the query (`?model=iris&splitType=line&accept=text/csv`).',
    security: bearer,
    request: {
      query: batchQuery,
      body: {
        required: true,
        content: {
          ...modelContent,
          'application/json': {
            schema: z.union([BatchJobSpec, binary]).openapi({
              description: 'The job spec, or (with `?model=`) JSON input',
            }),
          },
        },
      },
    },
    responses: {
      201: {
        description: 'Created',
        headers: { Location: { schema: { type: 'string' } } },
        content: json(BatchJob),
      },
      ...errors('plain', [
        ...AUTH,
        'INVALID_INPUT',
        'NOT_FOUND',
        'PAYLOAD_TOO_LARGE',
        'UNSUPPORTED_MEDIA_TYPE',
        'INTERNAL',
      ]),
    },
  }),
  createRoute({
    method: 'get',
    path: '/v1/batch-jobs',
    tags: ['batch'],
    summary: 'The latest batch jobs',
    security: bearer,
    request: {
      query: z.object({
        limit: z.string().optional().openapi({ description: '1–500, default 50' }),
      }),
    },
    responses: {
      200: { description: 'Jobs', content: json(z.object({ jobs: z.array(BatchJob) })) },
      ...errors('plain', [...AUTH, 'INTERNAL']),
    },
  }),
  createRoute({
    method: 'get',
    path: '/v1/batch-jobs/{id}',
    tags: ['batch'],
    summary: 'A batch job and its progress',
    security: bearer,
    request: { params: idParam('Batch job id') },
    responses: {
      200: { description: 'The job', content: json(BatchJob) },
      ...errors('plain', READ),
    },
  }),
  ...(['output', 'errors'] as const).map((kind) =>
    createRoute({
      method: 'get',
      path: `/v1/batch-jobs/{id}/${kind}`,
      tags: ['batch'],
      summary:
        kind === 'output'
          ? "A finished job's output: line i answers input line i"
          : "A finished job's failed records (JSON Lines, with line numbers)",
      security: bearer,
      request: { params: idParam('Batch job id') },
      responses: {
        200: {
          description: kind === 'output' ? 'The output' : 'The errors',
          content:
            kind === 'output' ? modelContent : { 'application/jsonlines': { schema: binary } },
        },
        ...errors('plain', [...READ, 'CONFLICT']),
      },
    }),
  ),
  createRoute({
    method: 'delete',
    path: '/v1/batch-jobs/{id}',
    tags: ['batch'],
    summary: 'Cancel a batch job',
    security: bearer,
    request: { params: idParam('Batch job id') },
    responses: {
      202: {
        description: 'Cancelling',
        content: json(BatchJob.extend({ cancelRequested: z.boolean() })),
      },
      ...errors('plain', [...READ, 'CONFLICT']),
    },
  }),
];

const keyRoutes = [
  createRoute({
    method: 'post',
    path: '/v1/admin/keys',
    tags: ['admin'],
    summary: 'Create an API key (admin key; the first key must be an admin key)',
    security: bearer,
    request: { body: { required: true, content: json(NewKey) } },
    responses: {
      201: {
        description: 'The key: shown this once',
        content: json(KeyGrant.extend({ key: z.string() })),
      },
      ...errors('plain', [...AUTH, 'INVALID_INPUT', 'CONFLICT', 'INTERNAL']),
    },
  }),
  createRoute({
    method: 'get',
    path: '/v1/admin/keys',
    tags: ['admin'],
    summary: 'List API keys, never the keys themselves (admin key)',
    security: bearer,
    responses: {
      200: {
        description: 'Keys',
        content: json(
          z.object({ keys: z.array(KeyGrant.extend({ source: z.enum(['config', 'api']) })) }),
        ),
      },
      ...errors('plain', AUTH),
    },
  }),
  createRoute({
    method: 'delete',
    path: '/v1/admin/keys/{id}',
    tags: ['admin'],
    summary: 'Revoke an API key added through the API (admin key)',
    security: bearer,
    request: { params: idParam('Key id') },
    responses: {
      204: { description: 'Revoked' },
      ...errors('plain', [...AUTH, 'NOT_FOUND', 'INVALID_INPUT', 'INTERNAL']),
    },
  }),
];

const DeploymentState = z
  .enum(['Creating', 'Loading', 'InService', 'Failed'])
  .openapi({ description: "The newest revision's state" });
const DeployedVariant = z.object({
  name: z.string(),
  source: z.enum(['config', 'api']),
  weight: z.number(),
  state: DeploymentState,
  reason: z.string().optional().openapi({ description: 'Why it failed' }),
  revision: z.number().int().optional(),
  servingRevision: z
    .number()
    .int()
    .optional()
    .openapi({ description: 'The revision requests go to; absent while none is in service' }),
  backend: z.string(),
  modelData: z.string().optional(),
  multiModel: z.boolean().optional(),
  batching: z.object({ maxBatchSize: z.number(), maxDelayMs: z.number() }).optional(),
  loaders: z
    .number()
    .int()
    .optional()
    .openapi({ description: 'Workers or gateways with the newest revision loaded' }),
  createdAt: z.string().optional(),
});
const Deployed = z.object({
  name: z.string(),
  source: z.enum(['config', 'api']),
  variants: z.array(DeployedVariant),
});
const variantParams = z.object({
  name: z.string().openapi({ description: 'Model name', example: 'iris' }),
  variant: z.string().openapi({ description: 'Variant name', example: 'v3' }),
});
const ADMIN: readonly InferenceErrorCode[] = [...AUTH, 'INVALID_INPUT', 'INTERNAL'];

const deployRoutes = [
  createRoute({
    method: 'post',
    path: '/v1/admin/artifacts',
    tags: ['deployments'],
    summary: "Upload a model.tar.gz into the gateway's storage (admin key)",
    security: bearer,
    request: {
      body: {
        required: true,
        content: { 'application/gzip': { schema: z.string().openapi({ format: 'binary' }) } },
      },
    },
    responses: {
      201: {
        description: "Stored; use `modelData` as a variant's model data",
        content: json(z.object({ modelData: z.string(), bytes: z.number(), sha256: z.string() })),
      },
      ...errors('plain', [...ADMIN, 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE']),
    },
  }),
  createRoute({
    method: 'get',
    path: '/v1/admin/deployments',
    tags: ['deployments'],
    summary: 'Every model and variant, configured or registered, with its state (admin key)',
    security: bearer,
    responses: {
      200: { description: 'Deployments', content: json(z.object({ models: z.array(Deployed) })) },
      ...errors('plain', AUTH),
    },
  }),
  createRoute({
    method: 'post',
    path: '/v1/admin/models',
    tags: ['deployments'],
    summary: 'Create a model, with no variants yet (admin key)',
    security: bearer,
    request: {
      body: {
        required: true,
        content: json(
          z.object({
            name: z.string(),
            contentTypes: z.array(z.string()).optional(),
            accepts: z.array(z.string()).optional(),
            maxBodyBytes: z.number().int().optional(),
            timeoutMs: z.number().int().optional(),
          }),
        ),
      },
    },
    responses: {
      201: { description: 'Created', content: json(Deployed) },
      ...errors('plain', [...ADMIN, 'CONFLICT', 'UNSUPPORTED_MEDIA_TYPE']),
    },
  }),
  createRoute({
    method: 'delete',
    path: '/v1/admin/models/{name}',
    tags: ['deployments'],
    summary: 'Delete a registered model and its variants (admin key)',
    security: bearer,
    request: { params: modelParam },
    responses: {
      204: { description: 'Deleted' },
      ...errors('plain', [...ADMIN, 'NOT_FOUND', 'CONFLICT']),
    },
  }),
  createRoute({
    method: 'put',
    path: '/v1/admin/models/{name}/variants/{variant}',
    tags: ['deployments'],
    summary:
      'Deploy a variant, or replace it with a new revision; routed to once in service (admin key)',
    security: bearer,
    request: {
      params: variantParams,
      body: {
        required: true,
        content: json(
          z.object({
            weight: z.number().optional().openapi({ description: 'Default 1' }),
            backend: z
              .looseObject({ type: z.enum(['queue', 'local', 'sagemaker']) })
              .optional()
              .openapi({ description: 'Default: a queue served by the "default" pool' }),
            modelData: z.string().optional(),
            multiModel: z.boolean().optional(),
            batching: z
              .object({ maxBatchSize: z.number().optional(), maxDelayMs: z.number().optional() })
              .optional(),
          }),
        ),
      },
    },
    responses: {
      200: { description: 'Already in service', content: json(DeployedVariant) },
      202: { description: 'Registered; loading', content: json(DeployedVariant) },
      ...errors('plain', [...ADMIN, 'NOT_FOUND', 'CONFLICT', 'UNSUPPORTED_MEDIA_TYPE']),
    },
  }),
  createRoute({
    method: 'get',
    path: '/v1/admin/models/{name}/variants/{variant}',
    tags: ['deployments'],
    summary: "A variant's deployment state (admin key)",
    security: bearer,
    request: { params: variantParams },
    responses: {
      200: { description: 'The variant', content: json(DeployedVariant) },
      ...errors('plain', [...AUTH, 'NOT_FOUND', 'INTERNAL']),
    },
  }),
  createRoute({
    method: 'delete',
    path: '/v1/admin/models/{name}/variants/{variant}',
    tags: ['deployments'],
    summary: 'Remove a registered variant (admin key)',
    security: bearer,
    request: { params: variantParams },
    responses: {
      204: { description: 'Removed' },
      ...errors('plain', [...ADMIN, 'NOT_FOUND', 'CONFLICT']),
    },
  }),
];

const consoleRoutes = [
  createRoute({
    method: 'get',
    path: '/console',
    tags: ['console'],
    summary: 'The console page: traffic, variants, queues and batch jobs (asks for the admin key)',
    responses: {
      200: { description: 'HTML', content: { 'text/html': { schema: z.string() } } },
    },
  }),
  ...(['console.js', 'console.css'] as const).map((file) =>
    createRoute({
      method: 'get',
      path: `/console/${file}`,
      tags: ['console'],
      summary: `The console's ${file.endsWith('.js') ? 'script' : 'styles'}`,
      responses: {
        200: {
          description: 'The file',
          content: {
            [file.endsWith('.js') ? 'text/javascript' : 'text/css']: { schema: z.string() },
          },
        },
      },
    }),
  ),
  createRoute({
    method: 'get',
    path: '/v1/admin/console',
    tags: ['console'],
    summary:
      'What the console shows: per variant traffic share, rates, errors and latency over recent minutes, guards, shadows, queues, batch sizes and batch jobs (admin key)',
    security: bearer,
    responses: {
      200: { description: 'The snapshot', content: json(z.record(z.string(), z.unknown())) },
      ...errors('plain', AUTH),
    },
  }),
];

const ASSETS = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-initializer.js': 'text/javascript; charset=utf-8',
} as const;
type Asset = keyof typeof ASSETS;

const openRoutes = (metrics: boolean) => [
  createRoute({
    method: 'get',
    path: '/ping',
    tags: ['operations'],
    summary: 'Liveness',
    responses: {
      200: { description: 'Up', content: json(z.object({ status: z.literal('ok') })) },
    },
  }),
  createRoute({
    method: 'get',
    path: '/health/ready',
    tags: ['operations'],
    summary: 'Readiness: every model has a healthy variant with weight',
    responses: {
      200: { description: 'Ready', content: json(z.object({ status: z.literal('ready') })) },
      503: {
        description: 'Models without a healthy weighted variant',
        content: json(z.object({ status: z.literal('unavailable'), models: z.array(z.string()) })),
      },
    },
  }),
  ...(metrics
    ? [
        createRoute({
          method: 'get',
          path: '/metrics',
          tags: ['operations'],
          summary: 'Prometheus metrics (open: restrict at the network level)',
          responses: {
            200: {
              description: "Prometheus' text format",
              content: { 'text/plain': { schema: z.string() } },
            },
          },
        }),
      ]
    : []),
  createRoute({
    method: 'get',
    path: '/openapi.json',
    tags: ['operations'],
    summary: 'This document',
    responses: {
      200: {
        description: 'OpenAPI 3.1',
        content: json(z.record(z.string(), z.unknown())),
      },
    },
  }),
  createRoute({
    method: 'get',
    path: '/docs',
    tags: ['operations'],
    summary: 'Interactive API page (Swagger UI), served by the gateway alone',
    responses: {
      200: { description: 'HTML', content: { 'text/html': { schema: z.string() } } },
    },
  }),
  createRoute({
    method: 'get',
    path: '/docs/assets/{file}',
    tags: ['operations'],
    summary: "The page's scripts and styles",
    request: {
      params: z.object({ file: z.enum(Object.keys(ASSETS) as [Asset, ...Asset[]]) }),
    },
    responses: {
      200: {
        description: 'The file',
        content: {
          'text/css': { schema: z.string() },
          'text/javascript': { schema: z.string() },
        },
      },
      ...errors('plain', ['NOT_FOUND']),
    },
  }),
];

/** The routes `createApp` registers for `routes`, as OpenAPI route configs. */
function routeConfigs(routes: OpenApiRoutes): RouteConfig[] {
  return [
    ...coreRoutes,
    ...(routes.jobs ? jobRoutes : []),
    ...(routes.keys ? keyRoutes : []),
    ...(routes.deployments === true ? deployRoutes : []),
    ...(routes.console === true ? consoleRoutes : []),
    ...openRoutes(routes.metrics),
  ];
}

/** The OpenAPI 3.1 document of an app with `routes`. */
function openApiDocument(
  routes: OpenApiRoutes,
  version = '0.1.0',
): ReturnType<OpenAPIHono['getOpenAPI31Document']> {
  // Used only as a registry: the app's own handlers stay plain Hono.
  const doc = new OpenAPIHono();
  const registry = doc.openAPIRegistry;
  registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description:
      '`Authorization: Bearer <key>`, needed on `/v1` and `/endpoints` routes once API keys are configured or added',
  });
  for (const route of routeConfigs(routes)) registry.registerPath(route);
  return doc.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'Switchyard gateway',
      version,
      description:
        'Model inference gateway: SageMaker-compatible and plain invocation, async inference, batch jobs.',
    },
    tags: [
      { name: 'inference' },
      { name: 'models' },
      { name: 'async' },
      { name: 'batch' },
      { name: 'admin' },
      { name: 'operations' },
    ],
  });
}

const DOCS_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>Switchyard gateway API</title>
    <link rel="stylesheet" href="/docs/assets/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/assets/swagger-ui-bundle.js"></script>
    <script src="/docs/assets/swagger-initializer.js"></script>
  </body>
</html>
`;

// A file, not an inline script: the page works under a strict Content-Security-Policy.
const INITIALIZER = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
});
`;

const require = createRequire(import.meta.url);
let swaggerDir: string | undefined;
const assetCache = new Map<Asset, Promise<string>>();

/** Swagger UI's files from `swagger-ui-dist`, read once. */
function asset(name: Asset): Promise<string> {
  let cached = assetCache.get(name);
  if (cached === undefined) {
    if (name === 'swagger-initializer.js') {
      cached = Promise.resolve(INITIALIZER);
    } else {
      swaggerDir ??= dirname(require.resolve('swagger-ui-dist/package.json'));
      cached = readFile(join(swaggerDir, name), 'utf8');
      // A failed read is tried again on the next request.
      cached.catch(() => assetCache.delete(name));
    }
    assetCache.set(name, cached);
  }
  return cached;
}

const isAsset = (name: string): name is Asset => Object.hasOwn(ASSETS, name);

/**
 * `GET /openapi.json` (every route the app has, described) and `GET /docs`
 * (Swagger UI over it, with its assets served from here: the page loads nothing
 * from elsewhere). Open like `/ping` when API keys are on: the spec holds no secrets.
 */
export function registerOpenApi(app: Hono<Env>, routes: OpenApiRoutes, version?: string): void {
  let document: string | undefined;
  app.get('/openapi.json', (c) => {
    document ??= JSON.stringify(openApiDocument(routes, version));
    return c.body(document, 200, { 'Content-Type': 'application/json; charset=utf-8' });
  });
  app.get('/docs', (c) => c.html(DOCS_HTML));
  app.get('/docs/assets/:file', async (c) => {
    const name = c.req.param('file');
    if (!isAsset(name)) {
      return errorResponse(
        { code: 'NOT_FOUND', message: `no asset "${name}"` },
        c.var.requestId,
        'plain',
      );
    }
    return c.body(await asset(name), 200, {
      'Content-Type': ASSETS[name],
      'Cache-Control': 'public, max-age=3600',
    });
  });
}
