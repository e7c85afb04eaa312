import {
  InferenceError,
  callHandlerFunction,
  createTensor,
  elementCount,
  resolveAccept,
  toEncoded,
  toInferenceError,
  TYPED_ARRAY_BY_DTYPE,
  type HandlerLogger,
  type LoadContext,
  type NamedTensors,
  type RequestContext,
  type ResolvedHandler,
} from '@switchyard/handlers';
import { DynamicBatcher, type DynamicBatcherOptions } from '../batching/dynamic-batcher.js';
import { isOnnxModel, runModel, type OnnxModel } from '../onnx/onnx-model.js';
import type { OnnxSessionOptions } from '../onnx/session.js';
import { batchShapeOf, splitPrediction, stackInputs } from './batch-input.js';
import { ensureCodeDependencies } from './code-dependencies.js';
import { loadHandler, onnxDefaults } from './load-handler.js';
import type {
  BatchTiming,
  RuntimeInfo,
  RuntimeRequest,
  RuntimeResult,
  RuntimeTimings,
} from './types.js';

export interface ModelRuntimeOptions {
  readonly modelDir: string;
  readonly modelName: string;
  readonly variant?: string | undefined;
  readonly onnx?: OnnxSessionOptions;
  readonly batching?: DynamicBatcherOptions;
  /** Accept for requests without one (or `*\/*`). @defaultValue `'application/json'` */
  readonly defaultAccept?: string;
  /**
   * Install missing `code/package.json` dependencies at load.
   * @defaultValue true
   */
  readonly installDependencies?: boolean;
  readonly logger: HandlerLogger;
}

/** A loaded, warm model behind the handler chain, with dynamic batching. */
export interface ModelRuntime {
  readonly info: RuntimeInfo;
  invoke(request: RuntimeRequest): Promise<RuntimeResult>;
  /** Finish what is queued and running, then release the model. */
  close(): Promise<void>;
}

interface Pending {
  readonly key: string;
  readonly rows: number;
  readonly input: unknown;
  readonly request: RuntimeRequest;
  readonly accept: string;
  readonly receivedAt: number;
  readonly resolve: (result: RuntimeResult) => void;
}

/**
 * Load a model directory (its ONNX file, its `code/inference.mjs` if any), warm it
 * up, and serve requests through `inputFn → predictFn → outputFn`, batching
 * requests whose inputs stack. A batch that fails is re-run one request at a time,
 * so a poison request fails alone; a request past its deadline is never computed.
 *
 * @example
 * ```ts
 * const runtime = await createModelRuntime({ modelDir: 'examples/models/iris-v1', modelName: 'iris', logger });
 * const result = await runtime.invoke({ requestId, body, contentType: 'text/csv', accept: undefined, ... });
 * ```
 */
export async function createModelRuntime(options: ModelRuntimeOptions): Promise<ModelRuntime> {
  const { modelDir, modelName, logger } = options;
  const variant = options.variant;
  const defaultAccept = options.defaultAccept ?? 'application/json';
  await ensureCodeDependencies(modelDir, { install: options.installDependencies ?? true, logger });
  // The defaults read the model once modelFn has made it.
  const loaded: { model?: unknown } = {};
  const handler = await loadHandler(
    modelDir,
    onnxDefaults(options.onnx ?? {}, defaultAccept, () => loaded.model),
  );
  const deviceId =
    options.onnx?.executionProvider === 'cuda' ? (options.onnx.deviceId ?? 0) : undefined;
  const base = { modelName, variant, deviceId, logger };
  const load: LoadContext = { ...base, modelDir };
  const model = await handler.modelFn(modelDir, load);
  loaded.model = model;
  if (handler.warmupFn !== undefined) await handler.warmupFn(modelDir, model, load);
  else if (isOnnxModel(model)) await warmOnnx(model);

  let solo = 0;
  let batches = 0;
  const context = (request: RuntimeRequest, batchSize: number): RequestContext =>
    new LazyContext(base, request, batchSize);

  const timings = (
    item: Pending,
    start: number,
    end: number,
    batchSize: number,
    batch?: BatchTiming,
  ): RuntimeTimings => ({
    queueMs: Math.max(0, item.receivedAt - item.request.enqueuedAt),
    batchWaitMs: start - item.receivedAt,
    computeMs: end - start,
    batchSize,
    batch,
  });

  const fail = (item: Pending, error: unknown, t: RuntimeTimings): void => {
    item.resolve({ ok: false, error: toInferenceError(error).toJSON(), timings: t });
  };

  const runBatch = async (items: Pending[]): Promise<void> => {
    const start = Date.now();
    const live: Pending[] = [];
    for (const item of items) {
      if (item.request.deadline < start) {
        fail(
          item,
          new InferenceError(
            'TIMEOUT',
            'the request waited past its deadline and was not computed',
          ),
          timings(item, start, start, 0),
        );
      } else {
        live.push(item);
      }
    }
    const [first] = live;
    if (first === undefined) return;
    const chain = handler.kind === 'chain' ? handler : undefined;
    try {
      if (chain === undefined) throw new Error('unreachable: transform handlers are not batched');
      const input =
        live.length === 1 ? first.input : stackInputs(live.map((i) => i.input) as NamedTensors[]);
      const prediction = await callHandlerFunction('predictFn', () =>
        chain.predictFn(input, model, {
          ...base,
          requestIds: live.map((i) => i.request.requestId),
          deadline: Math.min(...live.map((i) => i.request.deadline)),
          batchSize: live.reduce((n, i) => n + i.rows, 0),
          signal: AbortSignal.timeout(
            Math.max(0, Math.min(...live.map((i) => i.request.deadline)) - start),
          ),
        }),
      );
      const pieces =
        live.length === 1
          ? [prediction]
          : splitPrediction(
              prediction,
              live.map((i) => i.rows),
            );
      if (pieces === undefined) {
        throw new InferenceError('MODEL_ERROR', 'predictFn did not keep one row per input row');
      }
      const end = Date.now();
      // One object for the whole batch, shared by its results.
      const batch: BatchTiming = { id: batches++, startedAt: start, endedAt: end };
      await Promise.all(
        live.map(async (item, k) => {
          const t = timings(item, start, end, live.length, batch);
          try {
            const output = await callHandlerFunction('outputFn', () =>
              chain.outputFn(pieces[k], item.accept, context(item.request, live.length)),
            );
            item.resolve({ ok: true, ...toEncoded(output, item.accept), timings: t });
          } catch (error) {
            fail(item, error, t);
          }
        }),
      );
    } catch (error) {
      if (live.length > 1) {
        logger.warn(
          { size: live.length, err: toInferenceError(error).message },
          'batch failed; re-running its requests one by one',
        );
        for (const item of live) await runBatch([item]);
        return;
      }
      const end = Date.now();
      fail(
        first,
        error,
        timings(first, start, end, 1, { id: batches++, startedAt: start, endedAt: end }),
      );
    }
  };

  const batcher = new DynamicBatcher<Pending>(runBatch, options.batching);

  const invoke = async (request: RuntimeRequest): Promise<RuntimeResult> => {
    const receivedAt = Date.now();
    const accept = resolveAccept(request.accept, defaultAccept);
    const early = (error: unknown): RuntimeResult => ({
      ok: false,
      error: toInferenceError(error).toJSON(),
      timings: {
        queueMs: Math.max(0, receivedAt - request.enqueuedAt),
        batchWaitMs: 0,
        computeMs: 0,
        batchSize: 0,
      },
    });
    if (request.deadline < receivedAt) {
      return early(
        new InferenceError('TIMEOUT', 'the request arrived past its deadline and was not computed'),
      );
    }
    if (handler.kind === 'transform') {
      try {
        const output = await callHandlerFunction('transformFn', () =>
          handler.transformFn(
            model,
            request.body,
            request.contentType,
            accept,
            context(request, 1),
          ),
        );
        const end = Date.now();
        return {
          ok: true,
          ...toEncoded(output, accept),
          timings: {
            queueMs: Math.max(0, receivedAt - request.enqueuedAt),
            batchWaitMs: 0,
            computeMs: end - receivedAt,
            batchSize: 1,
          },
        };
      } catch (error) {
        return early(error);
      }
    }
    let input: unknown;
    try {
      input = await callHandlerFunction('inputFn', () =>
        handler.inputFn(request.body, request.contentType, context(request, 1)),
      );
    } catch (error) {
      return early(error);
    }
    const shape = batchShapeOf(input);
    return new Promise<RuntimeResult>((resolve) => {
      batcher.add({
        key: shape?.key ?? `solo:${solo++}`,
        rows: shape?.rows ?? 1,
        input,
        request,
        accept,
        receivedAt,
        resolve,
      });
    });
  };

  return {
    info: describe(handler, model, modelName, variant),
    invoke,
    async close() {
      await batcher.drain();
      if (isOnnxModel(model)) await model.session.release();
    },
  };
}

/** One row of zeros through every input, so the first request pays no first-run cost. */
async function warmOnnx(model: OnnxModel): Promise<void> {
  const inputs: Record<string, ReturnType<typeof createTensor>> = {};
  for (const spec of model.inputs) {
    const shape = spec.shape.map((d) => d ?? 1);
    const count = elementCount(shape);
    inputs[spec.name] =
      spec.dtype === 'string'
        ? createTensor('string', shape, new Array<string>(count).fill(''))
        : createTensor(spec.dtype, shape, new TYPED_ARRAY_BY_DTYPE[spec.dtype](count));
  }
  await runModel(model, inputs);
}

function describe(
  handler: ResolvedHandler,
  model: unknown,
  modelName: string,
  variant: string | undefined,
): RuntimeInfo {
  const spec = (s: { name: string; dtype: string; shape: readonly (number | undefined)[] }) => ({
    name: s.name,
    dtype: s.dtype,
    shape: s.shape.map((d) => d ?? null),
  });
  return {
    modelName,
    variant,
    kind: isOnnxModel(model) ? 'onnx' : 'custom',
    provider: isOnnxModel(model) ? model.provider : undefined,
    userFunctions: handler.userFunctions,
    inputs: isOnnxModel(model) ? model.inputs.map(spec) : [],
    outputs: isOnnxModel(model) ? model.outputs.map(spec) : [],
  };
}

/**
 * A request context whose abort signal is made on first use: a timer per request
 * that no handler reads would cost more than the whole chain of a small model.
 */
class LazyContext implements RequestContext {
  readonly modelName: string;
  readonly variant: string | undefined;
  readonly deviceId: number | undefined;
  readonly logger: HandlerLogger;
  readonly requestId: string;
  readonly customAttributes: string | undefined;
  readonly deadline: number;
  private made: AbortSignal | undefined;

  constructor(
    base: {
      modelName: string;
      variant: string | undefined;
      deviceId: number | undefined;
      logger: HandlerLogger;
    },
    request: RuntimeRequest,
    readonly batchSize: number,
  ) {
    this.modelName = base.modelName;
    this.variant = base.variant;
    this.deviceId = base.deviceId;
    this.logger = base.logger;
    this.requestId = request.requestId;
    this.customAttributes = request.customAttributes;
    this.deadline = request.deadline;
  }

  get signal(): AbortSignal {
    return (this.made ??= AbortSignal.timeout(Math.max(0, this.deadline - Date.now())));
  }
}
