/**
 * One inference request as every Switchyard component passes it on: the gateway
 * to a backend, a queue job to the worker runtime.
 *
 * @example
 * ```ts
 * const request: InvocationRequest = {
 *   requestId, body, contentType: 'text/csv', accept: undefined,
 *   customAttributes: undefined, deadline: Date.now() + 60_000,
 * };
 * ```
 */
export interface InvocationRequest {
  readonly requestId: string;
  readonly body: Uint8Array;
  readonly contentType: string;
  /** The Accept to answer in; missing or `*\/*` gets the model's default. */
  readonly accept: string | undefined;
  /** `X-Amzn-SageMaker-Custom-Attributes` as the client sent it. */
  readonly customAttributes: string | undefined;
  /** Epoch ms after which nobody waits for the answer. */
  readonly deadline: number;
}
