import { describe, expect, it } from 'vitest';
import { InferenceError } from '../errors/inference-error.js';
import type { RequestContext } from './context.js';
import { invokeHandler } from './invoke.js';
import { resolveHandler } from './resolve.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const context: RequestContext = {
  modelName: 'm',
  variant: 'A',
  deviceId: undefined,
  logger: silent,
  requestId: 'req-1',
  customAttributes: 'trace=on',
  deadline: Date.now() + 1000,
  batchSize: 1,
  signal: new AbortController().signal,
};
const text = (s: string) => new TextEncoder().encode(s);

describe('invokeHandler', () => {
  it('runs input → predict → output in order, passing each result on', async () => {
    const calls: string[] = [];
    const handler = resolveHandler({
      modelFn: () => 10,
      inputFn: async (body: Uint8Array, contentType: string) => {
        calls.push(`input ${contentType}`);
        // Async on purpose: the chain awaits each step.
        return Promise.resolve(Number(new TextDecoder().decode(body)));
      },
      predictFn: (input: number, model: number, ctx: { requestIds: readonly string[] }) => {
        calls.push(`predict ${ctx.requestIds.join()}`);
        return input * model;
      },
      outputFn: (prediction: number, accept: string) => {
        calls.push(`output ${accept}`);
        return { body: text(String(prediction)), contentType: 'text/plain' };
      },
    });
    const out = await invokeHandler(handler, 10, {
      body: text('4'),
      contentType: 'text/plain',
      accept: undefined,
      context,
    });
    expect(new TextDecoder().decode(out.body)).toBe('40');
    expect(out.contentType).toBe('text/plain');
    expect(calls).toEqual(['input text/plain', 'predict req-1', 'output application/json']);
  });

  it('gives */* the default Accept and labels bare bytes with it', async () => {
    const handler = resolveHandler({
      modelFn: () => null,
      transformFn: (_model: unknown, body: Uint8Array) => body,
    });
    const out = await invokeHandler(
      handler,
      null,
      { body: text('a,b'), contentType: 'text/csv', accept: '*/*', context },
      { defaultAccept: 'text/csv' },
    );
    expect(out.contentType).toBe('text/csv');
    expect(new TextDecoder().decode(out.body)).toBe('a,b');
  });

  it('keeps an InferenceError thrown by user code as it is', async () => {
    const handler = resolveHandler({
      modelFn: () => null,
      transformFn: () => {
        throw new InferenceError('INVALID_INPUT', 'feature 3 is missing');
      },
    });
    await expect(
      invokeHandler(handler, null, { body: text(''), contentType: 'a/b', accept: 'a/b', context }),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT', message: 'feature 3 is missing' });
  });

  it('keeps the code of a plain error that carries one of ours', async () => {
    const handler = resolveHandler({
      modelFn: () => null,
      transformFn: () => {
        throw Object.assign(new Error('send JSON'), { code: 'UNSUPPORTED_MEDIA_TYPE' });
      },
    });
    await expect(
      invokeHandler(handler, null, { body: text(''), contentType: 'a/b', accept: 'a/b', context }),
    ).rejects.toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', status: 415, message: 'send JSON' });
  });

  it('turns any other failure into MODEL_ERROR naming the function', async () => {
    const handler = resolveHandler({
      modelFn: () => null,
      inputFn: (body: Uint8Array) => body,
      predictFn: () => {
        throw new TypeError('x.map is not a function');
      },
      outputFn: () => 'unreached',
    });
    const failure = invokeHandler(handler, null, {
      body: text(''),
      contentType: 'a/b',
      accept: 'a/b',
      context,
    });
    await expect(failure).rejects.toBeInstanceOf(InferenceError);
    await expect(failure).rejects.toMatchObject({
      code: 'MODEL_ERROR',
      status: 424,
      message: 'predictFn failed: x.map is not a function',
    });
  });
});
