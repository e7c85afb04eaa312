import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DTYPES, TYPED_ARRAY_BY_DTYPE, type DType } from '../tensor/dtype.js';
import { createTensor, elementCount, isTensor, type Tensor } from '../tensor/tensor.js';
import { decode, encode } from './registry.js';
import { errorOf, throwsOnlyInferenceErrors } from '../../test/helpers.js';

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'text/csv',
  'text/csv; header=present',
  'application/x-npy',
  'application/x-npz',
];

const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 4 });

function tensorArb(dtype: Exclude<DType, 'string'>): fc.Arbitrary<Tensor> {
  return shapeArb.chain((shape) => {
    const bytes = elementCount(shape) * TYPED_ARRAY_BY_DTYPE[dtype].BYTES_PER_ELEMENT;
    return fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((raw) => {
      const data = new TYPED_ARRAY_BY_DTYPE[dtype](raw.buffer, 0, elementCount(shape));
      // bool holds 0 or 1 only; any other byte is not a value numpy would write.
      if (dtype === 'bool') (data as Uint8Array).forEach((v, i, all) => (all[i] = v & 1));
      return createTensor(dtype, shape, data);
    });
  });
}

function sameBytes(a: Tensor, b: Tensor): boolean {
  if (a.dtype !== b.dtype || a.shape.join() !== b.shape.join()) return false;
  const x = a.data as Uint8Array;
  const y = b.data as Uint8Array;
  const bx = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  const by = new Uint8Array(y.buffer, y.byteOffset, y.byteLength);
  return bx.length === by.length && bx.every((v, i) => v === by[i]);
}

describe('decode / encode through the default registry', () => {
  it('never throws anything but InferenceError, whatever the bytes and content type', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 512 }),
        fc.constantFrom(...CONTENT_TYPES),
        (body, type) => throwsOnlyInferenceErrors(() => decode(body, type)),
      ),
      { numRuns: 3000 },
    );
  });

  it('never throws anything but InferenceError for arbitrary Content-Type and Accept headers', () => {
    const tensor = createTensor('float32', [1, 2], new Float32Array([1, 2]));
    fc.assert(
      fc.property(fc.string({ maxLength: 64 }), (header) => {
        const body = new TextEncoder().encode('[[1, 2]]');
        return (
          throwsOnlyInferenceErrors(() => decode(body, header)) &&
          throwsOnlyInferenceErrors(() => encode(tensor, header))
        );
      }),
      { numRuns: 2000 },
    );
  });

  it('decode(encode(t)) gives t back, bit for bit, for tensors of every numeric dtype', () => {
    const numeric = DTYPES.filter((d): d is Exclude<DType, 'string'> => d !== 'string');
    for (const dtype of numeric) {
      fc.assert(
        fc.property(
          tensorArb(dtype),
          fc.constantFrom('application/x-npy', 'application/x-npz'),
          (t, type) => {
            const { body, contentType } = encode(t, type);
            expect(contentType).toBe(type);
            const back = decode(body, contentType);
            const decoded = isTensor(back) ? back : back['arr_0'];
            return decoded !== undefined && sameBytes(t, decoded);
          },
        ),
        { numRuns: 100 },
      );
    }
  });

  it('answers an unknown Content-Type with 415 and the supported list', () => {
    const error = errorOf(() => decode(new Uint8Array(), 'application/xml'));
    expect(error.status).toBe(415);
    expect(error.message).toBe(
      'Content-Type application/xml is not supported; supported: application/json, text/csv, application/x-npy, application/x-npz',
    );
  });

  it('answers an Accept it cannot satisfy with 406 and the supported list', () => {
    const tensor = createTensor('float32', [2, 2, 2], new Float32Array(8));
    const error = errorOf(() => encode(tensor, 'text/csv'));
    expect(error.status).toBe(406);
    // CSV cannot hold rank 3, so it is not offered for this value.
    expect(error.message).toContain(
      'supported: application/json, application/x-npy, application/x-npz',
    );
  });

  it('gives a missing Accept or */* the default type', () => {
    const tensor = createTensor('float32', [1], new Float32Array([0.5]));
    expect(encode(tensor, undefined).contentType).toBe('application/json');
    expect(encode(tensor, '*/*').contentType).toBe('application/json');
    expect(encode(tensor, '*/*', { defaultAccept: 'text/csv' }).contentType).toBe('text/csv');
  });
});
