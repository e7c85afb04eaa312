import type { Decoded } from '../codecs/codec.js';
import { decode, encode, type Encoded } from '../codecs/registry.js';
import { isInferenceErrorCode } from '../errors/codes.js';
import { InferenceError, toInferenceError } from '../errors/inference-error.js';
import { parseMediaType } from '../media-type/parse.js';
import type { RequestContext } from './context.js';
import type { HandlerOutput, InputFn, OutputFn } from './handler.js';
import type { ResolvedHandler } from './resolve.js';

/**
 * Default `inputFn`: decode the body by its content type with the default codecs.
 *
 * @example
 * ```ts
 * resolveHandler(userModule, { defaults: { inputFn: decodeInputFn, outputFn: encodeOutputFn } });
 * ```
 */
export const decodeInputFn: InputFn<Decoded> = (body, contentType) => decode(body, contentType);

/**
 * Default `outputFn`: encode by Accept with the default codecs.
 *
 * @example
 * ```ts
 * await encodeOutputFn(prediction, 'text/csv', ctx); // { body, contentType: 'text/csv' }
 * ```
 */
export const encodeOutputFn: OutputFn<Decoded> = (prediction, accept) => encode(prediction, accept);

export interface InvokeRequest {
  readonly body: Uint8Array;
  readonly contentType: string;
  /** The request's Accept; missing or `*\/*` becomes `defaultAccept`. */
  readonly accept: string | undefined;
  readonly context: RequestContext;
}

export interface InvokeOptions {
  /**
   * Accept for requests that send none, or `*\/*` (SageMaker's
   * `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`).
   * @defaultValue `'application/json'`
   */
  defaultAccept?: string;
}

/**
 * Run one request through a resolved handler, unbatched: `inputFn → predictFn →
 * outputFn`, or `transformFn`. Errors a handler throws as `InferenceError` keep
 * their code; anything else is the model's fault and becomes `MODEL_ERROR` (424)
 * naming the function that failed.
 *
 * @example
 * ```ts
 * const model = await handler.modelFn(modelDir, loadContext);
 * const { body, contentType } = await invokeHandler(handler, model, {
 *   body: new TextEncoder().encode('[[1, 2, 3]]'),
 *   contentType: 'application/json',
 *   accept: 'text/csv',
 *   context,
 * });
 * ```
 */
export async function invokeHandler<TModel>(
  handler: ResolvedHandler<TModel>,
  model: TModel,
  request: InvokeRequest,
  options: InvokeOptions = {},
): Promise<Encoded> {
  const { body, contentType, context } = request;
  const accept = resolveAccept(request.accept, options.defaultAccept ?? 'application/json');
  if (handler.kind === 'transform') {
    const output = await callHandlerFunction('transformFn', () =>
      handler.transformFn(model, body, contentType, accept, context),
    );
    return toEncoded(output, accept);
  }
  const input = await callHandlerFunction('inputFn', () =>
    handler.inputFn(body, contentType, context),
  );
  const prediction = await callHandlerFunction('predictFn', () =>
    handler.predictFn(input, model, {
      modelName: context.modelName,
      variant: context.variant,
      deviceId: context.deviceId,
      logger: context.logger,
      requestIds: [context.requestId],
      deadline: context.deadline,
      batchSize: context.batchSize,
      signal: context.signal,
    }),
  );
  const output = await callHandlerFunction('outputFn', () =>
    handler.outputFn(prediction, accept, context),
  );
  return toEncoded(output, accept);
}

/**
 * The Accept a handler sees: the request's, or `defaultAccept` when it is missing,
 * empty or `*\/*` (SageMaker's `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT` rule).
 *
 * @example
 * ```ts
 * resolveAccept('*\/*', 'text/csv'); // 'text/csv'
 * ```
 */
export function resolveAccept(accept: string | undefined, defaultAccept: string): string {
  const trimmed = accept?.trim() ?? '';
  return trimmed === '' || trimmed === '*/*' ? defaultAccept : trimmed;
}

/**
 * Call one user handler function: an `InferenceError` it throws — or any error
 * whose `code` is one of ours — keeps its code; anything else is the model's fault
 * and becomes `MODEL_ERROR` (424) naming the function.
 *
 * @example
 * ```ts
 * const input = await callHandlerFunction('inputFn', () => handler.inputFn(body, type, ctx));
 * ```
 */
export async function callHandlerFunction<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    // User code cannot share our InferenceError class (it may not even import
    // it): an error that carries one of our codes keeps it.
    const code = (error as { code?: unknown } | null)?.code;
    if (error instanceof InferenceError || isInferenceErrorCode(code))
      throw toInferenceError(error);
    const message = error instanceof Error ? error.message : String(error);
    throw new InferenceError('MODEL_ERROR', `${name} failed: ${message}`, { cause: error });
  }
}

/**
 * Bare bytes or text from a handler are labelled with the Accept type when it names one.
 *
 * @example
 * ```ts
 * toEncoded('0.93', 'text/plain'); // { body: Uint8Array, contentType: 'text/plain' }
 * ```
 */
export function toEncoded(output: HandlerOutput, accept: string): Encoded {
  if (typeof output === 'string') {
    return { body: new TextEncoder().encode(output), contentType: concreteType(accept) };
  }
  if (output instanceof Uint8Array) return { body: output, contentType: concreteType(accept) };
  return output;
}

function concreteType(accept: string): string {
  const first = parseMediaType(accept.split(',')[0] ?? '');
  if (first === undefined || first.type === '*' || first.subtype === '*') {
    return 'application/octet-stream';
  }
  return first.essence;
}
