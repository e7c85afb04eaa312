import { InferenceError } from '../errors/inference-error.js';
import { TYPED_ARRAY_BY_DTYPE, type DType } from './dtype.js';
import { elementCount, formatShape, type Tensor } from './tensor.js';

/**
 * Whether two tensors can be stacked along the first dimension: same dtype, same
 * rank (at least 1) and the same trailing shape.
 *
 * @example
 * ```ts
 * canStack(rows2x4, rows5x4); // true: both are float32 [n, 4]
 * ```
 */
export function canStack(a: Tensor, b: Tensor): boolean {
  if (a.dtype !== b.dtype || a.shape.length !== b.shape.length || a.shape.length === 0) {
    return false;
  }
  for (let i = 1; i < a.shape.length; i++) if (a.shape[i] !== b.shape[i]) return false;
  return true;
}

/**
 * Concatenate tensors along the first dimension, for dynamic batching: `[2, 4]`
 * and `[3, 4]` give `[5, 4]`. Use {@link split} with the row counts to undo it.
 *
 * @example
 * ```ts
 * const batch = stack([a, b]); // a: [2, 4], b: [3, 4] -> [5, 4]
 * const [a2, b2] = split(batch, [2, 3]);
 * ```
 */
export function stack<TDType extends DType>(tensors: readonly Tensor<TDType>[]): Tensor<TDType> {
  const [first] = tensors;
  if (first === undefined)
    throw new InferenceError('INTERNAL', 'stack() needs at least one tensor');
  for (const t of tensors) {
    if (!canStack(first, t)) {
      throw new InferenceError(
        'INVALID_INPUT',
        `cannot stack ${t.dtype}${formatShape(t.shape)} onto ${first.dtype}${formatShape(first.shape)}: ` +
          'dtype, rank and trailing shape must match',
      );
    }
  }
  const rows = tensors.reduce((sum, t) => sum + (t.shape[0] ?? 0), 0);
  const shape = [rows, ...first.shape.slice(1)];
  const dtype: DType = first.dtype;
  if (dtype === 'string') {
    const data = tensors.flatMap((t) => t.data as string[]);
    return { dtype, shape, data } as unknown as Tensor<TDType>;
  }
  const Ctor = TYPED_ARRAY_BY_DTYPE[dtype];
  const out = new Ctor(elementCount(shape));
  let offset = 0;
  for (const t of tensors) {
    // Same constructor on both sides, so the typed-array `set` is a plain copy.
    (out as Uint8Array).set(t.data as Uint8Array, offset);
    offset += t.data.length;
  }
  return { dtype, shape, data: out } as unknown as Tensor<TDType>;
}

/**
 * Cut a tensor along the first dimension into pieces of the given row counts (which
 * must add up to the first dimension). The pieces are views on the same memory, not
 * copies.
 *
 * @example
 * ```ts
 * const [first, second] = split(prediction, [2, 3]); // [5, k] -> [2, k] and [3, k]
 * ```
 */
export function split<TDType extends DType>(
  tensor: Tensor<TDType>,
  rowCounts: readonly number[],
): Tensor<TDType>[] {
  const [rows, ...trailing] = tensor.shape;
  const total = rowCounts.reduce((sum, n) => sum + n, 0);
  if (
    rows === undefined ||
    total !== rows ||
    rowCounts.some((n) => !Number.isInteger(n) || n < 0)
  ) {
    throw new InferenceError(
      'MODEL_ERROR',
      `cannot split ${tensor.dtype}${formatShape(tensor.shape)} into rows [${rowCounts.join(', ')}]: ` +
        'the prediction must keep one row per input row',
    );
  }
  const rowSize = elementCount(trailing);
  let start = 0;
  return rowCounts.map((count) => {
    const end = start + count * rowSize;
    const data =
      tensor.dtype === 'string'
        ? (tensor.data as string[]).slice(start, end)
        : (tensor.data as Uint8Array).subarray(start, end);
    start = end;
    return { dtype: tensor.dtype, shape: [count, ...trailing], data } as unknown as Tensor<TDType>;
  });
}
