import { join } from 'node:path';
import { createTensor, encode } from '@switchyard/handlers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODELS, customModelDir, request, silentLogger, text } from '../../test/fixtures.js';
import { createModelRuntime, type ModelRuntime } from './model-runtime.js';
import type { RuntimeResult } from './types.js';

const IRIS_ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [7.0, 3.2, 4.7, 1.4],
  [6.3, 3.3, 6.0, 2.5],
  [4.9, 3.0, 1.4, 0.2],
  [5.9, 3.0, 5.1, 1.8],
];

function body(result: RuntimeResult): string {
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return text(result.body);
}

describe('the default ONNX handler (iris-v1)', () => {
  let runtime: ModelRuntime;
  beforeAll(async () => {
    runtime = await createModelRuntime({
      modelDir: join(MODELS, 'iris-v1'),
      modelName: 'iris',
      logger: silentLogger,
      batching: { maxBatchSize: 1 },
    });
  });
  afterAll(() => runtime.close());

  it('describes the model it loaded', () => {
    expect(runtime.info).toMatchObject({
      kind: 'onnx',
      provider: 'cpu',
      inputs: [{ name: 'input', dtype: 'float32', shape: [null, 4] }],
      outputs: [{ name: 'probabilities', dtype: 'float32', shape: [null, 3] }],
    });
  });

  it('answers JSON, CSV and NPY with class probabilities', async () => {
    const csv = await runtime.invoke(
      request('5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5\n', 'text/csv', { accept: 'text/csv' }),
    );
    const rows = body(csv)
      .trim()
      .split('\n')
      .map((line) => line.split(',').map(Number));
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    const classes = rows.map((row) => row.indexOf(Math.max(...row)));
    expect(classes).toEqual([0, 2]); // setosa, virginica

    const json = await runtime.invoke(
      request('{"instances": [[5.1, 3.5, 1.4, 0.2]]}', 'application/json'),
    );
    expect(csv.ok && json.ok && body(json).startsWith('[[')).toBe(true);

    // float64 NPY is cast to the model's float32 input.
    const npy = encode(
      createTensor('float64', [1, 4], new Float64Array([5.1, 3.5, 1.4, 0.2])),
      'application/x-npy',
    );
    const fromNpy = await runtime.invoke(request(npy.body, npy.contentType));
    expect(body(fromNpy)).toBe(body(json));
  });

  it('adds the batch axis to one instance', async () => {
    const one = await runtime.invoke(request('[5.1, 3.5, 1.4, 0.2]', 'application/json'));
    expect(JSON.parse(body(one))).toHaveLength(1);
  });

  it('refuses a wrong trailing shape with 400 naming the input and both shapes', async () => {
    const result = await runtime.invoke(request('[[1, 2, 3]]', 'application/json'));
    expect(result).toMatchObject({
      ok: false,
      error: { code: 'INVALID_INPUT', message: 'input "input" expects shape [N, 4], got [1, 3]' },
    });
  });

  it('refuses an unknown input name and a value that does not fit the dtype', async () => {
    const named = await runtime.invoke(request('{"x": [[1, 2, 3, 4]]}', 'application/json'));
    expect(named).toMatchObject({
      ok: false,
      error: { code: 'INVALID_INPUT', message: 'unknown input "x"; the model takes "input"' },
    });
  });
});

describe('execution providers', () => {
  it('falls back from CUDA to CPU with a warning where CUDA is missing', async () => {
    const warnings: string[] = [];
    const runtime = await createModelRuntime({
      modelDir: join(MODELS, 'iris-v1'),
      modelName: 'iris',
      onnx: { executionProvider: 'cuda', deviceId: 0 },
      logger: {
        ...silentLogger,
        warn: (fields: object | string, msg?: string) =>
          warnings.push(msg ?? (typeof fields === 'string' ? fields : '')),
      },
    });
    try {
      // This machine has no CUDA provider (its install script never ran): CPU it is.
      expect(runtime.info.provider).toBe('cpu');
      expect(warnings).toContain('CUDA execution provider unavailable; running on CPU');
      const result = await runtime.invoke(request('5.1,3.5,1.4,0.2', 'text/csv'));
      expect(result.ok).toBe(true);
    } finally {
      await runtime.close();
    }
  });
});

describe('dynamic batching', () => {
  let batched: ModelRuntime;
  let unbatched: ModelRuntime;
  beforeAll(async () => {
    const modelDir = join(MODELS, 'iris-v2');
    [batched, unbatched] = await Promise.all([
      createModelRuntime({
        modelDir,
        modelName: 'iris',
        logger: silentLogger,
        batching: { maxBatchSize: 32, maxDelayMs: 5 },
      }),
      createModelRuntime({
        modelDir,
        modelName: 'iris',
        logger: silentLogger,
        batching: { maxBatchSize: 1 },
      }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([batched.close(), unbatched.close()]);
  });

  it('batches concurrent requests and answers each exactly as unbatched', async () => {
    const bodies = Array.from({ length: 200 }, (_, i) => {
      const row = IRIS_ROWS[i % IRIS_ROWS.length] ?? [];
      // One or two rows per request, so row counts differ inside a batch.
      return (i % 3 === 0 ? [row, row.map((x) => x + 0.1)] : [row])
        .map((r) => r.join(','))
        .join('\n');
    });
    const results = await Promise.all(
      bodies.map((b) => batched.invoke(request(b, 'text/csv', { accept: 'application/x-npy' }))),
    );
    const sizes = results.map((r) => r.timings.batchSize);
    expect(sizes.reduce((a, b) => a + b, 0) / sizes.length).toBeGreaterThan(4);
    for (const [i, result] of results.entries()) {
      const alone = await unbatched.invoke(
        request(bodies[i] ?? '', 'text/csv', { accept: 'application/x-npy' }),
      );
      expect(alone.timings.batchSize).toBe(1);
      if (!result.ok || !alone.ok) throw new Error('a request failed');
      // NPY out: byte equality is float equality, bit for bit.
      expect(Buffer.from(result.body).equals(Buffer.from(alone.body)), `request ${i}`).toBe(true);
    }
  });
});

describe('failure isolation and deadlines', () => {
  const source = `
    export const modelFn = () => ({ seen: [] });
    export async function predictFn(input, model, ctx) {
      model.seen.push(...ctx.requestIds);
      const values = Array.from(input.data);
      if (values.includes(666)) throw new Error('poisoned row');
      if (values.includes(999)) throw new Error('seen ' + model.seen.join(','));
      if (values.includes(-1)) await new Promise((r) => setTimeout(r, 100));
      return { ...input, data: Float32Array.from(values, (v) => v * 2) };
    }
    export const warmupFn = () => {};
  `;
  let runtime: ModelRuntime;
  let remove: () => Promise<void>;
  beforeAll(async () => {
    const model = await customModelDir(source);
    remove = model.remove;
    runtime = await createModelRuntime({
      modelDir: model.dir,
      modelName: 'doubler',
      logger: silentLogger,
      batching: { maxBatchSize: 64, maxDelayMs: 20 },
    });
  });
  afterAll(async () => {
    await runtime.close();
    await remove();
  });

  it('fails a poison request alone; its batch neighbours succeed', async () => {
    const values = [1, 2, 3, 666, 5, 6, 7, 8];
    const results = await Promise.all(
      values.map((v) => runtime.invoke(request(`[[${v}]]`, 'application/json'))),
    );
    results.forEach((result, i) => {
      if (values[i] === 666) {
        expect(result).toMatchObject({
          ok: false,
          error: { code: 'MODEL_ERROR', message: 'predictFn failed: poisoned row' },
        });
      } else {
        expect(result.ok && JSON.parse(text(result.body))).toEqual([[(values[i] ?? 0) * 2]]);
      }
    });
  });

  it('never computes a request whose deadline passes while it waits', async () => {
    const slow = runtime.invoke(request('[[-1]]', 'application/json'));
    await new Promise((r) => setTimeout(r, 30)); // the slow batch is now running
    const doomed = request('[[42]]', 'application/json', { deadline: Date.now() + 20 });
    const late = await runtime.invoke(doomed);
    expect((await slow).ok).toBe(true);
    expect(late).toMatchObject({ ok: false, error: { code: 'TIMEOUT' } });
    // Ask the model which requests it computed: never the expired one.
    const seen = await runtime.invoke(request('[[999]]', 'application/json'));
    expect(seen.ok).toBe(false);
    const ids = seen.ok ? [] : seen.error.message.replace('predictFn failed: seen ', '').split(',');
    expect(ids.length).toBeGreaterThan(0);
    expect(ids).not.toContain(doomed.requestId);
    expect(late.timings.computeMs).toBe(0);
  });
});

describe('a model directory with its own code/inference.mjs (iris-custom)', () => {
  let runtime: ModelRuntime;
  beforeAll(async () => {
    runtime = await createModelRuntime({
      modelDir: join(MODELS, 'iris-custom'),
      modelName: 'iris',
      logger: silentLogger,
    });
  });
  afterAll(() => runtime.close());

  it('uses its inputFn and outputFn around the default ONNX predictFn', async () => {
    expect(runtime.info).toMatchObject({ kind: 'onnx', userFunctions: ['inputFn', 'outputFn'] });
    const flower = { sepal_length: 6.3, sepal_width: 3.3, petal_length: 6.0, petal_width: 2.5 };
    const result = await runtime.invoke(
      request(JSON.stringify({ flowers: [flower] }), 'application/json'),
    );
    const [answer] = JSON.parse(body(result)) as { species: string; probability: number }[];
    expect(answer?.species).toBe('virginica');
    expect(answer?.probability).toBeGreaterThan(0.5);
  });

  it('keeps the status its code chose for a bad request', async () => {
    const missing = await runtime.invoke(
      request('{"flowers": [{"sepal_length": "x"}]}', 'application/json'),
    );
    expect(missing).toMatchObject({
      ok: false,
      error: { code: 'INVALID_INPUT', message: 'flowers[0].sepal_length must be a number (cm)' },
    });
    const csv = await runtime.invoke(request('1,2,3,4', 'text/csv'));
    expect(csv).toMatchObject({ ok: false, error: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
  });
});

describe('a model with two named inputs and two named outputs', () => {
  let runtime: ModelRuntime;
  beforeAll(async () => {
    runtime = await createModelRuntime({
      modelDir: join(MODELS, 'two-in-two-out'),
      modelName: 'pair',
      logger: silentLogger,
      batching: { maxBatchSize: 16, maxDelayMs: 5 },
    });
  });
  afterAll(() => runtime.close());

  it('maps a JSON object and an NPZ archive to inputs by name, answering every output by name', async () => {
    const json = await runtime.invoke(
      request('{"a": [[1, 2]], "b": [[10, 20]]}', 'application/json'),
    );
    expect(JSON.parse(body(json))).toEqual({ sum: [[11, 22]], product: [[10, 40]] });
    const npz = encode(
      {
        b: createTensor('float32', [2, 2], new Float32Array([1, 1, 2, 2])),
        a: createTensor('float64', [2, 2], new Float64Array([3, 4, 5, 6])),
      },
      'application/x-npz',
    );
    const fromNpz = await runtime.invoke(request(npz.body, npz.contentType));
    expect(JSON.parse(body(fromNpz))).toEqual({
      sum: [
        [4, 5],
        [7, 8],
      ],
      product: [
        [3, 4],
        [10, 12],
      ],
    });
  });

  it('batches named inputs and splits every output back', async () => {
    const results = await Promise.all(
      [1, 2, 3, 4].map((n) =>
        runtime.invoke(request(`{"a": [[${n}, ${n}]], "b": [[${n}, 1]]}`, 'application/json')),
      ),
    );
    expect(results.some((r) => r.timings.batchSize > 1)).toBe(true);
    results.forEach((r, i) => {
      const n = i + 1;
      expect(JSON.parse(body(r))).toEqual({ sum: [[2 * n, n + 1]], product: [[n * n, n]] });
    });
  });

  it('names a missing input, and asks for names when one tensor is sent', async () => {
    const missing = await runtime.invoke(request('{"a": [[1, 2]]}', 'application/json'));
    expect(missing).toMatchObject({
      ok: false,
      error: { code: 'INVALID_INPUT', message: 'missing input "b" float32[N, 2]' },
    });
    const unnamed = await runtime.invoke(request('[[1, 2]]', 'application/json'));
    expect(unnamed).toMatchObject({
      ok: false,
      error: {
        code: 'INVALID_INPUT',
        message: 'the model takes 2 inputs ("a", "b"): send them by name (JSON object or NPZ)',
      },
    });
  });
});
