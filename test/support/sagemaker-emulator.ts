import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { serveSageMaker, startModelHost } from '@switchyard/worker';
import type { AddressInfo } from 'node:net';

/** What an emulated endpoint does with the next requests. */
type EndpointBehaviour =
  | { readonly kind: 'forward'; readonly to: string; readonly variant?: string }
  | { readonly kind: 'throttle' }
  | { readonly kind: 'model-error'; readonly status: number; readonly message: string }
  | { readonly kind: 'unavailable' }
  | { readonly kind: 'internal' }
  | { readonly kind: 'delay'; readonly ms: number; readonly then: EndpointBehaviour };

export interface SageMakerEmulator {
  readonly url: string;
  /** Calls received per endpoint name. */
  readonly calls: Map<string, number>;
  set(endpoint: string, behaviour: EndpointBehaviour): void;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function awsError(
  res: ServerResponse,
  status: number,
  type: string,
  body: Record<string, unknown>,
): void {
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'x-amzn-ErrorType': type,
    'x-amzn-RequestId': 'emulated',
  });
  res.end(JSON.stringify(body));
}

/**
 * A local server speaking SageMaker Runtime's InvokeEndpoint REST protocol:
 * `POST /endpoints/{name}/invocations` with its headers, forwarding to a worker's
 * `/invocations`, or answering with AWS's error shapes (`x-amzn-ErrorType`).
 */
export async function startSageMakerEmulator(): Promise<SageMakerEmulator> {
  const behaviours = new Map<string, EndpointBehaviour>();
  const calls = new Map<string, number>();

  const respond = async (
    behaviour: EndpointBehaviour,
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
  ) => {
    switch (behaviour.kind) {
      case 'delay':
        await new Promise((r) => setTimeout(r, behaviour.ms));
        return respond(behaviour.then, req, res, body);
      case 'throttle': {
        awsError(res, 400, 'ThrottlingException', { message: 'Rate exceeded' });
        return;
      }
      case 'unavailable': {
        awsError(res, 503, 'ServiceUnavailable', { message: 'Service is unavailable' });
        return;
      }
      case 'internal': {
        awsError(res, 500, 'InternalFailure', { message: 'An internal failure occurred' });
        return;
      }
      case 'model-error': {
        awsError(res, 424, 'ModelError', {
          message: `Received client error (${behaviour.status}) from primary with message "${behaviour.message}"`,
          Message: `Received client error (${behaviour.status}) from primary with message "${behaviour.message}"`,
          OriginalStatusCode: behaviour.status,
          OriginalMessage: behaviour.message,
          LogStreamArn:
            'arn:aws:logs:us-east-1:000000000000:log-group:/aws/sagemaker/Endpoints/emulated',
        });
        return;
      }
      case 'forward': {
        const headers: Record<string, string> = {};
        for (const name of ['content-type', 'accept', 'x-amzn-sagemaker-custom-attributes']) {
          const value = req.headers[name];
          if (typeof value === 'string') headers[name] = value;
        }
        const answer = await fetch(`${behaviour.to}/invocations`, {
          method: 'POST',
          body,
          headers,
        });
        const payload = Buffer.from(await answer.arrayBuffer());
        if (!answer.ok) {
          awsError(res, 424, 'ModelError', {
            message: `Received client error (${answer.status}) from primary`,
            OriginalStatusCode: answer.status,
            OriginalMessage: payload.toString(),
          });
          return;
        }
        const out: Record<string, string> = {
          'Content-Type': answer.headers.get('content-type') ?? 'application/octet-stream',
          'x-Amzn-Invoked-Production-Variant': behaviour.variant ?? 'AllTraffic',
        };
        const attributes = answer.headers.get('x-amzn-sagemaker-custom-attributes');
        if (attributes !== null) out['X-Amzn-SageMaker-Custom-Attributes'] = attributes;
        res.writeHead(200, out);
        res.end(payload);
        return;
      }
    }
  };

  const server: Server = createServer((req, res) => {
    const match = /^\/endpoints\/([^/]+)\/invocations$/.exec(req.url ?? '');
    void readBody(req).then(async (body) => {
      if (req.method !== 'POST' || match === null) {
        awsError(res, 404, 'UnknownOperationException', { message: 'unknown operation' });
        return;
      }
      const name = decodeURIComponent(match[1] ?? '');
      calls.set(name, (calls.get(name) ?? 0) + 1);
      const behaviour = behaviours.get(name);
      if (behaviour === undefined) {
        awsError(res, 400, 'ValidationError', {
          message: `Endpoint ${name} of account 000000000000 not found.`,
        });
        return;
      }
      return respond(behaviour, req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    set: (endpoint, behaviour) => behaviours.set(endpoint, behaviour),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
}

export interface ModelContainer {
  /** Base URL of its `/ping` and `/invocations`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * A model container as SageMaker runs one behind an endpoint: a worker in
 * `serve` mode, in this process, for the emulator to forward to.
 */
export async function startModelContainer(
  modelDir: string,
  modelName: string,
): Promise<ModelContainer> {
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const host = await startModelHost({ modelDir, modelName, logger: silent });
  const server = await serveSageMaker({ host, port: 0, logger: silent });
  return {
    url: `http://127.0.0.1:${server.port}`,
    async close() {
      await server.close();
      await host.close();
    },
  };
}
