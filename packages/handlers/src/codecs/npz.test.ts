import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { zipSync } from 'fflate';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DTYPES, TYPED_ARRAY_BY_DTYPE, type DType } from '../tensor/dtype.js';
import { halfToNumber } from '../tensor/float16.js';
import { createTensor, elementCount, isTensor, type Tensor } from '../tensor/tensor.js';
import { errorOf, mediaType, throwsOnlyInferenceErrors } from '../../test/helpers.js';
import type { Decoded } from './codec.js';
import { npyCodec } from './npy.js';
import { npzCodec } from './npz.js';

type FixedDType = Exclude<DType, 'string'>;
const FIXED = DTYPES.filter((d): d is FixedDType => d !== 'string');
const NPZ_DIR = fileURLToPath(new URL('../../test/fixtures/npz/', import.meta.url));
const NPZ = mediaType('application/x-npz');
const LIMIT = 1 << 30;

interface Expected {
  dtype: string;
  shape: number[];
  values: (number | string)[];
}
const manifest = JSON.parse(readFileSync(join(NPZ_DIR, 'manifest.json'), 'utf8')) as Record<
  string,
  Record<string, Expected>
>;

function decode(body: Uint8Array, maxDecodedBytes = LIMIT): Record<string, Tensor> {
  const value = npzCodec.decode(body, NPZ, { dtype: undefined, maxDecodedBytes });
  if (isTensor(value)) throw new Error('NPZ must decode to named tensors');
  return { ...value };
}
const encode = (value: Decoded): Uint8Array => npzCodec.encode(value, NPZ);
const npy = (t: Tensor): Uint8Array => npyCodec.encode(t, mediaType('application/x-npy'));
const int8 = (...values: number[]) => createTensor('int8', [values.length], Int8Array.from(values));
const bytesOf = (t: Tensor): Buffer => {
  const data = t.data as Uint8Array;
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
};

function valuesOf(t: Tensor): (number | string)[] {
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => {
    if (typeof v === 'bigint') return String(v);
    const n = t.dtype === 'float16' ? halfToNumber(v) : v;
    return Number.isFinite(n) ? n : String(n).toLowerCase().replace('infinity', 'inf');
  });
}

/** Overwrite every occurrence of `from` in a zip (local and central headers alike). */
function patchName(zip: Uint8Array, from: string, to: string): Uint8Array {
  const text = Buffer.from(zip).toString('latin1').replaceAll(from, to);
  return Uint8Array.from(Buffer.from(text, 'latin1'));
}

describe('NPZ decode', () => {
  it.each(Object.entries(manifest))('%s: names, dtypes, shapes and values', (name, arrays) => {
    const decoded = decode(readFileSync(join(NPZ_DIR, name)));
    expect(Object.keys(decoded).sort()).toEqual(Object.keys(arrays).sort());
    for (const [key, want] of Object.entries(arrays)) {
      const t = decoded[key];
      expect(t?.dtype, key).toBe(want.dtype);
      expect(t?.shape, key).toEqual(want.shape);
      expect(t === undefined ? [] : valuesOf(t), key).toEqual(want.values);
    }
  });

  it('is the codec for application/x-npz', () => {
    expect(npzCodec.mediaType).toBe('application/x-npz');
    expect(npzCodec.matches(mediaType('APPLICATION/X-NPZ'))).toBe(true);
    expect(npzCodec.matches(mediaType('application/x-npy'))).toBe(false);
  });

  it('keeps an array named __proto__ as a plain key', () => {
    const value = npzCodec.decode(zipSync({ '__proto__.npy': npy(int8(5)) }), NPZ, {
      dtype: undefined,
      maxDecodedBytes: LIMIT,
    });
    expect(Object.keys(value)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(value)).toBeNull();
  });
});

describe('NPZ decode: refusals', () => {
  const one = npy(int8(1));

  it.each([
    ['notes.txt', 'NPZ entry "notes.txt" is not an .npy file'],
    ['a.npy.gz', 'NPZ entry "a.npy.gz" is not an .npy file'],
    ['dir/', 'NPZ entry "dir/" is not an .npy file'],
    ['dir/x.npy', 'NPZ entry "dir/x.npy" does not name an array'],
    ['../x.npy', 'NPZ entry "../x.npy" does not name an array'],
    ['a\\x.npy', 'does not name an array'],
    ['.npy', 'NPZ entry ".npy" does not name an array'],
  ])('refuses an entry named %s', (entry, message) => {
    const error = errorOf(() => decode(zipSync({ [entry]: one, 'ok.npy': one })));
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toContain(message);
  });

  it('refuses an archive that holds one name twice', () => {
    const zip = patchName(zipSync({ 'a.npy': one, 'b.npy': one }), 'b.npy', 'a.npy');
    expect(errorOf(() => decode(zip)).message).toBe('NPZ archive holds "a" twice');
  });

  it('refuses an empty archive and bytes that are not a zip', () => {
    expect(errorOf(() => decode(zipSync({}))).message).toBe('NPZ archive holds no arrays');
    const error = errorOf(() => decode(new TextEncoder().encode('PK nothing here')));
    expect(error.message).toMatch(/^not a valid NPZ \(zip\) archive: /);
  });

  it('refuses an archive whose declared size is over the limit, before inflating it', () => {
    // 16 MiB of zeros deflate to some 16 KiB: a small bomb for a 1 MiB limit.
    const zeros = npy(createTensor('uint8', [16 << 20], new Uint8Array(16 << 20)));
    const bomb = zipSync({ 'x.npy': [zeros, { level: 9 }] });
    expect(bomb.length).toBeLessThan(64 << 10);
    const error = errorOf(() => decode(bomb, 1 << 20));
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toBe('NPZ archive would expand past the 1048576-byte limit');
    // Several entries count together.
    const half = npy(createTensor('uint8', [600_000], new Uint8Array(600_000)));
    const two = zipSync({ 'a.npy': half, 'b.npy': half });
    expect(errorOf(() => decode(two, 1 << 20)).message).toContain('would expand past');
    expect(Object.keys(decode(two, 2 << 20))).toEqual(['a', 'b']);
  });

  it('does not trust a declared size that is smaller than the data', () => {
    const data = npy(createTensor('uint8', [5000], new Uint8Array(5000)));
    const stored = zipSync({ 'x.npy': [data, { level: 0 }] });
    // Declare 16 bytes in the central directory (uncompressed size at offset 24).
    const central = Buffer.from(stored).indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    new DataView(stored.buffer).setUint32(central + 24, 16, true);
    expect(errorOf(() => decode(stored, 4096)).message).toMatch(
      /^not a valid NPZ \(zip\) archive: "x\.npy" holds more than \d+ bytes, its directory says 16$/,
    );
    // Deflated too: an entry that holds more than its directory says is refused.
    const deflated = zipSync({ 'x.npy': [data, { level: 6 }] });
    const at = Buffer.from(deflated).indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    new DataView(deflated.buffer).setUint32(at + 24, 200, true);
    expect(errorOf(() => decode(deflated, 8192)).message).toMatch(
      /^not a valid NPZ \(zip\) archive: "x\.npy" holds (?:more than )?\d+ bytes, its directory says 200$/,
    );
  });

  it('refuses a zip bomb after inflating little more than its declared size', () => {
    // 256 MiB of zeros deflate to about 256 KiB; the directory says 1 KiB.
    const zeros = new Uint8Array(256 * 1024 * 1024);
    const bomb = zipSync({ 'x.npy': [zeros, { level: 9 }] });
    const at = Buffer.from(bomb).indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    new DataView(bomb.buffer).setUint32(at + 24, 1024, true);
    const message = errorOf(() => decode(bomb, 64 * 1024 * 1024)).message;
    expect(message).toMatch(/holds more than \d+ bytes, its directory says 1024$/);
    // It stopped at the first inflated chunk past 1 KiB, not after 256 MiB.
    const inflated = Number(/more than (\d+) bytes/.exec(message)?.[1]);
    expect(inflated).toBeLessThan(8 * 1024 * 1024);
  });

  it('says which array is broken', () => {
    const bad = zipSync({ 'good.npy': one, 'bad.npy': new Uint8Array(12) });
    const error = errorOf(() => decode(bad));
    expect(error.message).toMatch(/^NPZ array "bad": not an NPY file/);
    expect(error.details).toMatchObject({ array: 'bad' });
    const pickled = zipSync({ 'obj.npy': readNpyFixture('refuse-object.npy') });
    expect(errorOf(() => decode(pickled)).message).toContain('"obj": NPY object arrays');
  });
});

function readNpyFixture(name: string): Uint8Array {
  return readFileSync(fileURLToPath(new URL(`../../test/fixtures/npy/${name}`, import.meta.url)));
}

/** Any tensor of a fixed-width dtype: random bytes (every bit pattern, NaN payloads too). */
const tensorOf = (
  dtype: FixedDType,
  shapes: fc.Arbitrary<number[]> = fc.array(fc.nat(4), { maxLength: 4 }),
): fc.Arbitrary<Tensor> =>
  shapes.chain((shape) => {
    const Ctor = TYPED_ARRAY_BY_DTYPE[dtype];
    const length = elementCount(shape) * Ctor.BYTES_PER_ELEMENT;
    const bytes =
      dtype === 'bool'
        ? fc.array(fc.constantFrom(0, 1), { minLength: length, maxLength: length })
        : fc.uint8Array({ minLength: length, maxLength: length });
    return bytes.map((b) => createTensor(dtype, shape, new Ctor(Uint8Array.from(b).buffer)));
  });
const named = fc.dictionary(
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,12}$/).filter((s) => !s.includes('..')),
  fc.constantFrom(...FIXED).chain((dtype) => tensorOf(dtype)),
  { minKeys: 1, maxKeys: 4 },
);

describe('NPZ encode', () => {
  it('encodes named tensors, and one tensor as arr_0; never strings or nothing', () => {
    const t = int8(1, 2);
    expect(npzCodec.canEncode(t)).toBe(true);
    expect(npzCodec.canEncode({ a: t, b: int8() })).toBe(true);
    expect(npzCodec.canEncode({})).toBe(false);
    expect(npzCodec.canEncode({ a: t, s: createTensor('string', [1], ['x']) })).toBe(false);
    expect(npzCodec.canEncode(createTensor('string', [0], []))).toBe(false);
    expect(Object.keys(decode(encode(t)))).toEqual(['arr_0']);
  });

  it('writes the same bytes for the same tensors', () => {
    const value = { ids: createTensor('int64', [1, 2], new BigInt64Array([7n, -7n])) };
    expect(Buffer.from(encode(value))).toEqual(Buffer.from(encode(value)));
  });

  it('decode(encode(tensors)) gives the tensors back byte for byte', () => {
    fc.assert(
      fc.property(named, (value) => {
        const back = decode(encode(value));
        expect(Object.keys(back).sort()).toEqual(Object.keys(value).sort());
        for (const [name, t] of Object.entries(value)) {
          expect(back[name]?.dtype).toBe(t.dtype);
          expect(back[name]?.shape).toEqual(t.shape);
          expect(back[name] && bytesOf(back[name])).toEqual(bytesOf(t));
        }
      }),
      { numRuns: 300 },
    );
  });

  const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
  it.skipIf(!hasNumpy)('writes archives that np.load reads', () => {
    const value: Record<string, Tensor> = {};
    for (const dtype of FIXED) {
      const [t] = fc.sample(tensorOf(dtype, fc.constant([2, 3])), { numRuns: 1, seed: 11 });
      if (t !== undefined) value[dtype] = t;
    }
    const script = `
import io, json, sys, numpy as np
z = np.load(io.BytesIO(sys.stdin.buffer.read()), allow_pickle=False)
print(json.dumps({k: [z[k].dtype.name, list(z[k].shape), z[k].tobytes().hex()] for k in z.files}))`;
    const run = spawnSync('python3', ['-c', script], { input: encode(value), encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const loaded = JSON.parse(run.stdout) as Record<string, [string, number[], string]>;
    expect(Object.keys(loaded).sort()).toEqual(Object.keys(value).sort());
    for (const [name, t] of Object.entries(value)) {
      expect(loaded[name]).toEqual([t.dtype, t.shape, bytesOf(t).toString('hex')]);
    }
  });
});

describe('NPZ robustness', () => {
  it('throws only InferenceErrors for arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) =>
        throwsOnlyInferenceErrors(() => decode(bytes)),
      ),
      { numRuns: 2000 },
    );
  });

  it('throws only InferenceErrors for damaged valid archives', () => {
    const files = ['savez.npz', 'savez-compressed.npz'].map((n) => readFileSync(join(NPZ_DIR, n)));
    fc.assert(
      fc.property(
        fc.constantFrom(...files),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        // Mostly whole archives: a zip cut short loses its end record and fails early.
        fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, fc.nat(600)),
        (good, flips, cut) => {
          const body = Uint8Array.from(good.subarray(0, Math.max(0, good.length - cut)));
          for (const [at, byte] of flips) if (body.length > 0) body[at % body.length] = byte;
          return throwsOnlyInferenceErrors(() => decode(body, 1 << 16));
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('NPZ encode offers itself only for archives it reads back', () => {
  it('declines path-like array names', () => {
    const t = createTensor('int8', [1], new Int8Array([1]));
    expect(npzCodec.canEncode({ ok: t })).toBe(true);
    expect(npzCodec.canEncode({ '../escape': t })).toBe(false);
    expect(npzCodec.canEncode({ 'a/b': t })).toBe(false);
  });
});
