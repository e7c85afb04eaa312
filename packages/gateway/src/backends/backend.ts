import {
  InferenceError,
  type ChunkRequest,
  type InferenceErrorJSON,
  type InvocationRequest,
  type RecordOutcome,
} from '@switchyard/handlers';

/** One inference request as the router hands it to a backend. */
export interface BackendRequest extends InvocationRequest {
  /** `X-Amzn-SageMaker-Target-Model`: the model of a multi-model endpoint. */
  readonly targetModel?: string | undefined;
  /**
   * Where the body also is in an object store workers can read (async inputs):
   * a queue backend may send this location instead of a large body.
   */
  readonly bodyLocation?: string | undefined;
  /** The revision of a registered variant to run (the one in service). */
  readonly revision?: number | undefined;
}

export type BackendResponse =
  | {
      readonly ok: true;
      readonly body: Uint8Array;
      readonly contentType: string;
      readonly customAttributes?: string | undefined;
      /** Requests in the batch the answer was computed in, when the backend knows. */
      readonly batchSize?: number | undefined;
    }
  | {
      readonly ok: false;
      readonly error: InferenceErrorJSON;
      /** Seconds a client should wait before trying again (503 backpressure). */
      readonly retryAfter?: number;
      /** Whether another variant may succeed; by default, whether the code is retryable. */
      readonly retryable?: boolean;
    };

/** Jobs of a queue variant by state, as BullMQ counts them. */
export interface QueueDepth {
  readonly waiting: number;
  /** Waiting with a priority: batch-job chunks. */
  readonly prioritized: number;
  readonly active: number;
}

/** Where a variant's requests go: in process, a queue, or a SageMaker endpoint. */
export interface Backend {
  readonly type: 'local' | 'queue' | 'sagemaker';
  /** Must leave `request.body` usable: the router may send it again (fallback, shadow). */
  invoke(request: BackendRequest): Promise<BackendResponse>;
  /**
   * Run a batch job's mini-batch: one outcome per record, in order. Records fail
   * one by one; the promise rejects only when the chunk could not run at all.
   */
  runChunk(chunk: ChunkRequest, signal: AbortSignal): Promise<RecordOutcome[]>;
  /** Whether the backend can take traffic now. */
  healthy(): boolean;
  /**
   * Jobs in the backend's queue now (queue backends only); `undefined` when it has
   * no figure. Rejects when the queue cannot be read (Redis down).
   */
  depth?(): Promise<QueueDepth | undefined>;
  close(): Promise<void>;
}

/** The answer of a variant that serves one model to a request naming a target model. */
export function singleModelOnly(model: string): BackendResponse {
  return {
    ok: false,
    error: new InferenceError(
      'INVALID_INPUT',
      `X-Amzn-SageMaker-Target-Model names a model of a multi-model endpoint; this variant of "${model}" serves one model`,
    ).toJSON(),
  };
}

/** The answer of a multi-model variant to a request that names no target model. */
export function targetModelRequired(model: string): BackendResponse {
  return {
    ok: false,
    error: new InferenceError(
      'INVALID_INPUT',
      `this variant of "${model}" is a multi-model endpoint: name the model with X-Amzn-SageMaker-Target-Model`,
    ).toJSON(),
  };
}

/**
 * A chunk as single invocations, at most `concurrency` at a time: for backends
 * with no batch transport of their own (SageMaker endpoints).
 */
export async function chunkByRecords(
  invoke: Backend['invoke'],
  chunk: ChunkRequest,
  concurrency: number,
): Promise<RecordOutcome[]> {
  const outcomes: RecordOutcome[] = new Array<RecordOutcome>(chunk.records.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let i = next++; i < chunk.records.length; i = next++) {
      const response = await invoke({
        requestId: `${chunk.batchId}-${chunk.index}-${i}`,
        body: chunk.records[i] ?? new Uint8Array(),
        contentType: chunk.contentType,
        accept: chunk.accept,
        customAttributes: undefined,
        deadline: Date.now() + chunk.recordTimeoutMs,
      });
      outcomes[i] = response.ok
        ? { ok: true, contentType: response.contentType, body: response.body }
        : { ok: false, error: { code: response.error.code, message: response.error.message } };
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, chunk.records.length) }, lane));
  return outcomes;
}
