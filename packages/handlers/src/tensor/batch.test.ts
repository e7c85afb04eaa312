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
