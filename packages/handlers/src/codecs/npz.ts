import { Unzip, UnzipInflate, unzipSync, zipSync, type Zippable } from 'fflate';
import { InferenceError } from '../errors/inference-error.js';
import { isTensor, namedTensors, type NamedTensors, type Tensor } from '../tensor/tensor.js';
import type { Codec, Decoded } from './codec.js';
import { decodeNpy, encodeNpy } from './npy.js';

const invalid = (message: string): InferenceError => new InferenceError('INVALID_INPUT', message);

// A fixed timestamp keeps encoded archives byte-for-byte reproducible.
const ZIP_EPOCH = new Date(1980, 0, 1);

/**
 * Read an NPZ archive (`np.savez` or `np.savez_compressed`) into named tensors.
 * Declared sizes are checked against `maxDecodedBytes` before anything is
 * inflated, and inflation stops as soon as the real output passes it, so a small
 * archive cannot expand without bound (or take long to refuse).
 *
 * @example
 * ```ts
 * const { input_ids, attention_mask } = decodeNpz(body, 1 << 30);
 * ```
 */
function decodeNpz(body: Uint8Array, maxDecodedBytes: number): Record<string, Tensor> {
  // The smallest zip is its 22-byte end record; fflate would scan 64 KiB for it first.
  if (body.length < 22) throw invalid('not a valid NPZ (zip) archive: it is too short');
  const names = new Map<string, number>();
  let declared = 0;
  try {
    // The central directory first: names and declared sizes, nothing inflated.
    unzipSync(body, {
      filter: (file) => {
        const name = arrayName(file.name);
        if (names.has(name)) throw invalid(`NPZ archive holds "${name}" twice`);
        names.set(name, file.originalSize);
        declared += file.originalSize;
        if (declared > maxDecodedBytes) {
          throw invalid(`NPZ archive would expand past the ${maxDecodedBytes}-byte limit`);
        }
        return false;
      },
    });
  } catch (error) {
    if (error instanceof InferenceError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw invalid(`not a valid NPZ (zip) archive: ${reason}`);
  }
  if (names.size === 0) throw invalid('NPZ archive holds no arrays');
  const entries = [...inflateBounded(body, names, maxDecodedBytes)];
  const out = namedTensors();
  let remaining = maxDecodedBytes;
  for (const [name, bytes] of entries) {
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

/** Compressed bytes handed to the inflater at a time: bounds the overshoot past a limit. */
const INFLATE_STEP = 4096;

/**
 * Inflates the archive's entries, counting the bytes that really come out: sizes
 * in the directory can lie (a zip bomb declares a few bytes and inflates to
 * gigabytes), so inflation stops as soon as the output passes `maxDecodedBytes`,
 * not after everything has been inflated.
 */
function inflateBounded(
  body: Uint8Array,
  names: ReadonlyMap<string, number>,
  maxDecodedBytes: number,
): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  let total = 0;
  let failure: InferenceError | undefined;
  const unzip = new Unzip((file) => {
    if (failure !== undefined) return;
    const name = file.name.endsWith('.npy') ? file.name.slice(0, -'.npy'.length) : file.name;
    if (!names.has(name) || files.has(name)) {
      failure = invalid(
        `not a valid NPZ (zip) archive: entry "${file.name}" is not in its directory`,
      );
      return;
    }
    const declared = names.get(name) ?? 0;
    const chunks: Uint8Array[] = [];
    let size = 0;
    file.ondata = (error, data, final) => {
      if (failure !== undefined) return;
      if (error !== null) {
        failure = invalid(`not a valid NPZ (zip) archive: ${error.message}`);
        return;
      }
      total += data.length;
      size += data.length;
      if (total > maxDecodedBytes) {
        failure = invalid(`NPZ archive expands past the ${maxDecodedBytes}-byte limit`);
      } else if (size > declared || (final && size !== declared)) {
        failure = invalid(
          `not a valid NPZ (zip) archive: "${file.name}" holds ${final ? '' : 'more than '}${size} bytes, its directory says ${declared}`,
        );
      }
      if (failure !== undefined) {
        file.terminate();
        return;
      }
      chunks.push(data);
      if (final) files.set(name, concat(chunks));
    };
    file.start();
  });
  unzip.register(UnzipInflate);
  try {
    for (let at = 0; at < body.length && failure === undefined; at += INFLATE_STEP) {
      const end = Math.min(body.length, at + INFLATE_STEP);
      unzip.push(body.subarray(at, end), end === body.length);
    }
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    failure ??= invalid(`not a valid NPZ (zip) archive: ${reason}`);
  }
  if (failure !== undefined) throw failure;
  if (files.size !== names.size) {
    throw invalid('not a valid NPZ (zip) archive: an entry in its directory has no data');
  }
  return files;
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1 && chunks[0] !== undefined) return chunks[0];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
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
