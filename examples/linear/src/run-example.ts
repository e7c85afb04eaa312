import { fileURLToPath } from 'node:url';
import {
  createTensor,
  decodeInputFn,
  encode,
  encodeOutputFn,
  invokeHandler,
  resolveHandler,
  toInferenceError,
  type HandlerLogger,
  type LoadContext,
  type RequestContext,
} from '@switchyard/handlers';
import * as inference from './inference.js';

// The model directory shipped beside the example (SageMaker's model layout).
const MODEL_DIR = fileURLToPath(new URL('../model', import.meta.url));

export interface ExampleRequest {
  readonly name: string;
  readonly body: Uint8Array;
  readonly contentType: string;
  readonly accept?: string;
}

export interface ExampleResponse {
  readonly name: string;
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

const text = (s: string) => new TextEncoder().encode(s);

/** Requests in each supported format, and two a client gets wrong. */
export const EXAMPLE_REQUESTS: readonly ExampleRequest[] = [
  {
    name: 'JSON in, JSON out',
    body: text('{"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}'),
    contentType: 'application/json; charset=utf-8',
  },
  {
    name: 'CSV in, CSV out',
    body: text('5.1,3.5,1.4,0.2\n5.9,3.0,4.2,1.5\n'),
    contentType: 'text/csv',
    accept: 'text/csv',
  },
  {
    name: 'NPY in, JSON preferred by q-value',
    body: encode(
      createTensor('float64', [1, 4], new Float64Array([6.3, 2.9, 5.6, 1.8])),
      'application/x-npy',
    ).body,
    contentType: 'application/x-npy',
    accept: 'text/csv;q=0.5, application/json',
  },
  { name: 'ragged JSON', body: text('[[1, 2, 3, 4], [5, 6]]'), contentType: 'application/json' },
  { name: 'unsupported type', body: text('<x/>'), contentType: 'application/xml' },
];

/**
 * Load the example model once, then run each request through the handler chain,
 * answering errors the way the gateway will: status and a JSON error body.
 */
export async function runExample(
  requests: readonly ExampleRequest[],
  logger: HandlerLogger,
): Promise<ExampleResponse[]> {
  const handler = resolveHandler(inference, {
    source: 'examples/linear/src/inference.ts',
    defaults: { inputFn: decodeInputFn, outputFn: encodeOutputFn },
  });
  const load: LoadContext = {
    modelName: 'linear',
    variant: undefined,
    deviceId: undefined,
    logger,
    modelDir: MODEL_DIR,
  };
  const model = await handler.modelFn(MODEL_DIR, load);
  await handler.warmupFn?.(MODEL_DIR, model, load);
  const responses: ExampleResponse[] = [];
  for (const [index, request] of requests.entries()) {
    const context: RequestContext = {
      ...load,
      requestId: `example-${index + 1}`,
      customAttributes: undefined,
      deadline: Date.now() + 5_000,
      batchSize: 1,
      signal: AbortSignal.timeout(5_000),
    };
    try {
      const out = await invokeHandler(handler, model, {
        ...request,
        accept: request.accept,
        context,
      });
      responses.push({
        name: request.name,
        status: 200,
        contentType: out.contentType,
        body: new TextDecoder().decode(out.body),
      });
    } catch (caught) {
      const error = toInferenceError(caught);
      responses.push({
        name: request.name,
        status: error.status,
        contentType: 'application/json',
        body: JSON.stringify({ error: { ...error.toJSON(), requestId: context.requestId } }),
      });
    }
  }
  return responses;
}
