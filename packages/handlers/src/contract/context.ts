/** A log call in pino's shape, so a pino logger can be passed as it is. */
export interface LogFn {
  (message: string): void;
  (fields: object, message?: string): void;
}

/** The logger handlers receive: a structural subset of pino's `Logger`. */
export interface HandlerLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

/** What every handler function is told about where it runs. */
export interface HandlerContext {
  /** The model's name in the gateway's registry. */
  readonly modelName: string;
  /** The production variant being served, when the model has several. */
  readonly variant: string | undefined;
  /** GPU ordinal for the CUDA execution provider; `undefined` on CPU. */
  readonly deviceId: number | undefined;
  readonly logger: HandlerLogger;
}

/** Context of `modelFn` and `warmupFn`, called once per process and model. */
export interface LoadContext extends HandlerContext {
  /** Directory the model was unpacked into (SageMaker's `/opt/ml/model`). */
  readonly modelDir: string;
}

/** Context of the per-request functions: `inputFn`, `outputFn`, `transformFn`. */
export interface RequestContext extends HandlerContext {
  readonly requestId: string;
  /** `X-Amzn-SageMaker-Custom-Attributes` as the client sent it. */
  readonly customAttributes: string | undefined;
  /** Epoch milliseconds after which nobody waits for the answer. */
  readonly deadline: number;
  /** Rows in the batch this request is computed in (1 when not batched). */
  readonly batchSize: number;
  /** Aborted when the request is abandoned (deadline passed, client gone, shutdown). */
  readonly signal: AbortSignal;
}

/** Context of `predictFn`, which runs once per batch. */
export interface PredictContext extends HandlerContext {
  /** The requests whose inputs were stacked into this batch, in row order. */
  readonly requestIds: readonly string[];
  /** The earliest deadline among the batch's requests. */
  readonly deadline: number;
  /** Rows in the stacked input. */
  readonly batchSize: number;
  readonly signal: AbortSignal;
}
