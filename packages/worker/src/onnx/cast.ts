import {
  BIGINT_RANGES,
  INTEGER_RANGES,
  InferenceError,
  TYPED_ARRAY_BY_DTYPE,
  createTensor,
  formatShape,
  halfToNumber,
  isBigIntDType,
  numberToHalf,
  type DType,
  type Tensor,
} from '@switchyard/handlers';

const INT_RANGE: Partial<Record<DType, readonly [number, number]>> = INTEGER_RANGES;
const BIG_RANGE: Partial<Record<DType, readonly [bigint, bigint]>> = BIGINT_RANGES;

/**
 * Convert a tensor to the dtype a model input declares. Floats narrow freely (as
 * numpy's astype does); integers and bools must hold their values exactly, or the
 * request is refused naming the first value that does not fit.
 */
export function castTensor(tensor: Tensor, dtype: DType, inputName: string): Tensor {
  if (tensor.dtype === dtype) return tensor;
  if (tensor.dtype === 'string' || dtype === 'string') {
    throw new InferenceError(
      'INVALID_INPUT',
      `input "${inputName}" expects ${dtype}, got ${tensor.dtype}${formatShape(tensor.shape)}`,
    );
  }
  const source = tensor.data as ArrayLike<number | bigint>;
  const read =
    tensor.dtype === 'float16'
      ? (i: number) => halfToNumber(source[i] as number)
      : (i: number) => source[i] ?? 0;
  const out = new TYPED_ARRAY_BY_DTYPE[dtype](source.length);
  const fail = (i: number, why: string): never => {
    throw new InferenceError(
      'INVALID_INPUT',
      `input "${inputName}" expects ${dtype}: element ${i} (${String(read(i))}) ${why}`,
      { details: { input: inputName, index: i } },
    );
  };
  if (isBigIntDType(dtype)) {
    const [min, max] = BIG_RANGE[dtype] ?? [0n, 0n];
    const target = out as BigInt64Array | BigUint64Array;
    for (let i = 0; i < source.length; i++) {
      const v = read(i);
      if (typeof v === 'number' && !Number.isInteger(v)) fail(i, 'is not an integer');
      const big = typeof v === 'bigint' ? v : BigInt(v);
      if (big < min || big > max) fail(i, `is outside the ${dtype} range`);
      target[i] = big;
    }
  } else {
    const target = out as Exclude<typeof out, BigInt64Array | BigUint64Array>;
    const range = INT_RANGE[dtype];
    for (let i = 0; i < source.length; i++) {
      const v = Number(read(i));
      if (dtype === 'bool') {
        if (v !== 0 && v !== 1) fail(i, 'is not 0 or 1');
        target[i] = v;
      } else if (range !== undefined) {
        if (!Number.isInteger(v)) fail(i, 'is not an integer');
        if (v < range[0] || v > range[1]) fail(i, `is outside the ${dtype} range`);
        target[i] = v;
      } else {
        target[i] = dtype === 'float16' ? numberToHalf(v) : v;
      }
    }
  }
  return createTensor(dtype, tensor.shape, out);
}
