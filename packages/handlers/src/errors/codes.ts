/**
 * The closed set of error codes that cross every boundary in Switchyard: HTTP
 * responses, queue results and handler failures. Match errors by `code`, never by
 * `instanceof`, once they have crossed a process or queue boundary.
 *
 * @example
 * ```ts
 * if (result.error.code === 'TOO_MANY_REQUESTS') retryLater();
 * ```
 */
export const INFERENCE_ERROR_CODES = [
  'INVALID_INPUT',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'NOT_ACCEPTABLE',
  'REQUEST_TIMEOUT',
  'CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'MODEL_ERROR',
  'TOO_MANY_REQUESTS',
  'INTERNAL',
  'UNAVAILABLE',
  'TIMEOUT',
] as const;

export type InferenceErrorCode = (typeof INFERENCE_ERROR_CODES)[number];

export type InferenceErrorStatus =
  400 | 401 | 403 | 404 | 406 | 408 | 409 | 413 | 415 | 424 | 429 | 500 | 503 | 504;

/**
 * HTTP status for each code. Typed as a full `Record` so that a new code without a
 * status does not compile.
 *
 * @example
 * ```ts
 * HTTP_STATUS_BY_CODE.MODEL_ERROR; // 424
 * ```
 */
export const HTTP_STATUS_BY_CODE: Readonly<Record<InferenceErrorCode, InferenceErrorStatus>> =
  Object.freeze({
    INVALID_INPUT: 400,
    UNAUTHORIZED: 401,
    FORBIDDEN: 403,
    NOT_FOUND: 404,
    NOT_ACCEPTABLE: 406,
    REQUEST_TIMEOUT: 408,
    CONFLICT: 409,
    PAYLOAD_TOO_LARGE: 413,
    UNSUPPORTED_MEDIA_TYPE: 415,
    MODEL_ERROR: 424,
    TOO_MANY_REQUESTS: 429,
    INTERNAL: 500,
    UNAVAILABLE: 503,
    TIMEOUT: 504,
  });

/**
 * Codes worth another attempt (on another variant, or later): the failure says
 * nothing about the request itself. Everything else fails the same way again.
 *
 * @example
 * ```ts
 * if (RETRYABLE_CODES.has(error.code)) tryNextVariant();
 * ```
 */
export const RETRYABLE_CODES: ReadonlySet<InferenceErrorCode> = new Set<InferenceErrorCode>([
  'TOO_MANY_REQUESTS',
  'UNAVAILABLE',
  'TIMEOUT',
]);

/**
 * Whether `value` is one of the known codes (for data read off the wire).
 *
 * @example
 * ```ts
 * isInferenceErrorCode('TIMEOUT'); // true
 * ```
 */
export function isInferenceErrorCode(value: unknown): value is InferenceErrorCode {
  return typeof value === 'string' && (INFERENCE_ERROR_CODES as readonly string[]).includes(value);
}
