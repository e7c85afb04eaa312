/**
 * Element types, named as onnxruntime names them so that a `Tensor` can be handed
 * to an ORT session without translation.
 *
 * @example
 * ```ts
 * DTYPES.includes('float16'); // true
 * ```
 */
export const DTYPES = [
  'float16',
  'float32',
  'float64',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'bool',
  'string',
] as const;

export type DType = (typeof DTYPES)[number];
export type NumericDType = Exclude<DType, 'string' | 'bool'>;

/**
 * The JS storage for each dtype, as onnxruntime-node expects it: `bool` is one byte
 * per element in a `Uint8Array` (0 or 1), `float16` is the raw IEEE half bits in a
 * `Uint16Array` (Node 20 has no `Float16Array`), 64-bit integers are `BigInt64Array`
 * / `BigUint64Array`.
 */
export interface DataTypeMap {
  float16: Uint16Array;
  float32: Float32Array;
  float64: Float64Array;
  int8: Int8Array;
  int16: Int16Array;
  int32: Int32Array;
  int64: BigInt64Array;
  uint8: Uint8Array;
  uint16: Uint16Array;
  uint32: Uint32Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
  string: string[];
}

export type TypedData = DataTypeMap[Exclude<DType, 'string'>];

type TypedArrayConstructor<T> = {
  new (length: number): T;
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): T;
  readonly BYTES_PER_ELEMENT: number;
};

/**
 * The typed-array constructor for each fixed-width dtype.
 *
 * @example
 * ```ts
 * const data = new TYPED_ARRAY_BY_DTYPE.int64(3); // BigInt64Array [0n, 0n, 0n]
 * ```
 */
export const TYPED_ARRAY_BY_DTYPE: {
  readonly [K in Exclude<DType, 'string'>]: TypedArrayConstructor<DataTypeMap[K]>;
} = Object.freeze({
  float16: Uint16Array,
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
});

/**
 * Bytes per element of a fixed-width dtype.
 *
 * @example
 * ```ts
 * bytesPerElement('float16'); // 2
 * ```
 */
export function bytesPerElement(dtype: Exclude<DType, 'string'>): number {
  return TYPED_ARRAY_BY_DTYPE[dtype].BYTES_PER_ELEMENT;
}

/**
 * Whether a value (from config or the wire) names a dtype.
 *
 * @example
 * ```ts
 * isDType('float32'); // true
 * isDType('complex64'); // false
 * ```
 */
export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && (DTYPES as readonly string[]).includes(value);
}

/**
 * Whether elements of this dtype are `bigint`s in JS.
 *
 * @example
 * ```ts
 * isBigIntDType('int64'); // true
 * ```
 */
export function isBigIntDType(dtype: DType): dtype is 'int64' | 'uint64' {
  return dtype === 'int64' || dtype === 'uint64';
}

/**
 * The values each integer dtype holds, for range checks when text or another
 * dtype is turned into it.
 *
 * @example
 * ```ts
 * const [min, max] = INTEGER_RANGES.int8; // [-128, 127]
 * ```
 */
export const INTEGER_RANGES: Readonly<
  Record<'int8' | 'int16' | 'int32' | 'uint8' | 'uint16' | 'uint32', readonly [number, number]>
> = Object.freeze({
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, 4294967295],
});

/**
 * The values of the 64-bit integer dtypes, as bigints.
 *
 * @example
 * ```ts
 * const [, max] = BIGINT_RANGES.uint64; // 18446744073709551615n
 * ```
 */
export const BIGINT_RANGES: Readonly<Record<'int64' | 'uint64', readonly [bigint, bigint]>> =
  Object.freeze({
    int64: [-(2n ** 63n), 2n ** 63n - 1n],
    uint64: [0n, 2n ** 64n - 1n],
  });
