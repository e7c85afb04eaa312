import type { InferenceErrorJSON, InvocationRequest } from '@switchyard/handlers';

/** One inference request as the runtime takes it (from the queue or HTTP). */
export interface RuntimeRequest extends InvocationRequest {
  /** Epoch ms the request entered the system (for queue-wait figures). */
  readonly enqueuedAt: number;
  /** A registered variant's revision the request is for (multi-model workers). */
  readonly revision?: number | undefined;
  /** `X-Amzn-SageMaker-Target-Model` of a multi-model variant. */
  readonly targetModel?: string | undefined;
}

export interface RuntimeTimings {
  /** Enqueue to arrival at the runtime. */
  readonly queueMs: number;
  /** Arrival to the start of its batch. */
  readonly batchWaitMs: number;
  /** The handler chain, shared by the whole batch. */
  readonly computeMs: number;
  /** Requests in the batch. */
  readonly batchSize: number;
  /** The batch this request was computed in (absent when it reached none). */
  readonly batch?: BatchTiming | undefined;
}

/**
 * One batch, shared by its requests' results: for tracing, where the main thread
 * records one span per batch, linked to each of its requests.
 */
export interface BatchTiming {
  /** Sequence number of the batch within its runtime. */
  readonly id: number;
  /** Epoch ms the batch started (deadline checks, stacking, predictFn). */
  readonly startedAt: number;
  /** Epoch ms predictFn's answer was split back into its requests. */
  readonly endedAt: number;
}

export type RuntimeResult =
  | {
      readonly ok: true;
      readonly body: Uint8Array;
      readonly contentType: string;
      readonly timings: RuntimeTimings;
    }
  | { readonly ok: false; readonly error: InferenceErrorJSON; readonly timings: RuntimeTimings };

/** What a loaded model says about itself. */
export interface RuntimeInfo {
  readonly modelName: string;
  readonly variant: string | undefined;
  /** `onnx` for the default handler, `custom` when user code loads the model. */
  readonly kind: 'onnx' | 'custom';
  readonly provider: 'cpu' | 'cuda' | undefined;
  readonly userFunctions: readonly string[];
  readonly inputs: readonly { name: string; dtype: string; shape: (number | null)[] }[];
  readonly outputs: readonly { name: string; dtype: string; shape: (number | null)[] }[];
}
