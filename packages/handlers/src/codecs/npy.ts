import { InferenceError } from '../errors/inference-error.js';
import { TYPED_ARRAY_BY_DTYPE, type DType } from '../tensor/dtype.js';
import { elementCount, formatShape, isTensor, type Tensor } from '../tensor/tensor.js';
import type { Codec } from './codec.js';
import { formatNpyHeader, parseNpyHeader } from './npy-header.js';

type FixedDType = Exclude<DType, 'string'>;

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ALIGN = 64;

// numpy kind + item size -> dtype.
const DTYPE_BY_KIND: Readonly<Record<string, FixedDType>> = {
  b1: 'bool',
  i1: 'int8',
  i2: 'int16',
  i4: 'int32',
  i8: 'int64',
  u1: 'uint8',
  u2: 'uint16',
  u4: 'uint32',
  u8: 'uint64',
  f2: 'float16',
  f4: 'float32',
  f8: 'float64',
};

const DESCR_BY_DTYPE: Readonly<Record<FixedDType, string>> = {
  bool: '|b1',
  int8: '|i1',
  uint8: '|u1',
  int16: '<i2',
  int32: '<i4',
  int64: '<i8',
  uint16: '<u2',
  uint32: '<u4',
  uint64: '<u8',
  float16: '<f2',
  float32: '<f4',
  float64: '<f8',
};

const invalid = (message: string, details?: Record<string, unknown>): InferenceError =>
  new InferenceError('INVALID_INPUT', message, details === undefined ? {} : { details });

/**
 * Read an NPY file (format 1.0, 2.0 or 3.0): either byte order, C or Fortran order,
 * every numeric dtype and bool. The result is row-major, little-endian, in memory
 * of its own. Object arrays (pickles) are refused, never loaded.
 *
 * @example
 * ```ts
 * const t = decodeNpy(await readFile('x.npy'), 1 << 30); // { dtype: 'float64', shape: [2, 3], ... }
 * ```
 */
export function decodeNpy(body: Uint8Array, maxDecodedBytes: number): Tensor {
  if (body.length < 10 || MAGIC.some((byte, i) => body[i] !== byte)) {
    throw invalid('not an NPY file: it must start with the bytes \\x93NUMPY');
  }
  const major = body[6] ?? 0;
  const minor = body[7] ?? 0;
  if (minor !== 0 || major < 1 || major > 3) {
    throw invalid(`unsupported NPY format version ${major}.${minor} (1.0, 2.0 and 3.0 are read)`);
  }
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const headerStart = major === 1 ? 10 : 12;
  if (body.length < headerStart) throw invalid('NPY file is truncated in its header');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = headerStart + headerLength;
  if (body.length < dataStart) throw invalid('NPY file is truncated in its header');
  const headerBytes = body.subarray(headerStart, dataStart);
  const header = parseNpyHeader(major === 3 ? decodeUtf8(headerBytes) : decodeLatin1(headerBytes));
  const { dtype, bigEndian } = parseDescr(header.descr);
  const Ctor = TYPED_ARRAY_BY_DTYPE[dtype];
  const count = elementCount(header.shape);
  const byteLength = count * Ctor.BYTES_PER_ELEMENT;
  if (!Number.isSafeInteger(byteLength) || byteLength > maxDecodedBytes) {
    const size = Number.isSafeInteger(byteLength) ? String(byteLength) : 'more than 2^53';
    throw invalid(
      `NPY array ${formatShape(header.shape)} of ${dtype} would take ${size} bytes, over the ${maxDecodedBytes}-byte limit`,
      { shape: header.shape, dtype, maxDecodedBytes },
    );
  }
  const dataLength = body.length - dataStart;
  if (dataLength !== byteLength) {
    throw invalid(
      dataLength < byteLength
        ? `NPY data is truncated: shape ${formatShape(header.shape)} of ${dtype} needs ${byteLength} bytes, the file has ${dataLength}`
        : `NPY file has ${dataLength - byteLength} bytes after the array data`,
    );
  }
  const data = new Ctor(count);
  const bytes = new Uint8Array(data.buffer);
  bytes.set(body.subarray(dataStart));
  if (bigEndian && Ctor.BYTES_PER_ELEMENT > 1) byteSwap(bytes, Ctor.BYTES_PER_ELEMENT);
  // numpy reads any non-zero byte of a bool array as True.
  if (dtype === 'bool') for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) bytes[i] = 1;
  const ordered =
    header.fortranOrder && header.shape.length > 1
      ? new Ctor(fortranToC(bytes, Ctor.BYTES_PER_ELEMENT, header.shape))
      : data;
  return { dtype, shape: [...header.shape], data: ordered };
}

/**
 * Write one tensor as numpy's `np.save` does: format 1.0 (2.0 for a header over
 * 64 KiB), little-endian, C order, header padded to 64 bytes.
 *
 * @example
 * ```ts
 * const bytes = encodeNpy(createTensor('int32', [2], new Int32Array([1, 2])));
 * // loads in numpy as np.array([1, 2], dtype=np.int32)
 * ```
 */
export function encodeNpy(tensor: Tensor): Uint8Array {
  if (tensor.dtype === 'string') throw new InferenceError('INTERNAL', 'NPY cannot hold strings');
  if (tensor.data.length !== elementCount(tensor.shape)) {
    throw new InferenceError(
      'INTERNAL',
      `${tensor.dtype} tensor of shape ${formatShape(tensor.shape)} has ${tensor.data.length} elements`,
    );
  }
  const dict = formatNpyHeader(DESCR_BY_DTYPE[tensor.dtype], tensor.shape);
  // Like np.save: format 1.0 unless the padded header overflows its 16-bit length.
  let prefix = 10;
  if (paddedLength(dict.length, prefix) > 0xffff) prefix = 12;
  const header = dict.padEnd(paddedLength(dict.length, prefix) - 1, ' ') + '\n';
  const major = prefix === 10 ? 1 : 2;
  const data = tensor.data as Uint8Array;
  const out = new Uint8Array(prefix + header.length + data.byteLength);
  out.set(MAGIC);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), prefix + header.length);
  return out;
}

// numpy pads with spaces plus a final '\n' so that the data starts at a multiple of
// 64 bytes; a header that would end exactly on the boundary still gets 64 more.
function paddedLength(dictLength: number, prefix: number): number {
  return dictLength + 1 + ALIGN - ((prefix + dictLength + 1) % ALIGN);
}

function parseDescr(descr: string): { dtype: FixedDType; bigEndian: boolean } {
  const match = /^([<>|=]?)([a-zA-Z])(\d+)$/.exec(descr);
  const kind = match === null ? '' : `${match[2] ?? ''}${match[3] ?? ''}`;
  if (descr === '|O' || descr === 'O' || match?.[2] === 'O') {
    throw invalid(
      'NPY object arrays hold pickled Python objects and are refused (never unpickled): send a numeric array',
      { descr },
    );
  }
  const dtype = DTYPE_BY_KIND[kind];
  if (match === null || dtype === undefined) {
    throw invalid(
      `NPY dtype '${descr}' is not supported; supported: bool, int8-int64, uint8-uint64, float16/32/64`,
      { descr },
    );
  }
  return { dtype, bigEndian: match[1] === '>' };
}

// Whole words at a time: several times faster than swapping byte by byte.
function byteSwap(bytes: Uint8Array, size: number): void {
  const buffer = bytes.buffer as ArrayBuffer;
  if (size === 2) {
    const words = new Uint16Array(buffer);
    for (let i = 0; i < words.length; i++) {
      const w = words[i] ?? 0;
      words[i] = (w >>> 8) | (w << 8);
    }
    return;
  }
  const words = new Uint32Array(buffer);
  for (let i = 0; i < words.length; i++) words[i] = swap32(words[i] ?? 0);
  if (size === 8) {
    // Each half is swapped; the halves trade places too.
    for (let i = 0; i < words.length; i += 2) {
      const low = words[i] ?? 0;
      words[i] = words[i + 1] ?? 0;
      words[i + 1] = low;
    }
  }
}

function swap32(w: number): number {
  return ((w & 0xff) << 24) | ((w & 0xff00) << 8) | ((w >>> 8) & 0xff00) | (w >>> 24);
}

/**
 * Reorder column-major elements into row-major order. Elements move as unsigned
 * words, never as floats: a float32 load would quieten signalling NaNs, and
 * BigInt64Array elements would allocate a bigint each.
 */
function fortranToC(bytes: Uint8Array, size: number, shape: readonly number[]): ArrayBuffer {
  const buffer = bytes.buffer as ArrayBuffer;
  const src = size === 1 ? bytes : size === 2 ? new Uint16Array(buffer) : new Uint32Array(buffer);
  const n = src.length;
  const out = size === 1 ? new Uint8Array(n) : size === 2 ? new Uint16Array(n) : new Uint32Array(n);
  const words = size === 8 ? 2 : 1; // a 64-bit element is two 32-bit words
  const rank = shape.length;
  // Fortran strides, in words: the first axis varies fastest.
  const strides: number[] = [];
  let stride = words;
  for (const dim of shape) {
    strides.push(stride);
    stride *= dim;
  }
  // The last axis is the inner loop (contiguous in the output); the others tick
  // like an odometer, tracking where their row starts in the Fortran data.
  const last = rank - 1;
  const runLength = shape[last] ?? 1;
  const runStride = strides[last] ?? 0;
  const index = new Array<number>(last).fill(0);
  let source = 0;
  for (let target = 0; target < n;) {
    for (let k = 0, from = source; k < runLength; k++, from += runStride) {
      out[target++] = src[from] ?? 0;
      if (words === 2) out[target++] = src[from + 1] ?? 0;
    }
    for (let axis = last - 1; axis >= 0; axis--) {
      const axisStride = strides[axis] ?? 0;
      const i = (index[axis] ?? 0) + 1;
      if (i < (shape[axis] ?? 1)) {
        index[axis] = i;
        source += axisStride;
        break;
      }
      source -= (i - 1) * axisStride;
      index[axis] = 0;
    }
  }
  return out.buffer;
}

// Formats 1.0 and 2.0 store the header as latin-1, where each byte is one code point.
function decodeLatin1(bytes: Uint8Array): string {
  let text = '';
  for (let start = 0; start < bytes.length; start += 8192) {
    text += String.fromCharCode(...bytes.subarray(start, start + 8192));
  }
  return text;
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw invalid('NPY 3.0 header is not valid UTF-8');
  }
}

/**
 * `application/x-npy`: one array, as numpy's `np.save` writes it.
 *
 * @example
 * ```ts
 * const registry = createCodecRegistry([npyCodec]);
 * ```
 */
export const npyCodec: Codec = {
  mediaType: 'application/x-npy',
  matches: (type) => type.essence === 'application/x-npy',
  decode: (body, _type, options) => decodeNpy(body, options.maxDecodedBytes),
  canEncode: (value) => isTensor(value) && value.dtype !== 'string',
  encode: (value) => {
    if (!isTensor(value)) throw new InferenceError('INTERNAL', 'NPY holds one tensor');
    return encodeNpy(value);
  },
};
