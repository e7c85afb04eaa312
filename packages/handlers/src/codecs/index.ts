export type { Codec, Decoded, DecodeOptions, ResolvedDecodeOptions } from './codec.js';
export { csvCodec } from './csv.js';
export { jsonCodec } from './json.js';
export { npyCodec } from './npy.js';
export { npzCodec } from './npz.js';
export { DEFAULT_CODECS, createCodecRegistry, decode, encode } from './registry.js';
export type { CodecRegistry, Encoded, EncodeOptions } from './registry.js';
