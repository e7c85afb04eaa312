import { describe, expect, it } from 'vitest';
import { InferenceError } from '../errors/inference-error.js';
import {
  decodeJobGroup,
  decodeJobRequest,
  decodeJobResult,
  encodeJobGroup,
  encodeJobRequest,
  encodeJobResult,
  MAX_GROUP_REQUESTS,
} from './job.js';

const request = {
  requestId: 'req-1',
  model: 'iris',
  variant: 'B',
  contentType: 'application/x-npy',
  accept: 'application/json',
  body: new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0, 255]),
  customAttributes: 'user=42',
  traceContext: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
  deadline: 1_800_000_000_000,
  replyTo: 'switchyard:replies:gw-1',
  enqueuedAt: 1_799_999_999_000,
};

describe('job wire format', () => {
  it('round-trips a request through JSON with the body as base64', () => {
    const wire = encodeJobRequest(request);
    const json = JSON.stringify(wire);
    expect(json).toContain('"body":"k05VTVBZAP8="');
    expect(json).not.toContain('[147');
    expect(decodeJobRequest(JSON.parse(json))).toEqual(request);
  });

  it('names every malformed field of a job at once', () => {
    const wire = { ...encodeJobRequest(request), body: 'not base64!', deadline: -1, model: '' };
    let error: unknown;
    try {
      decodeJobRequest(wire);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InferenceError);
    const { message, code } = error as InferenceError;
    expect(code).toBe('INVALID_INPUT');
    expect(message).toMatch(/body: /);
    expect(message).toMatch(/deadline: /);
    expect(message).toMatch(/model: /);
  });

  it('round-trips a group of requests in order, and encodes each as a lone job would', () => {
    const second = { ...request, requestId: 'req-2', body: new Uint8Array([1, 2, 3]) };
    const wire = JSON.parse(JSON.stringify(encodeJobGroup([request, second]))) as {
      requests: unknown[];
    };
    expect(wire.requests[1]).toEqual(encodeJobRequest(second));
    expect(decodeJobGroup(wire)).toEqual([request, second]);
  });

  it('names the malformed request of a group by its index, and bounds a group', () => {
    const wire = encodeJobGroup([request, request]);
    const broken = { ...wire, requests: [wire.requests[0], { ...wire.requests[1], deadline: 0 }] };
    expect(() => decodeJobGroup(broken)).toThrow(/requests\.1\.deadline: /);
    expect(() => decodeJobGroup({ ...wire, requests: [] })).toThrow(/requests: /);
    expect(() => encodeJobGroup([])).toThrow(RangeError);
    expect(() =>
      encodeJobGroup(Array.from({ length: MAX_GROUP_REQUESTS + 1 }, () => request)),
    ).toThrow(RangeError);
  });

  it('refuses another wire version', () => {
    expect(() => decodeJobRequest({ ...encodeJobRequest(request), v: 2 })).toThrow(/v: /);
  });

  it('round-trips a successful result', () => {
    const result = {
      ok: true as const,
      requestId: 'req-1',
      variant: 'B',
      contentType: 'text/csv',
      body: new TextEncoder().encode('1,2\n'),
      timings: { queueMs: 1.5, computeMs: 3, batchSize: 8 },
    };
    expect(decodeJobResult(JSON.parse(JSON.stringify(encodeJobResult(result))))).toEqual(result);
  });

  it('brings an error back as an InferenceError with its code and details', () => {
    const wire = encodeJobResult({
      ok: false,
      requestId: 'req-1',
      error: new InferenceError('INVALID_INPUT', 'CSV line 2, column 3: "x"', {
        details: { line: 2, column: 3 },
      }),
    });
    const result = decodeJobResult(JSON.parse(JSON.stringify(wire)));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error).toBeInstanceOf(InferenceError);
    expect(result.error.status).toBe(400);
    expect(result.error.details).toEqual({ line: 2, column: 3 });
  });

  it('refuses an error code outside the closed set', () => {
    expect(() =>
      decodeJobResult({ v: 1, ok: false, requestId: 'r', error: { code: 'TEAPOT', message: 'x' } }),
    ).toThrow(InferenceError);
  });
});
