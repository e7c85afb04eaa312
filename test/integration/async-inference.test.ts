import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  InvokeEndpointAsyncCommand,
  SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';
import { serve } from '@hono/node-server';
import {
  closeRegistry,
  createApp,
  createModelRegistry,
  resolveGatewayConfig,
  startJobs,
  type Jobs,
  type ModelRegistry,
} from '@switchyard/gateway';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MODELS, startWorkerProcess, type WorkerProcess } from '../support/worker-process.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const ROW = '5.1,3.5,1.4,0.2\n';
const ROWS = '5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5\n7.0,3.2,4.7,1.4\n';
const MiB = 1024 * 1024;

type Status = 'queued' | 'running' | 'completed' | 'failed' | 'expired';
interface StatusDoc {
  readonly inferenceId: string;
  readonly model: string;
  readonly status: Status;
  readonly variant: string | null;
  readonly inputLocation: string;
  readonly outputLocation: string;
  readonly failureLocation: string;
  readonly result: { readonly contentType: string; readonly bytes: number } | null;
  readonly error: { readonly code: string; readonly message: string } | null;
  readonly webhook: {
    readonly status: 'pending' | 'delivered' | 'failed';
    readonly attempts: number;
    readonly lastError?: string;
  } | null;
  readonly links: { readonly self: string; readonly status: string };
}
interface ErrorDoc {
  readonly error: { readonly code: string; readonly message: string };
}
const FINISHED: ReadonlySet<Status> = new Set(['completed', 'failed', 'expired']);

type App = ReturnType<typeof createApp>;

interface Gateway {
  readonly app: App;
  readonly jobs: Jobs;
  readonly storage: string;
  close(): Promise<void>;
}

/** A gateway app with jobs, built as main.ts builds it, over `storage` (a fresh temp dir without). */
async function startGateway(raw: Record<string, unknown>, storage?: string): Promise<Gateway> {
  const dir = storage ?? (await mkdtemp(join(tmpdir(), 'switchyard-async-')));
  const config = resolveGatewayConfig({
    ...raw,
    storage: { ...(raw['storage'] as object | undefined), url: dir },
  });
  const models: ModelRegistry = await createModelRegistry(config, silent);
  const jobs = startJobs(config, models, silent);
  const app = createApp({ models, logger: silent, jobs });
  return {
    app,
    jobs,
    storage: dir,
    async close() {
      await jobs.close();
      await closeRegistry(models);
      if (storage === undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `app` on a real HTTP server on a free port. */
async function listen(app: App): Promise<{ url: string; close(): Promise<void> }> {
  return new Promise((resolve) => {
    // Hono's Node server is an http.Server unless told to make an HTTP/2 one.
    const server = serve({ fetch: app.fetch, port: 0 }, (info) => {
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        close: async () => {
          (server as Server).closeAllConnections();
          await new Promise<void>((done) => {
            server.close(() => {
              done();
            });
          });
        },
      });
    });
  });
}

/** Read until `done`, at most `timeoutMs`; the error says what was last seen. */
async function until<T>(
  what: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) {
      throw new Error(
        `${what}: not reached in ${timeoutMs} ms; last seen ${JSON.stringify(value)}`,
      );
    }
    await delay(50);
  }
}

async function statusOf(app: App, id: string): Promise<StatusDoc> {
  const response = await app.request(`/v1/inferences/${id}/status`);
  if (response.status !== 200) {
    throw new Error(`status of ${id} answered ${response.status}: ${await response.text()}`);
  }
  return (await response.json()) as StatusDoc;
}

const finished = (app: App, id: string, timeoutMs?: number) =>
  until(
    `inference ${id} finished`,
    () => statusOf(app, id),
    (s) => FINISHED.has(s.status),
    timeoutMs,
  );

/** Poll `GET /v1/inferences/{id}` (202 while it waits or runs) until it answers otherwise. */
async function outcomeOf(app: App, id: string, timeoutMs?: number): Promise<Response> {
  const seen: Status[] = [];
  const response = await until(
    `GET /v1/inferences/${id} answered other than 202`,
    async () => {
      const r = await app.request(`/v1/inferences/${id}`);
      if (r.status === 202) seen.push(((await r.json()) as StatusDoc).status);
      return r;
    },
    (r) => r.status !== 202,
    timeoutMs,
  );
  // While it waited, the answer was its status document, queued or running.
  for (const status of seen) expect(['queued', 'running']).toContain(status);
  return response;
}

const submitAsync = (
  app: App,
  body: string | undefined,
  headers: Record<string, string>,
  model = 'iris',
): Promise<Response> =>
  Promise.resolve(
    app.request(`/v1/models/${model}/async`, {
      method: 'POST',
      headers,
      ...(body === undefined ? {} : { body }),
    }),
  );

async function accepted(response: Response): Promise<StatusDoc> {
  if (response.status !== 202) {
    throw new Error(`expected 202, got ${response.status}: ${await response.text()}`);
  }
  return (await response.json()) as StatusDoc;
}

async function errorOf(response: Response): Promise<ErrorDoc['error']> {
  return ((await response.json()) as ErrorDoc).error;
}

/** Every file under `dir` (relative paths); none when it does not exist. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

interface WebhookCall {
  readonly method: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A webhook endpoint on a free port: `answer(n)` is the status of the n-th POST (from 1). */
async function startWebhookReceiver(answer: (call: number) => number): Promise<{
  url: string;
  calls: WebhookCall[];
  close(): Promise<void>;
}> {
  const calls: WebhookCall[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      calls.push({
        method: request.method,
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      response.writeHead(answer(calls.length)).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook?token=abc`,
    calls,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((done) => {
        server.close(() => {
          done();
        });
      });
    },
  };
}

describe('async inference in one gateway (local iris, in-process jobs)', () => {
  let gateway: Gateway;
  let http: { url: string; close(): Promise<void> };

  beforeAll(async () => {
    gateway = await startGateway({
      async: {
        maxBodyBytes: 12 * MiB,
        webhook: { attempts: 5, backoffMs: 50, timeoutMs: 2000 },
      },
      models: {
        iris: {
          variants: {
            v1: { weight: 1, backend: { type: 'local', model: join(MODELS, 'iris-v1') } },
          },
        },
      },
    });
    http = await listen(gateway.app);
  });
  afterAll(async () => {
    await http.close();
    await gateway.close();
  });

  /** The real-time answer to the same body, pinned to the only variant. */
  async function synchronous(body: string, accept: string): Promise<Response> {
    const response = await gateway.app.request('/v1/models/iris/invoke', {
      method: 'POST',
      body,
      headers: {
        'Content-Type': 'text/csv',
        Accept: accept,
        'X-Amzn-SageMaker-Target-Variant': 'v1',
      },
    });
    expect(response.status).toBe(200);
    return response;
  }

  describe('submit and poll', () => {
    it('answers 202 with where the answer will be, then the same answer as real-time, as text/csv', async () => {
      const response = await submitAsync(gateway.app, ROWS, {
        'Content-Type': 'text/csv',
        Accept: 'text/csv',
        'X-Amzn-SageMaker-Target-Variant': 'v1',
      });
      const queued = await accepted(response);
      const id = queued.inferenceId;
      expect(id).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*$/);
      expect(queued).toMatchObject({
        model: 'iris',
        status: 'queued',
        links: { self: `/v1/inferences/${id}`, status: `/v1/inferences/${id}/status` },
      });
      expect(response.headers.get('location')).toBe(`/v1/inferences/${id}`);
      expect(response.headers.get('x-amzn-sagemaker-outputlocation')).toBe(queued.outputLocation);
      expect(response.headers.get('x-amzn-sagemaker-failurelocation')).toBe(queued.failureLocation);
      // Both locations are in this gateway's object store.
      const storeUrl = pathToFileURL(gateway.storage).href;
      expect(queued.outputLocation.startsWith(`${storeUrl}/`)).toBe(true);
      expect(queued.failureLocation.startsWith(`${storeUrl}/`)).toBe(true);

      const answer = await outcomeOf(gateway.app, id);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('x-switchyard-inference-status')).toBe('completed');
      const sync = await synchronous(ROWS, 'text/csv');
      expect(answer.headers.get('content-type')).toBe(sync.headers.get('content-type'));
      expect(answer.headers.get('content-type')).toMatch(/^text\/csv\b/);
      const text = await answer.text();
      expect(text).toBe(await sync.text());
      expect(text.trim().split('\n')).toHaveLength(3);

      const done = await statusOf(gateway.app, id);
      expect(done).toMatchObject({
        status: 'completed',
        variant: 'v1',
        result: { bytes: Buffer.byteLength(text) },
        error: null,
        webhook: null,
      });
      expect(done.result?.contentType).toMatch(/^text\/csv\b/);
      // The answer is also at the output location it was promised at.
      expect(await readFile(fileURLToPath(queued.outputLocation), 'utf8')).toBe(text);
    });

    it('takes the JSON form of the same rows and answers in the negotiated JSON', async () => {
      const queued = await accepted(
        await submitAsync(gateway.app, '[[5.1,3.5,1.4,0.2]]', {
          'Content-Type': 'application/json',
          Accept: 'application/json',
        }),
      );
      const answer = await outcomeOf(gateway.app, queued.inferenceId);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toMatch(/^application\/json\b/);
      const sync = await gateway.app.request('/v1/models/iris/invoke', {
        method: 'POST',
        body: '[[5.1,3.5,1.4,0.2]]',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      });
      expect(await answer.json()).toEqual(await sync.json());
    });
  });

  describe('the unmodified AWS SDK (InvokeEndpointAsync)', () => {
    it('submits an input already in the store and gets an InferenceId and OutputLocation', async () => {
      const inputFile = join(gateway.storage, 'inputs', `sdk-${randomUUID()}.csv`);
      await mkdir(join(gateway.storage, 'inputs'), { recursive: true });
      await writeFile(inputFile, ROWS);
      const client = new SageMakerRuntimeClient({
        endpoint: http.url,
        region: 'us-east-1',
        credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
        maxAttempts: 1,
      });
      try {
        const output = await client.send(
          new InvokeEndpointAsyncCommand({
            EndpointName: 'iris',
            InputLocation: pathToFileURL(inputFile).href,
            ContentType: 'text/csv',
            Accept: 'text/csv',
          }),
        );
        expect(output.$metadata.httpStatusCode).toBe(202);
        const id = output.InferenceId ?? '';
        expect(id).not.toBe('');
        expect(output.OutputLocation).toMatch(/^file:\/\//);
        expect(output.FailureLocation).toMatch(/^file:\/\//);

        const answer = await outcomeOf(gateway.app, id);
        expect(answer.status).toBe(200);
        const text = await answer.text();
        expect(text).toBe(await (await synchronous(ROWS, 'text/csv')).text());
        expect((await statusOf(gateway.app, id)).outputLocation).toBe(output.OutputLocation);
        expect(await readFile(fileURLToPath(output.OutputLocation ?? ''), 'utf8')).toBe(text);
        // A location outside the store is the SDK's ValidationError, with our message.
        const refused = await client
          .send(
            new InvokeEndpointAsyncCommand({
              EndpointName: 'iris',
              InputLocation: 'file:///etc/passwd',
              ContentType: 'text/csv',
              Accept: 'text/csv',
            }),
          )
          .then(
            () => new Error('the SDK call succeeded'),
            (error: unknown) => error as Error,
          );
        expect(refused.name).toBe('ValidationError');
        expect(refused.message).toContain('file:///etc/passwd');
      } finally {
        client.destroy();
      }
    });

    it('answers the SageMaker wire form with {"InferenceId"} and the location headers', async () => {
      const response = await gateway.app.request('/endpoints/iris/async-invocations', {
        method: 'POST',
        body: ROWS,
        headers: {
          'X-Amzn-SageMaker-Content-Type': 'text/csv',
          'X-Amzn-SageMaker-Accept': 'application/json',
          'X-Amzn-SageMaker-Inference-Id': `sm-${randomUUID()}`,
        },
      });
      expect(response.status).toBe(202);
      const body = (await response.json()) as { InferenceId: string };
      expect(body.InferenceId).toMatch(/^sm-/);
      expect(response.headers.get('x-amzn-sagemaker-outputlocation')).toMatch(/^file:\/\//);
      const answer = await outcomeOf(gateway.app, body.InferenceId);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toMatch(/^application\/json\b/);
      expect(((await answer.json()) as unknown[]).length).toBe(3);
    });
  });

  describe('webhooks', () => {
    it('retries a failing webhook with backoff until it takes the notification', async () => {
      const receiver = await startWebhookReceiver((n) => (n <= 2 ? 500 : 204));
      try {
        const queued = await accepted(
          await submitAsync(gateway.app, ROWS, {
            'Content-Type': 'text/csv',
            Accept: 'text/csv',
            'X-Switchyard-Webhook-Url': receiver.url,
          }),
        );
        const done = await until(
          'webhook settled',
          () => statusOf(gateway.app, queued.inferenceId),
          (s) => s.webhook !== null && s.webhook.status !== 'pending',
        );
        expect(done.status).toBe('completed');
        expect(done.webhook).toEqual({ status: 'delivered', attempts: 3 });
        expect(receiver.calls).toHaveLength(3);
        for (const call of receiver.calls) {
          expect(call.method).toBe('POST');
          expect(call.headers['content-type']).toMatch(/^application\/json\b/);
          expect(JSON.parse(call.body)).toMatchObject({
            inferenceId: queued.inferenceId,
            model: 'iris',
            status: 'completed',
            outputLocation: queued.outputLocation,
          });
        }
      } finally {
        await receiver.close();
      }
    });

    it('gives up after the configured attempts, and the inference stays completed', async () => {
      const receiver = await startWebhookReceiver(() => 500);
      try {
        const queued = await accepted(
          await submitAsync(gateway.app, ROWS, {
            'Content-Type': 'text/csv',
            Accept: 'text/csv',
            'X-Switchyard-Webhook-Url': receiver.url,
          }),
        );
        const done = await until(
          'webhook settled',
          () => statusOf(gateway.app, queued.inferenceId),
          (s) => s.webhook !== null && s.webhook.status !== 'pending',
        );
        expect(done.status).toBe('completed');
        expect(done.webhook).toMatchObject({ status: 'failed', attempts: 5 });
        expect(done.webhook?.lastError).toContain('500');
        expect(receiver.calls).toHaveLength(5);
        const answer = await gateway.app.request(`/v1/inferences/${queued.inferenceId}`);
        expect(answer.status).toBe(200);
        expect((await answer.text()).trim().split('\n')).toHaveLength(3);
      } finally {
        await receiver.close();
      }
    });

    it('refuses a webhook URL that is not http(s) with 400 INVALID_INPUT', async () => {
      const response = await submitAsync(gateway.app, ROWS, {
        'Content-Type': 'text/csv',
        'X-Switchyard-Webhook-Url': 'ftp://x',
      });
      expect(response.status).toBe(400);
      const error = await errorOf(response);
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.message).toContain('X-Switchyard-Webhook-Url');
    });
  });

  describe('large bodies', () => {
    const limit = 12 * MiB;

    it('runs an ~8 MB body that real-time refuses with 413, one answer row per input row', async () => {
      const rows = 470_000;
      const body = ROW.repeat(rows);
      expect(Buffer.byteLength(body)).toBeGreaterThan(6 * MiB);
      const realtime = await fetch(`${http.url}/v1/models/iris/invoke`, {
        method: 'POST',
        body,
        headers: { 'Content-Type': 'text/csv', Accept: 'text/csv' },
      });
      expect(realtime.status).toBe(413);
      expect((await errorOf(realtime)).code).toBe('PAYLOAD_TOO_LARGE');

      const response = await fetch(`${http.url}/v1/models/iris/async`, {
        method: 'POST',
        body,
        headers: { 'Content-Type': 'text/csv', Accept: 'text/csv' },
      });
      const queued = await accepted(response);
      const answer = await outcomeOf(gateway.app, queued.inferenceId, 50_000);
      expect(answer.status).toBe(200);
      const lines = (await answer.text()).trimEnd().split('\n');
      expect(lines).toHaveLength(rows);
      expect(new Set(lines).size).toBe(1); // the same row, the same answer
    }, 90_000);

    /** A body just over the async limit. */
    const overLimit = () => Buffer.from(ROW.repeat(Math.ceil((limit + 64 * 1024) / ROW.length)));

    async function expectNoTrace(id: string): Promise<void> {
      const status = await gateway.app.request(`/v1/inferences/${id}/status`);
      expect(status.status).toBe(404);
      expect(await filesUnder(join(gateway.storage, 'async', id))).toEqual([]);
      // The id is still free.
      const again = await accepted(
        await submitAsync(gateway.app, ROW, {
          'Content-Type': 'text/csv',
          'X-Amzn-SageMaker-Inference-Id': id,
        }),
      );
      expect(again.inferenceId).toBe(id);
      expect((await finished(gateway.app, id)).status).toBe('completed');
    }

    it('refuses a body over async.maxBodyBytes sent with Content-Length: 413, nothing kept', async () => {
      const id = `big-${randomUUID()}`;
      const body = overLimit();
      const response = await fetch(`${http.url}/v1/models/iris/async`, {
        method: 'POST',
        body,
        headers: {
          'Content-Type': 'text/csv',
          'Content-Length': String(body.byteLength),
          'X-Amzn-SageMaker-Inference-Id': id,
        },
      });
      expect(response.status).toBe(413);
      const error = await errorOf(response);
      expect(error.code).toBe('PAYLOAD_TOO_LARGE');
      expect(error.message).toContain(String(limit));
      await expectNoTrace(id);
    }, 60_000);

    it('refuses a chunked body once it passes async.maxBodyBytes: 413, nothing kept', async () => {
      const id = `big-chunked-${randomUUID()}`;
      const body = overLimit();
      // Left open after the last chunk: the answer must come from what was read.
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let at = 0; at < body.byteLength; at += 256 * 1024) {
            controller.enqueue(body.subarray(at, at + 256 * 1024));
          }
        },
      });
      const response = await fetch(`${http.url}/v1/models/iris/async`, {
        method: 'POST',
        body: stream,
        duplex: 'half',
        headers: { 'Content-Type': 'text/csv', 'X-Amzn-SageMaker-Inference-Id': id },
      });
      expect(response.status).toBe(413);
      expect((await errorOf(response)).code).toBe('PAYLOAD_TOO_LARGE');
      await expectNoTrace(id);
    }, 60_000);

    it('answers 400 to a request with no body and no InputLocation', async () => {
      const bare = await submitAsync(gateway.app, undefined, { 'Content-Type': 'text/csv' });
      expect(bare.status).toBe(400);
      expect((await errorOf(bare)).code).toBe('INVALID_INPUT');
      // The same over HTTP, with an explicit empty body.
      const empty = await fetch(`${http.url}/v1/models/iris/async`, {
        method: 'POST',
        body: '',
        headers: { 'Content-Type': 'text/csv' },
      });
      expect(empty.status).toBe(400);
      expect((await errorOf(empty)).code).toBe('INVALID_INPUT');
    });
  });

  describe('validation', () => {
    const csv = { 'Content-Type': 'text/csv', Accept: 'text/csv' };

    it('answers 404 for an unknown model and an unknown inference id', async () => {
      const model = await submitAsync(gateway.app, ROWS, csv, 'nope');
      expect(model.status).toBe(404);
      expect((await errorOf(model)).code).toBe('NOT_FOUND');
      for (const path of [
        `/v1/inferences/${randomUUID()}`,
        `/v1/inferences/${randomUUID()}/status`,
      ]) {
        const response = await gateway.app.request(path);
        expect(response.status).toBe(404);
        expect((await errorOf(response)).code).toBe('NOT_FOUND');
      }
    });

    it('answers 415 for a Content-Type the model does not take, 406 for an Accept it cannot answer', async () => {
      const type = await submitAsync(gateway.app, ROWS, { 'Content-Type': 'image/png' });
      expect(type.status).toBe(415);
      expect((await errorOf(type)).code).toBe('UNSUPPORTED_MEDIA_TYPE');
      const accept = await submitAsync(gateway.app, ROWS, { ...csv, Accept: 'image/png' });
      expect(accept.status).toBe(406);
      expect((await errorOf(accept)).code).toBe('NOT_ACCEPTABLE');
    });

    it.each([
      ['X-Amzn-SageMaker-RequestTTLSeconds', '0'],
      ['X-Amzn-SageMaker-RequestTTLSeconds', 'abc'],
      ['X-Amzn-SageMaker-RequestTTLSeconds', '21601'],
      ['X-Amzn-SageMaker-InvocationTimeoutSeconds', '0'],
      ['X-Amzn-SageMaker-InvocationTimeoutSeconds', '3601'],
    ])('answers 400 naming %s for %j', async (header, value) => {
      const response = await submitAsync(gateway.app, ROWS, { ...csv, [header]: value });
      expect(response.status).toBe(400);
      const error = await errorOf(response);
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.message).toContain(header);
    });

    it('answers 409 CONFLICT to a reused inference id, by body or by InputLocation', async () => {
      const id = `mine-${randomUUID()}`;
      const first = await accepted(
        await submitAsync(gateway.app, ROWS, { ...csv, 'X-Amzn-SageMaker-Inference-Id': id }),
      );
      expect(first.inferenceId).toBe(id);
      const byBody = await submitAsync(gateway.app, ROWS, {
        ...csv,
        'X-Amzn-SageMaker-Inference-Id': id,
      });
      expect(byBody.status).toBe(409);
      expect((await errorOf(byBody)).code).toBe('CONFLICT');
      const byLocation = await submitAsync(gateway.app, undefined, {
        ...csv,
        'X-Amzn-SageMaker-Inference-Id': id,
        'X-Amzn-SageMaker-InputLocation': first.inputLocation,
      });
      expect(byLocation.status).toBe(409);
      // The first one is untouched: it runs to the answer of its own body.
      const answer = await outcomeOf(gateway.app, id);
      expect(answer.status).toBe(200);
      expect((await answer.text()).trim().split('\n')).toHaveLength(3);
    });

    it('keeps the accepted body when two requests race for the same inference id', async () => {
      const rows = [1, 5];
      const outcomes = await Promise.all(
        Array.from({ length: 8 }, async () => {
          const id = `race-${randomUUID()}`;
          const responses = await Promise.all(
            rows.map((n) =>
              submitAsync(gateway.app, ROW.repeat(n), {
                ...csv,
                'X-Amzn-SageMaker-Inference-Id': id,
              }),
            ),
          );
          const statuses = responses.map((r) => r.status);
          expect([...statuses].sort()).toEqual([202, 409]);
          const answer = await outcomeOf(gateway.app, id);
          expect(answer.status).toBe(200);
          return {
            id,
            accepted: rows[statuses.indexOf(202)],
            answered: (await answer.text()).trim().split('\n').length,
          };
        }),
      );
      // Each inference answers the body of the request that was accepted (202).
      for (const outcome of outcomes) expect(outcome.answered, outcome.id).toBe(outcome.accepted);
    });

    it('answers 400 to an invalid inference id', async () => {
      const response = await submitAsync(gateway.app, ROWS, {
        ...csv,
        'X-Amzn-SageMaker-Inference-Id': '../escape',
      });
      expect(response.status).toBe(400);
      expect((await errorOf(response)).code).toBe('INVALID_INPUT');
    });

    it('answers 400 to an InputLocation outside the object store, or not in it', async () => {
      for (const location of [
        'file:///etc/passwd',
        's3://other/x',
        `${pathToFileURL(gateway.storage).href}/../../etc/passwd`,
        `${pathToFileURL(gateway.storage).href}/inputs/${randomUUID()}.csv`,
      ]) {
        const response = await submitAsync(gateway.app, undefined, {
          ...csv,
          'X-Amzn-SageMaker-InputLocation': location,
        });
        expect(response.status, location).toBe(400);
        const error = await errorOf(response);
        expect(error.code).toBe('INVALID_INPUT');
      }
    });

    it('answers 400 to an InputLocation naming a folder of the store rather than an object', async () => {
      const folder = join(gateway.storage, `folder-${randomUUID()}`);
      await mkdir(folder);
      await writeFile(join(folder, 'rows.csv'), ROWS);
      const response = await submitAsync(gateway.app, undefined, {
        ...csv,
        'X-Amzn-SageMaker-InputLocation': pathToFileURL(folder).href,
      });
      expect(response.status).toBe(400);
      expect((await errorOf(response)).code).toBe('INVALID_INPUT');
    });
  });
});

describe('async inference TTL', () => {
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await startGateway({
      // One task at a time: a running batch job keeps every async request waiting.
      tasks: { concurrency: 1 },
      models: {
        iris: {
          variants: {
            v1: { weight: 1, backend: { type: 'local', model: join(MODELS, 'iris-v1') } },
          },
        },
      },
    });
  });
  afterAll(async () => {
    await gateway.close();
  });

  const batchState = async (id: string) =>
    ((await (await gateway.app.request(`/v1/batch-jobs/${id}`)).json()) as { state: string }).state;

  it('expires a request that waited longer than its TTL: 504 TIMEOUT naming the TTL', async () => {
    const created = await gateway.app.request('/v1/batch-jobs?model=iris', {
      method: 'POST',
      body: '[[5.1,3.5,1.4,0.2]]\n'.repeat(200_000),
      headers: { 'Content-Type': 'application/jsonlines' },
    });
    expect(created.status).toBe(201);
    const batch = (await created.json()) as { id: string };
    await until(
      'batch job running',
      () => batchState(batch.id),
      (s) => s === 'running',
    );

    const queued = await accepted(
      await submitAsync(gateway.app, ROWS, {
        'Content-Type': 'text/csv',
        'X-Amzn-SageMaker-RequestTTLSeconds': '1',
      }),
    );
    // Let its TTL pass while the batch job holds the only task slot.
    await delay(1_500);
    expect(await batchState(batch.id), 'the batch job must still hold the slot').toBe('running');
    expect((await statusOf(gateway.app, queued.inferenceId)).status).toBe('queued');
    // Free the slot (cancelling is quicker than waiting the job out).
    expect(
      (await gateway.app.request(`/v1/batch-jobs/${batch.id}`, { method: 'DELETE' })).status,
    ).toBe(202);

    const done = await finished(gateway.app, queued.inferenceId);
    expect(done.status).toBe('expired');
    expect(done.error?.code).toBe('TIMEOUT');
    const response = await gateway.app.request(`/v1/inferences/${queued.inferenceId}`);
    expect(response.status).toBe(504);
    expect(response.headers.get('x-switchyard-inference-status')).toBe('expired');
    const error = await errorOf(response);
    expect(error.code).toBe('TIMEOUT');
    expect(error.message).toMatch(/TTL of 1 s/);
    // The failure is written where the 202 said it would be.
    const failure = JSON.parse(await readFile(fileURLToPath(queued.failureLocation), 'utf8')) as {
      inferenceId: string;
      error: { code: string };
    };
    expect(failure).toMatchObject({ inferenceId: queued.inferenceId, error: { code: 'TIMEOUT' } });
  }, 60_000);
});

describe('async inference across gateways sharing Redis, through a queue worker', () => {
  const redisUrl = inject('redisUrl');
  const queue = `test-${randomUUID()}`;
  let worker: WorkerProcess;
  let storage: string;
  let first: Gateway;
  let second: Gateway;
  const ids: string[] = [];

  beforeAll(async () => {
    storage = await mkdtemp(join(tmpdir(), 'switchyard-async-shared-'));
    // The worker reads the gateways' store: large bodies reach it by location.
    worker = await startWorkerProcess(
      ['--model', join(MODELS, 'iris-v1'), '--queue', queue, '--storage', storage],
      redisUrl,
    );
    const config = {
      storage: { sharedWithWorkers: true },
      // Its own keys and task queue on the Redis other suites share.
      redis: { url: redisUrl, namespace: `async-${queue}` },
      models: { iris: { variants: { q: { weight: 1, backend: { type: 'queue', queue } } } } },
    };
    first = await startGateway(config, storage);
    second = await startGateway(config, storage);
  });
  afterAll(async () => {
    worker.child.kill('SIGTERM');
    await worker.exited;
    await first.close();
    await second.close();
    // What this suite left in Redis: its worker queue, its tasks and records.
    const connection = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    const work = new Queue(queue, { connection });
    await work.obliterate({ force: true });
    await work.close();
    const tasks = new Queue('switchyard-gateway-tasks', { connection });
    for (const id of ids) await tasks.remove(`async-${id}`);
    await tasks.close();
    if (ids.length > 0) await connection.del(...ids.map((id) => `switchyard:async:${id}`));
    await connection.quit();
    await rm(storage, { recursive: true, force: true });
  });

  it('completes through the queue, and a second gateway sees its status and answer', async () => {
    const queued = await accepted(
      await submitAsync(first.app, ROWS, { 'Content-Type': 'text/csv', Accept: 'text/csv' }),
    );
    ids.push(queued.inferenceId);
    // Right away, before it ran: the other gateway knows it.
    expect(['queued', 'running', 'completed']).toContain(
      (await statusOf(second.app, queued.inferenceId)).status,
    );
    const done = await finished(second.app, queued.inferenceId);
    expect(done).toMatchObject({ status: 'completed', variant: 'q', error: null });

    const answer = await second.app.request(`/v1/inferences/${queued.inferenceId}`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^text\/csv\b/);
    const sync = await first.app.request('/v1/models/iris/invoke', {
      method: 'POST',
      body: ROWS,
      headers: { 'Content-Type': 'text/csv', Accept: 'text/csv' },
    });
    expect(sync.status).toBe(200);
    expect(await answer.text()).toBe(await sync.text());
    expect(await statusOf(first.app, queued.inferenceId)).toEqual(done);
  }, 60_000);

  it('sends a large body to the worker by its location, not through Redis', async () => {
    const rows = '6.3,3.3,6.0,2.5\n'.repeat(60_000); // ~960 KB
    const queued = await accepted(
      await submitAsync(first.app, rows, { 'Content-Type': 'text/csv', Accept: 'text/csv' }),
    );
    ids.push(queued.inferenceId);
    expect((await finished(first.app, queued.inferenceId)).status).toBe('completed');
    const answer = await first.app.request(`/v1/inferences/${queued.inferenceId}`);
    expect((await answer.text()).trim().split('\n')).toHaveLength(60_000);

    // The job the worker ran carried the location and an empty body.
    const connection = new Redis(redisUrl);
    const jobs = new Queue(queue, { connection });
    try {
      const job = await jobs.getJob(queued.inferenceId);
      expect(job?.data).toMatchObject({ body: '', bodyLocation: queued.inputLocation });
    } finally {
      await jobs.close();
      connection.disconnect();
    }
  }, 60_000);
});
