import {
  HTTP_STATUS_BY_CODE,
  RETRYABLE_CODES,
  isInferenceErrorCode,
  type InferenceErrorCode,
  type InferenceErrorStatus,
} from './codes.js';

/** Extra, JSON-safe facts about a failure (a JSON path, a CSV line, the supported types). */
export type InferenceErrorDetails = Readonly<Record<string, unknown>>;

export interface InferenceErrorOptions {
  cause?: unknown;
  details?: InferenceErrorDetails;
}

/** The serialisable form of an {@link InferenceError}, as it travels in results and bodies. */
export interface InferenceErrorJSON {
  code: InferenceErrorCode;
  message: string;
  details?: InferenceErrorDetails;
}

/**
 * The one error type of Switchyard. Every failure a user can cause or see is an
 * `InferenceError` with a code from a closed set; the HTTP status follows from the code.
 *
 * @example
 * ```ts
 * throw new InferenceError('INVALID_INPUT', 'CSV line 3, column 2: "abc" is not a number', {
 *   details: { line: 3, column: 2 },
 * });
 * ```
 */
export class InferenceError extends Error {
  override readonly name = 'InferenceError';
  readonly code: InferenceErrorCode;
  readonly details: InferenceErrorDetails | undefined;

  constructor(code: InferenceErrorCode, message: string, options: InferenceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }

  /** The HTTP status for this error's code. */
  get status(): InferenceErrorStatus {
    return HTTP_STATUS_BY_CODE[this.code];
  }

  /** Whether another attempt may succeed (see {@link RETRYABLE_CODES}). */
  get retryable(): boolean {
    return RETRYABLE_CODES.has(this.code);
  }

  toJSON(): InferenceErrorJSON {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/**
 * Turn anything thrown into an {@link InferenceError}, once, at a boundary. Objects
 * that carry a known `code` (an error that crossed a queue or process boundary as
 * JSON) keep their code and message; anything else becomes `INTERNAL`, with the
 * original kept as `cause` for logs but never shown to callers.
 *
 * @example
 * ```ts
 * try {
 *   await handler.predictFn(input, model, ctx);
 * } catch (err) {
 *   const error = toInferenceError(err);
 *   reply(error.status, { error: error.toJSON() });
 * }
 * ```
 */
export function toInferenceError(value: unknown): InferenceError {
  if (value instanceof InferenceError) return value;
  if (typeof value === 'object' && value !== null) {
    const { code, message, details } = value as Record<string, unknown>;
    if (isInferenceErrorCode(code) && typeof message === 'string') {
      return new InferenceError(code, message, {
        cause: value,
        ...(isPlainRecord(details) ? { details } : {}),
      });
    }
  }
  return new InferenceError('INTERNAL', 'internal error', { cause: value });
}

function isPlainRecord(value: unknown): value is InferenceErrorDetails {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
