import {
  InferenceError,
  type InferenceErrorCode,
  type InferenceErrorJSON,
} from '@switchyard/handlers';

/** SageMaker Runtime's error names, which AWS SDK clients turn into typed exceptions. */
const SAGEMAKER_ERROR_TYPE: Readonly<Record<InferenceErrorCode, string>> = {
  INVALID_INPUT: 'ValidationError',
  UNAUTHORIZED: 'UnrecognizedClientException',
  FORBIDDEN: 'AccessDeniedException',
  NOT_FOUND: 'ValidationError',
  NOT_ACCEPTABLE: 'ValidationError',
  REQUEST_TIMEOUT: 'ValidationError',
  CONFLICT: 'ValidationError',
  PAYLOAD_TOO_LARGE: 'ValidationError',
  UNSUPPORTED_MEDIA_TYPE: 'ValidationError',
  MODEL_ERROR: 'ModelError',
  TOO_MANY_REQUESTS: 'ModelNotReadyException',
  INTERNAL: 'InternalFailure',
  UNAVAILABLE: 'ServiceUnavailable',
  TIMEOUT: 'ServiceUnavailable',
};

/**
 * An error response: `{"error": {"code", "message", "requestId"}}` with the status
 * of its code. On the SageMaker-format route it also carries what AWS SDK clients
 * read — `x-amzn-ErrorType` and a top-level `message` — so they raise the typed
 * exception (`ValidationError`, `ModelError`, ...) with our message.
 */
export function errorResponse(
  error: InferenceErrorJSON,
  requestId: string,
  format: 'plain' | 'sagemaker',
  extraHeaders: Record<string, string> = {},
): Response {
  const status = new InferenceError(error.code, error.message).status;
  const body: Record<string, unknown> = {
    error: { code: error.code, message: error.message, requestId },
  };
  const headers: Record<string, string> = { 'X-Request-Id': requestId, ...extraHeaders };
  if (format === 'sagemaker') {
    const type = SAGEMAKER_ERROR_TYPE[error.code];
    headers['x-amzn-ErrorType'] = type;
    headers['x-amzn-RequestId'] = requestId;
    body['message'] = error.message;
    if (type === 'ModelError') {
      body['OriginalStatusCode'] = status;
      body['OriginalMessage'] = error.message;
    }
  }
  return Response.json(body, { status, headers });
}

/** NOT_FOUND for a model the gateway does not serve, naming those it does. */
export function unknownModel(name: string, known: Iterable<string>): InferenceError {
  return new InferenceError(
    'NOT_FOUND',
    `no model "${name}"; known models: ${[...known].join(', ')}`,
  );
}
