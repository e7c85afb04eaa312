import {
  InferenceError,
  type InferenceErrorJSON,
  type InvocationRequest,
} from '@switchyard/handlers';

/** One inference request as the router hands it to a backend. */
export interface BackendRequest extends InvocationRequest {
  /** `X-Amzn-SageMaker-Target-Model`: the model of a multi-model endpoint. */
  readonly targetModel?: string | undefined;
}

export type BackendResponse =
  | {
      readonly ok: true;
      readonly body: Uint8Array;
      readonly contentType: string;
      readonly customAttributes?: string | undefined;
    }
  | {
      readonly ok: false;
      readonly error: InferenceErrorJSON;
      /** Seconds a client should wait before trying again (503 backpressure). */
      readonly retryAfter?: number;
      /** Whether another variant may succeed; by default, whether the code is retryable. */
      readonly retryable?: boolean;
    };

/** Where a variant's requests go: in process, a queue, or a SageMaker endpoint. */
export interface Backend {
  readonly type: 'local' | 'queue' | 'sagemaker';
  /** Must leave `request.body` usable: the router may send it again (fallback, shadow). */
  invoke(request: BackendRequest): Promise<BackendResponse>;
  /** Whether the backend can take traffic now. */
  healthy(): boolean;
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
