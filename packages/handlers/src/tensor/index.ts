export {
  BIGINT_RANGES,
  DTYPES,
  INTEGER_RANGES,
  TYPED_ARRAY_BY_DTYPE,
  bytesPerElement,
  isBigIntDType,
  isDType,
} from './dtype.js';
export type { DataTypeMap, DType, NumericDType, TypedData } from './dtype.js';
export { halfToNumber, numberToHalf } from './float16.js';
export { createTensor, elementCount, formatShape, isTensor, namedTensors } from './tensor.js';
export type { AnyTensor, NamedTensors, Tensor } from './tensor.js';
export { canStack, split, stack } from './batch.js';
