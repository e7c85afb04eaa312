import type { Encoded } from '../codecs/registry.js';
import type { LoadContext, PredictContext, RequestContext } from './context.js';

export type MaybePromise<T> = T | Promise<T>;

/**
 * What `outputFn` and `transformFn` may return: bytes with their content type, or
 * bare bytes / text, which are sent as the negotiated Accept type.
 */
export type HandlerOutput = Encoded | Uint8Array | string;

/** Loads the model once per worker process (SageMaker's `model_fn`). */
export type ModelFn<TModel> = (modelDir: string, ctx: LoadContext) => MaybePromise<TModel>;
/** Runs once after load, before the model takes traffic (SageMaker's `model_warmup_fn`). */
export type WarmupFn<TModel> = (
  modelDir: string,
  model: TModel,
  ctx: LoadContext,
) => MaybePromise<void>;
/** Turns one request body into model input (SageMaker's `input_fn`). */
export type InputFn<TInput> = (
  body: Uint8Array,
  contentType: string,
  ctx: RequestContext,
) => MaybePromise<TInput>;
/** Runs the model on one input, or on a stacked batch of inputs (SageMaker's `predict_fn`). */
export type PredictFn<TModel, TInput, TPrediction> = (
  input: TInput,
  model: TModel,
  ctx: PredictContext,
) => MaybePromise<TPrediction>;
/** Turns one request's prediction into response bytes (SageMaker's `output_fn`). */
export type OutputFn<TPrediction> = (
  prediction: TPrediction,
  accept: string,
  ctx: RequestContext,
) => MaybePromise<HandlerOutput>;
/** Does input, predict and output in one step (SageMaker's `transform_fn`); never batched. */
export type TransformFn<TModel> = (
  model: TModel,
  body: Uint8Array,
  contentType: string,
  accept: string,
  ctx: RequestContext,
) => MaybePromise<HandlerOutput>;

/** A handler that leaves the input → predict → output chain in place (any subset). */
export interface ChainHandler<TModel = unknown, TInput = unknown, TPrediction = unknown> {
  modelFn?: ModelFn<TModel>;
  warmupFn?: WarmupFn<TModel>;
  inputFn?: InputFn<TInput>;
  predictFn?: PredictFn<TModel, TInput, TPrediction>;
  outputFn?: OutputFn<TPrediction>;
  transformFn?: never;
}

/** A handler that replaces the chain with `transformFn`. */
export interface TransformHandler<TModel = unknown> {
  modelFn?: ModelFn<TModel>;
  warmupFn?: WarmupFn<TModel>;
  transformFn: TransformFn<TModel>;
  inputFn?: never;
  predictFn?: never;
  outputFn?: never;
}

/** A user's handler module: the chain functions, or `transformFn`, never both. */
export type Handler<TModel = unknown, TInput = unknown, TPrediction = unknown> =
  ChainHandler<TModel, TInput, TPrediction> | TransformHandler<TModel>;

/**
 * Typed identity for user handler modules: infers `TModel`, `TInput` and
 * `TPrediction` across the functions, and rejects `transformFn` beside
 * `inputFn` / `predictFn` / `outputFn` at compile time (the loader checks the same
 * at run time for plain JavaScript modules).
 *
 * @example
 * ```ts
 * // code/inference.ts
 * import { defineHandler, type Tensor } from '@switchyard/handlers';
 *
 * export default defineHandler({
 *   async modelFn(modelDir) {
 *     return JSON.parse(await readFile(join(modelDir, 'weights.json'), 'utf8')) as number[];
 *   },
 *   predictFn(input: Tensor<'float32'>, weights) {
 *     return { ...input, data: input.data.map((x, i) => x * (weights[i % weights.length] ?? 0)) };
 *   },
 * });
 * ```
 */
export function defineHandler<TModel = unknown, TInput = unknown, TPrediction = unknown>(
  handler: ChainHandler<TModel, TInput, TPrediction>,
): ChainHandler<TModel, TInput, TPrediction>;
export function defineHandler<TModel = unknown>(
  handler: TransformHandler<TModel>,
): TransformHandler<TModel>;
export function defineHandler(handler: Handler): Handler {
  return handler;
}
