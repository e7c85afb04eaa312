import { InferenceError } from '../errors/inference-error.js';
import { TYPED_ARRAY_BY_DTYPE, type DataTypeMap, type DType } from './dtype.js';

/**
 * A dense, row-major (C order) n-dimensional array. `shape` `[]` is a scalar
 * (one element); any dimension may be 0.
 *
 * @example
 * ```ts
 * const t: Tensor<'float32'> = {
 *   dtype: 'float32',
 *   shape: [2, 2],
 *   data: new Float32Array([1, 2, 3, 4]),
 * };
 * ```
 */
export interface Tensor<TDType extends DType = DType> {
  readonly dtype: TDType;
  readonly shape: readonly number[];
  readonly data: DataTypeMap[TDType];
}

/** Any tensor, with `dtype` and `data` correlated for narrowing by `dtype`. */
export type AnyTensor = { [K in DType]: Tensor<K> }[DType];

/** Several named tensors: the inputs or outputs of a multi-input / multi-output model. */
export type NamedTensors = Readonly<Record<string, Tensor>>;

/**
 * An empty record for named tensors, without a prototype: input names come from
 * request bodies, and a name like `__proto__` must stay a plain key.
 *
 * @example
 * ```ts
 * const inputs = namedTensors();
 * inputs['__proto__'] = tensor; // an own key, not a prototype change
 * ```
 */
export function namedTensors(): Record<string, Tensor> {
  return Object.create(null) as Record<string, Tensor>;
}

/**
 * Number of elements a shape holds (1 for a scalar).
 *
 * @example
 * ```ts
 * elementCount([2, 3]); // 6
 * elementCount([]); // 1
 * ```
 */
export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) count *= dim;
  return count;
}

/**
 * Build a tensor, checking that `data` holds exactly as many elements as `shape`
 * says and that its storage fits `dtype`.
 *
 * @example
 * ```ts
 * const t = createTensor('int64', [3], new BigInt64Array([1n, 2n, 3n]));
 * ```
 */
export function createTensor<TDType extends DType>(
  dtype: TDType,
  shape: readonly number[],
  data: DataTypeMap[TDType],
): Tensor<TDType> {
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new InferenceError('INVALID_INPUT', `invalid tensor shape [${shape.join(', ')}]`);
    }
  }
  const expected = elementCount(shape);
  if (data.length !== expected) {
    throw new InferenceError(
      'INVALID_INPUT',
      `shape [${shape.join(', ')}] needs ${expected} elements, data has ${data.length}`,
    );
  }
  const kind: DType = dtype;
  const storage = kind === 'string' ? Array : TYPED_ARRAY_BY_DTYPE[kind];
  if (!(data instanceof storage)) {
    throw new InferenceError('INTERNAL', `data for a ${dtype} tensor must be a ${storage.name}`);
  }
  return { dtype, shape: [...shape], data };
}

/**
 * Whether a decoded value is one tensor (rather than named tensors).
 *
 * @example
 * ```ts
 * const input = decode(body, contentType);
 * const tensors = isTensor(input) ? { input } : input;
 * ```
 */
export function isTensor(value: unknown): value is Tensor {
  return (
    typeof value === 'object' &&
    value !== null &&
    'dtype' in value &&
    'shape' in value &&
    'data' in value &&
    Array.isArray((value as { shape: unknown }).shape)
  );
}

/**
 * Human-readable shape, for error messages.
 *
 * @example
 * ```ts
 * formatShape([2, 3]); // '[2, 3]'
 * ```
 */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
