import { InferenceError } from '../errors/inference-error.js';
import { negotiateOrThrow } from '../media-type/negotiate.js';
import { parseContentType, parseMediaType } from '../media-type/parse.js';
import type { Codec, Decoded, DecodeOptions } from './codec.js';
import { csvCodec } from './csv.js';
import { jsonCodec } from './json.js';
import { npyCodec } from './npy.js';
import { npzCodec } from './npz.js';

/** An encoded response body and the content type it was written as. */
export interface Encoded {
  readonly body: Uint8Array;
  readonly contentType: string;
}

export interface EncodeOptions {
  /**
   * The media type for a missing Accept or `*\/*`.
   * @defaultValue `'application/json'`
   */
  defaultAccept?: string;
}

export interface CodecRegistry {
  /** Media types the registry reads and writes, in preference order. */
  readonly mediaTypes: readonly string[];
  decode(body: Uint8Array, contentType: string, options?: DecodeOptions): Decoded;
  encode(value: Decoded, accept: string | undefined, options?: EncodeOptions): Encoded;
}

const DEFAULT_MAX_DECODED_BYTES = 1024 ** 3;

/**
 * Build a registry from an ordered list of codecs; the first match wins, so put
 * specific codecs before general ones.
 *
 * @example
 * ```ts
 * const registry = createCodecRegistry([myProtobufCodec, ...DEFAULT_CODECS]);
 * const input = registry.decode(body, 'application/x-protobuf');
 * ```
 */
export function createCodecRegistry(codecs: readonly Codec[]): CodecRegistry {
  const mediaTypes = codecs.map((c) => c.mediaType);
  return {
    mediaTypes,
    decode(body, contentType, options = {}) {
      const type = parseContentType(contentType, mediaTypes);
      const codec = codecs.find((c) => c.matches(type));
      if (codec === undefined) {
        throw new InferenceError(
          'UNSUPPORTED_MEDIA_TYPE',
          `Content-Type ${type.essence} is not supported; supported: ${mediaTypes.join(', ')}`,
          { details: { supported: mediaTypes } },
        );
      }
      return codec.decode(body, type, {
        dtype: options.dtype,
        maxDecodedBytes: options.maxDecodedBytes ?? DEFAULT_MAX_DECODED_BYTES,
      });
    },
    encode(value, accept, options = {}) {
      // Only formats that can hold this value take part in negotiation.
      const able = codecs.filter((c) => c.canEncode(value));
      const chosen = negotiateOrThrow(
        accept,
        able.map((c) => c.mediaType),
        { defaultType: options.defaultAccept ?? 'application/json' },
      );
      const codec = able.find((c) => c.mediaType === chosen);
      const type = parseMediaType(chosen);
      if (codec === undefined || type === undefined) {
        throw new InferenceError('INTERNAL', `no codec for ${chosen}`);
      }
      return { body: codec.encode(value, type), contentType: chosen };
    },
  };
}

/**
 * JSON, CSV, NPY and NPZ, in that order of preference.
 *
 * @example
 * ```ts
 * createCodecRegistry([myCodec, ...DEFAULT_CODECS]);
 * ```
 */
export const DEFAULT_CODECS: readonly Codec[] = Object.freeze([
  jsonCodec,
  csvCodec,
  npyCodec,
  npzCodec,
]);

const defaultRegistry = createCodecRegistry(DEFAULT_CODECS);

/**
 * Decode a request body by its `Content-Type` with the default codecs (JSON, CSV,
 * NPY, NPZ). An unknown type fails with 415, a malformed body with 400.
 *
 * @example
 * ```ts
 * const t = decode(new TextEncoder().encode('[[1, 2], [3, 4]]'), 'application/json; charset=utf-8');
 * // { dtype: 'float32', shape: [2, 2], data: Float32Array [1, 2, 3, 4] }
 * ```
 */
export function decode(body: Uint8Array, contentType: string, options?: DecodeOptions): Decoded {
  return defaultRegistry.decode(body, contentType, options);
}

/**
 * Encode a tensor (or named tensors) for an `Accept` header with the default codecs.
 * A missing Accept or `*\/*` gives JSON unless `defaultAccept` says otherwise; an
 * Accept nothing satisfies fails with 406.
 *
 * @example
 * ```ts
 * const { body, contentType } = encode(tensor, 'application/x-npy, application/json;q=0.9');
 * // contentType: 'application/x-npy'
 * ```
 */
export function encode(
  value: Decoded,
  accept: string | undefined,
  options?: EncodeOptions,
): Encoded {
  return defaultRegistry.encode(value, accept, options);
}
