import { unzipSync, zipSync, type Zippable } from 'fflate';
import { InferenceError } from '../errors/inference-error.js';
import { isTensor, namedTensors, type NamedTensors, type Tensor } from '../tensor/tensor.js';
import type { Codec, Decoded } from './codec.js';
import { decodeNpy, encodeNpy } from './npy.js';

const invalid = (message: string): InferenceError => new InferenceError('INVALID_INPUT', message);

// A fixed timestamp keeps encoded archives byte-for-byte reproducible.
const ZIP_EPOCH = new Date(1980, 0, 1);

/**
 * Read an NPZ archive (`np.savez` or `np.savez_compressed`) into named tensors.
 * Sizes are checked against `maxDecodedBytes` before anything is inflated and
 * again after, so a small archive cannot expand without bound.
 *
 * @example
 * ```ts
 * const { input_ids, attention_mask } = decodeNpz(body, 1 << 30);
 * ```
 */
function decodeNpz(body: Uint8Array, maxDecodedBytes: number): Record<string, Tensor> {
  // The smallest zip is its 22-byte end record; fflate would scan 64 KiB for it first.
  if (body.length < 22) throw invalid('not a valid NPZ (zip) archive: it is too short');
  const names = new Set<string>();
  let declared = 0;
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(body, {
      filter: (file) => {
        const name = arrayName(file.name);
        if (names.has(name)) throw invalid(`NPZ archive holds "${name}" twice`);
        names.add(name);
        declared += file.originalSize;
        if (declared > maxDecodedBytes) {
          throw invalid(`NPZ archive would expand past the ${maxDecodedBytes}-byte limit`);
        }
        return true;
      },
    });
  } catch (error) {
    if (error instanceof InferenceError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw invalid(`not a valid NPZ (zip) archive: ${reason}`);
  }
  const entries = Object.entries(files);
  if (entries.length === 0) throw invalid('NPZ archive holds no arrays');
  // Declared sizes can lie (fflate copies stored entries by their compressed size),
  // so the expanded bytes are counted again.
  const actual = entries.reduce((sum, [, bytes]) => sum + bytes.length, 0);
  if (actual > maxDecodedBytes) {
    throw invalid(`NPZ archive expands to ${actual} bytes, over the ${maxDecodedBytes}-byte limit`);
  }
  const out = namedTensors();
  let remaining = maxDecodedBytes;
  for (const [file, bytes] of entries) {
    const name = arrayName(file);
    try {
      const tensor = decodeNpy(bytes, remaining);
      remaining -= (tensor.data as Uint8Array).byteLength;
      out[name] = tensor;
    } catch (error) {
      if (error instanceof InferenceError) {
        throw new InferenceError(error.code, `NPZ array "${name}": ${error.message}`, {
          details: { ...error.details, array: name },
        });
      }
      throw error;
    }
  }
  return out;
}

/**
 * Write named tensors as an NPZ archive (stored, like `np.savez`); a single
 * tensor is stored as `arr_0`, numpy's name for an unnamed array.
 *
 * @example
 * ```ts
 * const bytes = encodeNpz({ logits, hidden });
 * // np.load(io.BytesIO(bytes))['logits']
 * ```
 */
function encodeNpz(value: Decoded): Uint8Array {
  const named: NamedTensors = isTensor(value) ? { arr_0: value } : value;
  const files: Zippable = {};
  for (const [name, tensor] of Object.entries(named)) {
    files[`${name}.npy`] = [encodeNpy(tensor), { level: 0, mtime: ZIP_EPOCH }];
  }
  return zipSync(files);
}

function arrayName(file: string): string {
  if (!file.endsWith('.npy')) throw invalid(`NPZ entry "${file}" is not an .npy file`);
  const name = file.slice(0, -'.npy'.length);
  if (!isArrayName(name)) throw invalid(`NPZ entry "${file}" does not name an array`);
  return name;
}

/** Names that stay plain file names inside the archive (no paths). */
function isArrayName(name: string): boolean {
  return name !== '' && !name.includes('/') && !name.includes('\\') && !name.includes('..');
}

/**
 * `application/x-npz`: named arrays, for models with several inputs or outputs.
 *
 * @example
 * ```ts
 * const registry = createCodecRegistry([npzCodec]);
 * ```
 */
export const npzCodec: Codec = {
  mediaType: 'application/x-npz',
  matches: (type) => type.essence === 'application/x-npz',
  decode: (body, _type, options) => decodeNpz(body, options.maxDecodedBytes),
  canEncode: (value) => {
    // Only what our own decoder reads back: no strings, no path-like names.
    const entries = Object.entries(isTensor(value) ? { arr_0: value } : value);
    return (
      entries.length > 0 && entries.every(([name, t]) => t.dtype !== 'string' && isArrayName(name))
    );
  },
  encode: encodeNpz,
};
