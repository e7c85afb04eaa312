import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { zipSync } from 'fflate';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createTensor } from '../tensor/tensor.js';
import { encodeNpy } from './npy.js';
import { decodeNpz, encodeNpz } from './npz.js';
import { errorOf, throwsOnlyInferenceErrors } from '../../test/helpers.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
const LIMIT = 1 << 30;
const archive = (name: string) => readFileSync(join(FIXTURES, 'npz', name));

describe('NPZ', () => {
  it.each(['savez.npz', 'savez-compressed.npz'])('reads %s into named tensors', (name) => {
    const { input_ids, scores, ...rest } = decodeNpz(archive(name), LIMIT);
    expect(rest).toEqual({});
    expect(input_ids?.dtype).toBe('int32');
    expect(input_ids?.shape).toEqual([2, 3]);
    expect([...(input_ids?.data as Int32Array)]).toEqual([0, 1, 2, 3, 4, 5]);
    expect(scores?.dtype).toBe('float32');
    expect([...(scores?.data as Float32Array)]).toEqual([0.5, -1.5, Infinity, 3]);
  });

  it('names an unnamed array arr_0, as numpy does', () => {
    expect(Object.keys(decodeNpz(archive('unnamed.npz'), LIMIT))).toEqual(['arr_0']);
  });

  it('writes archives that read back the same, deterministically', () => {
    const value = {
      ids: createTensor('int64', [1, 2], new BigInt64Array([7n, -7n])),
      mask: createTensor('bool', [1, 2], new Uint8Array([1, 0])),
    };
    const bytes = encodeNpz(value);
    expect(encodeNpz(value)).toEqual(bytes);
    expect(decodeNpz(bytes, LIMIT)).toEqual(value);
  });

  it('refuses entries that are not arrays, or whose names are paths', () => {
    const npy = encodeNpy(createTensor('int8', [1], new Int8Array([1])));
    expect(errorOf(() => decodeNpz(zipSync({ 'notes.txt': npy }), LIMIT)).message).toContain(
      'NPZ entry "notes.txt" is not an .npy file',
    );
    expect(errorOf(() => decodeNpz(zipSync({ '../x.npy': npy }), LIMIT)).message).toContain(
      'does not name an array',
    );
    expect(errorOf(() => decodeNpz(zipSync({}), LIMIT)).message).toContain('holds no arrays');
  });

  it('keeps an array named __proto__ as a plain key', () => {
    const npy = encodeNpy(createTensor('int8', [1], new Int8Array([5])));
    const value = decodeNpz(zipSync({ '__proto__.npy': npy }), LIMIT);
    expect(Object.keys(value)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(value)).toBeNull();
  });

  it('checks the expanded size before inflating', () => {
    // 64 MiB of zeros deflates to a few KiB: a bomb for a 1 MiB limit.
    const zeros = encodeNpy(createTensor('uint8', [64 << 20], new Uint8Array(64 << 20)));
    const bomb = zipSync({ 'x.npy': [zeros, { level: 9 }] });
    expect(bomb.length).toBeLessThan(1 << 20);
    const error = errorOf(() => decodeNpz(bomb, 1 << 20));
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toContain('would expand past the 1048576-byte limit');
  });

  it('says which array is broken', () => {
    const bad = zipSync({
      'good.npy': encodeNpy(createTensor('int8', [1], new Int8Array(1))),
      'bad.npy': new Uint8Array(12),
    });
    const error = errorOf(() => decodeNpz(bad, LIMIT));
    expect(error.message).toMatch(/^NPZ array "bad": not an NPY file/);
    expect(error.details).toMatchObject({ array: 'bad' });
  });

  it('turns arbitrary bytes into InferenceErrors only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) =>
        throwsOnlyInferenceErrors(() => decodeNpz(bytes, LIMIT)),
      ),
      { numRuns: 2000 },
    );
  });
});
