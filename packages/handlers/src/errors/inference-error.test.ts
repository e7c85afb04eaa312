import { describe, expect, it } from 'vitest';
import { HTTP_STATUS_BY_CODE, INFERENCE_ERROR_CODES } from './codes.js';
import { InferenceError, toInferenceError } from './inference-error.js';

describe('InferenceError', () => {
  it('maps the codes a client sees to their HTTP statuses', () => {
    const statuses = Object.fromEntries(
      INFERENCE_ERROR_CODES.map((code) => [code, new InferenceError(code, 'x').status]),
    );
    expect(statuses).toEqual({
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
    expect(Object.keys(HTTP_STATUS_BY_CODE).sort()).toEqual([...INFERENCE_ERROR_CODES].sort());
  });

  it('marks only throttling, unavailability and timeouts as retryable', () => {
    const retryable = INFERENCE_ERROR_CODES.filter((c) => new InferenceError(c, 'x').retryable);
    expect(retryable.sort()).toEqual(['TIMEOUT', 'TOO_MANY_REQUESTS', 'UNAVAILABLE']);
  });

  it('serialises to code, message and details, without the cause', () => {
    const error = new InferenceError('INVALID_INPUT', 'bad cell', {
      details: { line: 3 },
      cause: new Error('secret internals'),
    });
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      code: 'INVALID_INPUT',
      message: 'bad cell',
      details: { line: 3 },
    });
  });
});

describe('toInferenceError', () => {
  it('keeps the code of an error that crossed a boundary as plain JSON', () => {
    const error = toInferenceError({
      code: 'TIMEOUT',
      message: 'deadline passed',
      details: { ms: 5 },
    });
    expect(error).toBeInstanceOf(InferenceError);
    expect(error.code).toBe('TIMEOUT');
    expect(error.message).toBe('deadline passed');
    expect(error.details).toEqual({ ms: 5 });
  });

  it('turns anything else into INTERNAL without leaking its message', () => {
    const original = new Error('password=hunter2');
    const error = toInferenceError(original);
    expect(error.code).toBe('INTERNAL');
    expect(error.message).toBe('internal error');
    expect(error.cause).toBe(original);
    expect(toInferenceError({ code: 'NOPE', message: 'x' }).code).toBe('INTERNAL');
    expect(toInferenceError('string').code).toBe('INTERNAL');
  });

  it('passes an InferenceError through unchanged', () => {
    const error = new InferenceError('NOT_FOUND', 'no model "x"');
    expect(toInferenceError(error)).toBe(error);
  });
});
