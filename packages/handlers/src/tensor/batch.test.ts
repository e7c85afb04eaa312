import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InferenceError } from '../errors/inference-error.js';
import { split, stack } from './batch.js';
import { createTensor } from './tensor.js';

describe('stack / split', () => {
  it('stacks along the first dimension and splits back by row count', () => {
    const a = createTensor('float32', [2, 2], new Float32Array([1, 2, 3, 4]));
    const b = createTensor('float32', [1, 2], new Float32Array([5, 6]));
    const batch = stack([a, b]);
    expect(batch.shape).toEqual([3, 2]);
    expect([...batch.data]).toEqual([1, 2, 3, 4, 5, 6]);
    const [a2, b2] = split(batch, [2, 1]);
    expect(a2?.shape).toEqual([2, 2]);
    expect([...(a2?.data ?? [])]).toEqual([1, 2, 3, 4]);
    expect([...(b2?.data ?? [])]).toEqual([5, 6]);
  });

  it('refuses tensors whose trailing shape differs', () => {
    const a = createTensor('float32', [1, 2], new Float32Array(2));
    const b = createTensor('float32', [1, 3], new Float32Array(3));
    expect(() => stack([a, b])).toThrow(InferenceError);
  });
});

describe('stack / split properties', () => {
  const piece = (cols: number) =>
    fc.integer({ min: 0, max: 5 }).chain((rows) =>
      fc
        .array(fc.integer({ min: -1000, max: 1000 }), {
          minLength: rows * cols,
          maxLength: rows * cols,
        })
        .map((values) => createTensor('int32', [rows, cols], Int32Array.from(values))),
    );
  const batch = fc
    .integer({ min: 1, max: 4 })
    .chain((cols) => fc.array(piece(cols), { minLength: 1, maxLength: 8 }));

  it('split(stack(ts), rows of ts) gives every tensor back', () => {
    fc.assert(
      fc.property(batch, (tensors) => {
        const stacked = stack(tensors);
        const rows = tensors.map((t) => t.shape[0] ?? 0);
        expect(stacked.shape[0]).toBe(rows.reduce((a, b) => a + b, 0));
        const back = split(stacked, rows);
        back.forEach((t, i) => {
          expect(t.shape).toEqual(tensors[i]?.shape);
          expect(Array.from(t.data)).toEqual(Array.from(tensors[i]?.data ?? []));
        });
      }),
    );
  });

  it('refuses row counts that do not add up to the batch', () => {
    const t = createTensor('float32', [3, 1], new Float32Array(3));
    expect(() => split(t, [1, 1])).toThrow(/cannot split float32\[3, 1\] into rows \[1, 1\]/);
  });
});
