export {
  HTTP_STATUS_BY_CODE,
  INFERENCE_ERROR_CODES,
  RETRYABLE_CODES,
  isInferenceErrorCode,
} from './codes.js';
export type { InferenceErrorCode, InferenceErrorStatus } from './codes.js';
export { InferenceError, toInferenceError } from './inference-error.js';
export type {
  InferenceErrorDetails,
  InferenceErrorJSON,
  InferenceErrorOptions,
} from './inference-error.js';
