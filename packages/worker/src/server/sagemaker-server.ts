import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { InferenceError, type HandlerLogger, type InferenceErrorJSON } from '@switchyard/handlers';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { WorkerMetrics } from '../metrics.js';
import type { ModelHost } from '../runtime/model-host.js';

/** SageMaker's real-time payload limit. */
const MAX_BODY_BYTES = 6 * 1024 * 1024;
/** SageMaker gives a container 60 s to answer an invocation. */
const INVOCATION_TIMEOUT_MS = 60_000;
const CUSTOM_ATTRIBUTES = 'X-Amzn-SageMaker-Custom-Attributes';

function errorResponse(error: InferenceErrorJSON, requestId: string): Response {
  const status = new InferenceError(error.code, error.message).status;
  return Response.json(
    { error: { code: error.code, message: error.message, requestId } },
    { status },
  );
}

/**
 * The SageMaker bring-your-own-container contract over a model host: `GET /ping`
 * answers 200 once the model is loaded and warm (and 503 if its thread died);
 * `POST /invocations` runs one request through the handler chain.
 *
 * @example
 * ```ts
 * const app = createSageMakerApp(host);
 * serve({ fetch: app.fetch, port: 8080 });
 * ```
 */
export function createSageMakerApp(host: ModelHost, metrics?: WorkerMetrics): Hono {
  const app = new Hono();
  if (metrics !== undefined) mountMetrics(app, metrics);
  app.get('/ping', (c) =>
    host.alive
      ? c.json({ status: 'healthy', model: host.info.modelName })
      : c.json({ status: 'unavailable' }, 503),
  );
  app.post(
    '/invocations',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () =>
        errorResponse(
          {
            code: 'PAYLOAD_TOO_LARGE',
            message: `request body is over the ${MAX_BODY_BYTES}-byte limit`,
          },
          randomUUID(),
        ),
    }),
    async (c) => {
      const requestId = c.req.header('X-Amzn-SageMaker-Inference-Id') ?? randomUUID();
      const customAttributes = c.req.header(CUSTOM_ATTRIBUTES);
      const now = Date.now();
      const result = await host.invoke({
        requestId,
        body: new Uint8Array(await c.req.arrayBuffer()),
        contentType: c.req.header('Content-Type') ?? 'application/octet-stream',
        accept: c.req.header('Accept'),
        customAttributes,
        deadline: now + INVOCATION_TIMEOUT_MS,
        enqueuedAt: now,
      });
      if (!result.ok) return errorResponse(result.error, requestId);
      const headers = new Headers({ 'Content-Type': result.contentType });
      if (customAttributes !== undefined) headers.set(CUSTOM_ATTRIBUTES, customAttributes);
      return new Response(result.body, { status: 200, headers });
    },
  );
  app.notFound((c) =>
    c.json(
      { error: { code: 'NOT_FOUND', message: `no route ${c.req.method} ${c.req.path}` } },
      404,
    ),
  );
  return app;
}

export interface SageMakerServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Listen on `port` (0 picks a free one) until closed. */
export async function serveSageMaker(options: {
  host: ModelHost;
  port: number;
  logger: HandlerLogger;
  metrics?: WorkerMetrics;
}): Promise<SageMakerServer> {
  return listen(createSageMakerApp(options.host, options.metrics), options.port);
}

/** `GET /metrics` in Prometheus' text format. */
function mountMetrics(app: Hono, metrics: WorkerMetrics): void {
  app.get('/metrics', async (c) =>
    c.body(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType }),
  );
}

/**
 * The queue worker's operations endpoints: `GET /health` (200 while the model
 * thread runs and the consumer is connected) and `GET /metrics`.
 */
export function createOpsApp(options: { ready: () => boolean; metrics: WorkerMetrics }): Hono {
  const app = new Hono();
  app.get('/health', (c) =>
    options.ready() ? c.json({ status: 'ok' }) : c.json({ status: 'unavailable' }, 503),
  );
  mountMetrics(app, options.metrics);
  return app;
}

/** Serve an app on `port` (0 picks a free one) until closed. */
export async function listen(app: Hono, port: number): Promise<SageMakerServer> {
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port }, (info: AddressInfo) => {
      resolve({
        port: info.port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => {
              done();
            });
          }),
      });
    });
  });
}
