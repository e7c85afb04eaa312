import type { DType } from '../tensor/dtype.js';
import type { MediaType } from '../media-type/parse.js';
import type { NamedTensors, Tensor } from '../tensor/tensor.js';

/** What a body decodes to: one tensor, or named tensors for multi-input models. */
export type Decoded = Tensor | NamedTensors;

export interface DecodeOptions {
  /**
   * Element type for formats that do not carry one (JSON, CSV). Binary formats
   * (NPY, NPZ) keep the dtype they were written with; the worker casts afterwards.
   * @defaultValue `'float32'` for numbers, `'bool'` for JSON booleans
   */
  dtype?: DType;
  /**
   * Most bytes of tensor data a body may decode to, so that a small compressed NPZ
   * cannot expand without bound.
   * @defaultValue 1 GiB
   */
  maxDecodedBytes?: number;
}

export interface ResolvedDecodeOptions {
  readonly dtype: DType | undefined;
  readonly maxDecodedBytes: number;
}

/**
 * One wire format. Codecs live in an ordered registry; the first whose `matches`
 * accepts a parsed media type handles it.
 */
export interface Codec {
  /** The canonical media type this codec writes, e.g. `application/json`. */
  readonly mediaType: string;
  /** Whether this codec reads bodies of the given (parsed) content type. */
  matches(type: MediaType): boolean;
  /** Decode a body; throws `InferenceError('INVALID_INPUT')` on anything malformed. */
  decode(body: Uint8Array, type: MediaType, options: ResolvedDecodeOptions): Decoded;
  /** Whether this format can represent the value (CSV cannot hold rank 3, NPY one tensor only). */
  canEncode(value: Decoded): boolean;
  /** Encode a value this codec said it can encode. */
  encode(value: Decoded, type: MediaType): Uint8Array;
}
