import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DTYPES, TYPED_ARRAY_BY_DTYPE, type DType } from '../tensor/dtype.js';
import { halfToNumber } from '../tensor/float16.js';
import { createTensor, elementCount, isTensor, type Tensor } from '../tensor/tensor.js';
import { errorOf, mediaType, throwsOnlyInferenceErrors } from '../../test/helpers.js';
import { npyCodec } from './npy.js';

type FixedDType = Exclude<DType, 'string'>;
const FIXED = DTYPES.filter((d): d is FixedDType => d !== 'string');
const NPY_DIR = fileURLToPath(new URL('../../test/fixtures/npy/', import.meta.url));
const NPY = mediaType('application/x-npy');
const LIMIT = 1 << 30;

interface Expected {
  dtype: string;
  shape: number[];
  values: (number | string)[];
  canonical: boolean;
}
const manifest = JSON.parse(readFileSync(join(NPY_DIR, 'manifest.json'), 'utf8')) as Record<
  string,
  Expected
>;
const golden = Object.entries(manifest);
const fixture = (name: string): Uint8Array => readFileSync(join(NPY_DIR, name));

function decode(body: Uint8Array, maxDecodedBytes = LIMIT): Tensor {
  const value = npyCodec.decode(body, NPY, { dtype: undefined, maxDecodedBytes });
  if (!isTensor(value)) throw new Error('NPY must decode to one tensor');
  return value;
}
const encode = (t: Tensor): Uint8Array => npyCodec.encode(t, NPY);
const bytesOf = (t: Tensor): Uint8Array => {
  const data = t.data as Uint8Array;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
};

/** Manifest values as the tensor holds them: bigint for 64-bit integers, half floats widened. */
function expectedValue(dtype: string, value: number | string): number | bigint {
  if (dtype === 'int64' || dtype === 'uint64') return BigInt(value);
  if (value === 'nan') return NaN;
  if (value === 'inf') return Infinity;
  if (value === '-inf') return -Infinity;
  return value as number;
}
function actualValues(t: Tensor): (number | bigint)[] {
  const values = Array.from(t.data as ArrayLike<number | bigint>);
  return t.dtype === 'float16' ? values.map((bits) => halfToNumber(bits as number)) : values;
}

/** An NPY file with a hand-written header dictionary, padded as numpy pads it. */
function npyFile(dict: string, data: Uint8Array = new Uint8Array(0), major = 1): Uint8Array {
  const prefix = major === 1 ? 10 : 12;
  const text = new TextEncoder().encode(`${dict}\n`);
  const out = new Uint8Array(prefix + text.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  out.set(text, prefix);
  out.set(data, prefix + text.length);
  return out;
}
const dictFor = (descr: string, shape: string, fortran = false) =>
  `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shape}, }`;

describe('NPY decode: files written by numpy', () => {
  it('has golden files for every dtype, byte order, memory order and format version', () => {
    const kinds = ['i2', 'i4', 'i8', 'u2', 'u4', 'u8', 'f2', 'f4', 'f8'];
    const names = [
      ...['b1', 'i1', 'u1'].flatMap((k) => [`${k}-na-c.npy`, `${k}-na-f.npy`]),
      ...kinds.flatMap((k) => ['le-c', 'le-f', 'be-c', 'be-f'].map((v) => `${k}-${v}.npy`)),
      ...['f4-v2.npy', 'f4-v3.npy', 'i8-be-v2.npy', 'u2-be-f-v3.npy'],
      ...['scalar-f8.npy', 'rank6-u2.npy', 'rank6-i4-be-fortran.npy', 'empty-0x3-f4.npy'],
    ];
    expect(Object.keys(manifest)).toEqual(expect.arrayContaining(names));
    expect(new Set(golden.map(([, e]) => e.dtype))).toEqual(new Set(FIXED));
  });

  it.each(golden)('%s: dtype, shape and every value', (name, expected) => {
    const t = decode(fixture(name));
    expect(t.dtype).toBe(expected.dtype);
    expect(t.shape).toEqual(expected.shape);
    expect(t.data).toBeInstanceOf(TYPED_ARRAY_BY_DTYPE[t.dtype as FixedDType]);
    const want = expected.values.map((v) => expectedValue(t.dtype, v));
    const got = actualValues(t);
    expect(got).toHaveLength(want.length);
    // Object.is tells -0 from 0 and matches NaN: floats must be exact, not close.
    got.forEach((value, i) => {
      expect(Object.is(value, want[i]), `${name}[${i}]: ${value} vs ${want[i]}`).toBe(true);
    });
  });

  it.each(golden.filter(([, e]) => e.canonical))('%s: re-encodes to np.save’s bytes', (name) => {
    const bytes = fixture(name);
    expect(Buffer.from(encode(decode(bytes)))).toEqual(Buffer.from(bytes));
  });

  it('turns big-endian Fortran-order files into the little-endian C-order bytes of np.save', () => {
    for (const kind of ['i2', 'i4', 'i8', 'u2', 'u4', 'u8', 'f2', 'f4', 'f8']) {
      const reordered = encode(decode(fixture(`${kind}-be-f.npy`)));
      expect(Buffer.from(reordered), kind).toEqual(Buffer.from(fixture(`${kind}-le-c.npy`)));
    }
  });

  it('reads any non-zero bool byte as 1, as numpy reads it as True', () => {
    const t = decode(npyFile(dictFor('|b1', '(4,)'), new Uint8Array([0, 1, 2, 255])));
    expect([...(t.data as Uint8Array)]).toEqual([0, 1, 1, 1]);
  });

  it("reads '=' as native (little-endian) order and one-byte types with any order mark", () => {
    const le = decode(npyFile(dictFor('=i2', '(2,)'), new Uint8Array([1, 0, 0, 1])));
    expect([...(le.data as Int16Array)]).toEqual([1, 256]);
    const i1 = decode(npyFile(dictFor('>i1', '(1,)'), new Uint8Array([0xff])));
    expect([...(i1.data as Int8Array)]).toEqual([-1]);
  });

  it('returns data in memory of its own, aligned, even from an unaligned body', () => {
    const file = fixture('f8-le-c.npy');
    const unaligned = new Uint8Array(file.length + 1).subarray(1);
    unaligned.set(file);
    const data = decode(unaligned).data as Float64Array;
    expect(data.byteOffset).toBe(0);
    expect(data.buffer).not.toBe(unaligned.buffer);
    expect(data[0]).toBe(Number.MAX_VALUE);
  });
});

describe('NPY decode: refusals', () => {
  it.each([
    ['refuse-object.npy', 'object arrays hold pickled Python objects and are refused'],
    ['refuse-structured.npy', 'structured (record) dtypes are not supported'],
    ['refuse-structured-v3.npy', 'structured (record) dtypes are not supported'],
    ['refuse-complex.npy', "dtype '<c8' is not supported"],
    ['refuse-unicode.npy', "dtype '<U2' is not supported"],
    ['refuse-datetime.npy', "dtype '<M8[D]' is not supported"],
  ])('%s: %s', (name, message) => {
    const error = errorOf(() => decode(fixture(name)));
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toContain(message);
  });

  it('names what is wrong with a damaged file', () => {
    const good = fixture('f4-le-c.npy');
    const withVersion = (major: number, minor: number) =>
      Uint8Array.from([...good.subarray(0, 6), major, minor, ...good.subarray(8)]);
    const cases: [Uint8Array, string][] = [
      [new TextEncoder().encode('not numpy at all'), 'must start with the bytes \\x93NUMPY'],
      [new Uint8Array(0), 'must start with the bytes \\x93NUMPY'],
      [good.subarray(0, good.length - 1), 'NPY data is truncated: shape [2, 3] of float32 needs'],
      [Uint8Array.from([...good, 0]), 'NPY file has 1 bytes after the array data'],
      [good.subarray(0, 40), 'truncated in its header'],
      [good.subarray(0, 11), 'truncated in its header'],
      [withVersion(4, 0), 'unsupported NPY format version 4.0'],
      [withVersion(1, 1), 'unsupported NPY format version 1.1'],
      [withVersion(0, 0), 'unsupported NPY format version 0.0'],
    ];
    for (const [body, message] of cases) {
      const error = errorOf(() => decode(body));
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.message).toContain(message);
    }
  });

  it('refuses an array larger than the decode limit before reading its data', () => {
    const body = npyFile(dictFor('<f8', '(100000, 100000)'), new Uint8Array(8));
    const error = errorOf(() => decode(body));
    expect(error.message).toBe(
      'NPY array [100000, 100000] of float64 would take 80000000000 bytes, over the 1073741824-byte limit',
    );
    expect(errorOf(() => decode(fixture('f8-le-c.npy'), 47)).message).toContain('47-byte limit');
    const huge = npyFile(dictFor('<u1', '(9007199254740991, 9007199254740991)'));
    expect(errorOf(() => decode(huge)).message).toContain('more than 2^53 bytes');
  });

  it.each([
    ["'shape' has a negative dimension -1", dictFor('<f4', '(-1,)')],
    ["expected ',' or ')' at offset 52", dictFor('<f4', '(1.5,)')],
    ["'shape' must be a tuple of integers", dictFor('<f4', '[1]')],
    ["'shape' must be a tuple of integers", dictFor('<f4', "('1',)")],
    ['99999999999999999999 is too large', dictFor('<f4', '(99999999999999999999,)')],
    ['unexpected "_"', "{'descr': __import__('os').system('true'), 'fortran_order': False}"],
    ["'fortran_order' must be True", "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }"],
    ["'descr' must be a dtype string", "{'descr': 4, 'fortran_order': False, 'shape': (1,), }"],
    [
      "keys must be 'descr', 'fortran_order' and 'shape', not 'descr', 'shape'",
      "{'descr': '<f4', 'shape': (1,)}",
    ],
    [
      "not 'descr', 'fortran_order', 'shape', 'x'",
      `${dictFor('<f4', '(1,)').slice(0, -1)}'x': 1, }`,
    ],
    ["key 'descr' appears twice", "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False}"],
    ["expected ',' or '}' at offset 16", "{'descr': '<f4' 'fortran_order': False, 'shape': (1,)}"],
    ['expected a string at offset 56', dictFor('<f4', '(1,)').slice(0, -2)],
    ['unexpected text at offset 58', `${dictFor('<f4', '(1,)')} x`],
    ['escapes in strings are not supported', "{'descr': 'a\\'b', 'fortran_order': False}"],
    ['nested deeper than 16 levels', `{'descr': ${'['.repeat(60_000)}`],
    ["expected '{' at offset 0", '[1, 2]'],
    ["expected '{' at offset 1", ''],
  ])('refuses a bad header: %s', (message, dict) => {
    const error = errorOf(() => decode(npyFile(dict, new Uint8Array(4))));
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toContain(message);
  });

  it('refuses a format 3.0 header that is not utf-8', () => {
    const body = npyFile(dictFor('<u1', '(1,)'), new Uint8Array(1), 3);
    body[13] = 0xff; // inside 'descr'
    expect(errorOf(() => decode(body)).message).toBe('NPY 3.0 header is not valid UTF-8');
  });
});

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
const anyTensor = fc.constantFrom(...FIXED).chain((dtype) => tensorOf(dtype));
function sampleOf(dtype: FixedDType, shape: number[]): Tensor {
  const [t] = fc.sample(tensorOf(dtype, fc.constant(shape)), { numRuns: 1, seed: 7 });
  if (t === undefined) throw new Error('fast-check gave no sample');
  return t;
}

describe('NPY encode', () => {
  it('is the codec for application/x-npy, for one tensor that is not strings', () => {
    expect(npyCodec.mediaType).toBe('application/x-npy');
    expect(npyCodec.matches(mediaType('Application/X-NPY; v=1'))).toBe(true);
    expect(npyCodec.matches(mediaType('application/x-npz'))).toBe(false);
    const t = createTensor('float32', [1], new Float32Array([1]));
    expect(npyCodec.canEncode(t)).toBe(true);
    expect(npyCodec.canEncode(createTensor('string', [1], ['a']))).toBe(false);
    expect(npyCodec.canEncode({ t })).toBe(false);
  });

  it("writes numpy's header: sorted keys, python's tuple repr, growth spaces, 64-byte padding", () => {
    const header = (shape: number[]) => {
      const bytes = encode(createTensor('uint8', shape, new Uint8Array(elementCount(shape))));
      const length = (bytes[8] ?? 0) + 256 * (bytes[9] ?? 0);
      expect((10 + length) % 64).toBe(0);
      return String.fromCharCode(...bytes.subarray(10, 10 + length));
    };
    const pad = (dict: string) => `${dict}${' '.repeat(63 - ((10 + dict.length) % 64))}\n`;
    const dict = "{'descr': '|u1', 'fortran_order': False, 'shape': ";
    expect(header([])).toBe(pad(`${dict}(), }`));
    expect(header([3])).toBe(pad(`${dict}(3,), }${' '.repeat(20)}`));
    expect(header([2, 0])).toBe(pad(`${dict}(2, 0), }${' '.repeat(20)}`));
    expect(header([123456, 0])).toBe(pad(`${dict}(123456, 0), }${' '.repeat(15)}`));
  });

  it('moves to format 2.0 only when the header no longer fits in 64 KiB', () => {
    // Rank 21,000 of ones: a header of about 63 KiB, then one of about 66 KiB.
    for (const [rank, major] of [
      [21_000, 1],
      [22_000, 2],
    ] as const) {
      const t = createTensor('int8', new Array<number>(rank).fill(1), new Int8Array([7]));
      const bytes = encode(t);
      expect(bytes[6]).toBe(major);
      expect((bytes.length - 1) % 64).toBe(0);
      expect(decode(bytes)).toEqual(t);
    }
  });

  const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
  const LOAD_WITH_NUMPY = `
import io, json, os, sys, numpy as np
out = {}
for f in sorted(os.listdir(sys.argv[1])):
    raw = open(os.path.join(sys.argv[1], f), "rb").read()
    a = np.load(io.BytesIO(raw), allow_pickle=False)
    saved = io.BytesIO()
    np.save(saved, a)
    values = [str(int(x)) if a.dtype.kind in "iub" else repr(float(x)) for x in a.flatten().tolist()]
    out[f[:-4]] = {"dtype": a.dtype.name, "shape": list(a.shape), "values": values,
                   "hex": a.tobytes().hex(), "sameAsNpSave": saved.getvalue() == raw}
print(json.dumps(out))`;

  it.skipIf(!hasNumpy)('writes files numpy loads, byte-identical to np.save', () => {
    const samples: Record<string, Tensor> = {
      bool: createTensor('bool', [3], new Uint8Array([1, 0, 1])),
      int8: createTensor('int8', [2, 2], new Int8Array([-128, 127, 0, -1])),
      uint16: createTensor('uint16', [1, 3], new Uint16Array([0, 1, 65535])),
      int64: createTensor('int64', [2], new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n])),
      uint64: createTensor('uint64', [1], new BigUint64Array([2n ** 64n - 1n])),
      float16: createTensor('float16', [3], new Uint16Array([0x3c00, 0x7bff, 0x8001])),
      float32: createTensor('float32', [2, 1, 2], new Float32Array([0.1, -0, NaN, -Infinity])),
      float64: createTensor('float64', [], new Float64Array([Math.PI])),
      empty: createTensor('int32', [0, 5], new Int32Array(0)),
    };
    const expected: Record<string, string[]> = {
      bool: ['1', '0', '1'],
      int8: ['-128', '127', '0', '-1'],
      uint16: ['0', '1', '65535'],
      int64: ['-9223372036854775808', '9223372036854775807'],
      uint64: ['18446744073709551615'],
      float16: ['1.0', '65504.0', '-5.960464477539063e-08'],
      float32: ['0.10000000149011612', '-0.0', 'nan', '-inf'],
      float64: ['3.141592653589793'],
      empty: [],
    };
    // And random bytes of every dtype, compared byte for byte.
    for (const dtype of FIXED) samples[`random-${dtype}`] = sampleOf(dtype, [3, 4]);
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-npy-'));
    try {
      for (const [name, t] of Object.entries(samples)) {
        writeFileSync(join(dir, `${name}.npy`), encode(t));
      }
      const run = spawnSync('python3', ['-c', LOAD_WITH_NUMPY, dir], { encoding: 'utf8' });
      expect(run.stderr).toBe('');
      const loaded = JSON.parse(run.stdout) as Record<string, Record<string, unknown>>;
      for (const [name, t] of Object.entries(samples)) {
        const got = loaded[name];
        const hex = Buffer.from(bytesOf(t)).toString('hex');
        expect(got, name).toMatchObject({
          dtype: t.dtype,
          shape: t.shape,
          hex,
          sameAsNpSave: true,
        });
        if (name in expected) expect(got?.['values'], name).toEqual(expected[name]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const KIND_BY_DTYPE: Record<FixedDType, string> = {
  bool: 'b',
  ...{ int8: 'i', int16: 'i', int32: 'i', int64: 'i' },
  ...{ uint8: 'u', uint16: 'u', uint32: 'u', uint64: 'u' },
  ...{ float16: 'f', float32: 'f', float64: 'f' },
};

/** The same tensor as a file in another byte order and memory order, written by hand. */
function reordered(t: Tensor, bigEndian: boolean, fortran: boolean): Uint8Array {
  const size = TYPED_ARRAY_BY_DTYPE[t.dtype as FixedDType].BYTES_PER_ELEMENT;
  const src = bytesOf(t);
  const out = new Uint8Array(src.length);
  const count = src.length / size;
  for (let c = 0; c < count; c++) {
    // Split the C index into a multi-index, then rebuild it with the first axis fastest.
    let rest = c;
    let f = 0;
    let stride = 1;
    const index = t.shape.map(() => 0);
    for (let axis = t.shape.length - 1; axis >= 0; axis--) {
      const dim = t.shape[axis] ?? 1;
      index[axis] = rest % dim;
      rest = Math.floor(rest / dim);
    }
    t.shape.forEach((dim, axis) => {
      f += (index[axis] ?? 0) * stride;
      stride *= dim;
    });
    const target = fortran ? f : c;
    for (let b = 0; b < size; b++) {
      out[target * size + (bigEndian ? size - 1 - b : b)] = src[c * size + b] ?? 0;
    }
  }
  const order = size === 1 ? '|' : bigEndian ? '>' : '<';
  const kind = `${KIND_BY_DTYPE[t.dtype as FixedDType]}${size}`;
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  return npyFile(dictFor(`${order}${kind}`, shape, fortran), out);
}

describe('NPY properties', () => {
  it('decode(encode(t)) gives t back byte for byte, for every fixed-width dtype', () => {
    fc.assert(
      fc.property(anyTensor, (t) => {
        const back = decode(encode(t));
        expect(back.dtype).toBe(t.dtype);
        expect(back.shape).toEqual(t.shape);
        expect(back.data.constructor).toBe(t.data.constructor);
        expect(Buffer.from(bytesOf(back))).toEqual(Buffer.from(bytesOf(t)));
      }),
      { numRuns: 1000 },
    );
  });

  it('reads every byte order and memory order of a tensor as the same tensor', () => {
    fc.assert(
      fc.property(anyTensor, fc.boolean(), fc.boolean(), (t, bigEndian, fortran) => {
        const back = decode(reordered(t, bigEndian, fortran));
        expect(back.shape).toEqual(t.shape);
        expect(Buffer.from(bytesOf(back))).toEqual(Buffer.from(bytesOf(t)));
      }),
      { numRuns: 1000 },
    );
  });

  it('throws only InferenceErrors for arbitrary bytes, with or without a valid prefix', () => {
    const prefix = fc.constantFrom(
      [],
      [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59],
      [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0],
      [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0],
      [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 3, 0],
    );
    fc.assert(
      fc.property(prefix, fc.uint8Array({ maxLength: 300 }), (head, rest) =>
        throwsOnlyInferenceErrors(() => decode(Uint8Array.from([...head, ...rest]))),
      ),
      { numRuns: 3000 },
    );
  });

  it('throws only InferenceErrors for header-like text', () => {
    const token = fc.constantFrom(
      ...["{'descr': ", "'<f4'", "'|b1'", "'>i8'", "'|O'", "'fortran_order': ", 'True', 'False'],
      ...["'shape': ", '(', ')', '[', ']', '{', '}', ',', ', ', '2', '-3', '0L', ' ', '"', "'"],
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 30 }), fc.uint8Array({ maxLength: 64 }), (t, d) =>
        throwsOnlyInferenceErrors(() => decode(npyFile(t.join(''), d))),
      ),
      { numRuns: 3000 },
    );
  });

  it('throws only InferenceErrors for damaged valid files (byte flips and truncations)', () => {
    const files = ['i8-le-c.npy', 'f2-be-f.npy', 'f4-v3.npy', 'rank6-u2.npy'].map(fixture);
    fc.assert(
      fc.property(
        fc.constantFrom(...files),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.nat(),
        (good, flips, cut) => {
          const body = Uint8Array.from(good.subarray(0, cut % (good.length + 1)));
          for (const [at, byte] of flips) if (body.length > 0) body[at % body.length] = byte;
          return throwsOnlyInferenceErrors(() => decode(body));
        },
      ),
      { numRuns: 3000 },
    );
  });
});
