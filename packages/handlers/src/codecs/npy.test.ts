import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { halfToNumber } from '../tensor/float16.js';
import { createTensor, type Tensor } from '../tensor/tensor.js';
import { errorOf, throwsOnlyInferenceErrors } from '../../test/helpers.js';
import { decodeNpy, encodeNpy } from './npy.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
const LIMIT = 1 << 30;

interface Expected {
  dtype: string;
  shape: number[];
  values: (number | string)[];
  numpyWroteLittleEndianC: boolean;
}
const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as Record<
  string,
  Expected
>;
const golden = Object.entries(manifest).filter(([name]) => name.endsWith('.npy'));
const fixture = (name: string) => readFileSync(join(FIXTURES, 'npy', name));

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

describe('NPY decode: files written by numpy', () => {
  it('covers every dtype, both byte orders, both memory orders and formats 1.0-3.0', () => {
    expect(golden.length).toBeGreaterThanOrEqual(45);
    expect(readdirSync(join(FIXTURES, 'npy')).filter((f) => f.startsWith('refuse-'))).toHaveLength(
      4,
    );
  });

  it.each(golden)('%s: dtype, shape and every value', (name, expected) => {
    const t = decodeNpy(fixture(name), LIMIT);
    expect(t.dtype).toBe(expected.dtype);
    expect(t.shape).toEqual(expected.shape);
    const want = expected.values.map((v) => expectedValue(t.dtype, v));
    const got = actualValues(t);
    expect(got).toHaveLength(want.length);
    // Object.is tells -0 from 0 and matches NaN; floats must be exact, not close.
    got.forEach((value, i) => {
      expect(
        Object.is(value, want[i]),
        `${name}[${i}]: ${String(value)} vs ${String(want[i])}`,
      ).toBe(true);
    });
  });

  it.each(golden.filter(([, e]) => e.numpyWroteLittleEndianC))(
    '%s: re-encodes to the very bytes np.save wrote',
    (name) => {
      const bytes = fixture(name);
      expect(Buffer.from(encodeNpy(decodeNpy(bytes, LIMIT)))).toEqual(bytes);
    },
  );

  it('turns big-endian Fortran-order files into the little-endian C-order bytes numpy writes', () => {
    for (const kind of ['i2', 'i4', 'i8', 'u2', 'u4', 'u8', 'f2', 'f4', 'f8']) {
      const reordered = encodeNpy(decodeNpy(fixture(`${kind}-be-f.npy`), LIMIT));
      expect(Buffer.from(reordered), kind).toEqual(fixture(`${kind}-le-c.npy`));
    }
  });
});

describe('NPY decode: refusals', () => {
  it('refuses pickled object arrays without unpickling them', () => {
    const error = errorOf(() => decodeNpy(fixture('refuse-object.npy'), LIMIT));
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toContain('object arrays hold pickled Python objects and are refused');
  });

  it.each([
    ['refuse-structured.npy', 'structured (record) dtypes are not supported'],
    ['refuse-complex.npy', "dtype '<c8' is not supported"],
    ['refuse-unicode.npy', "dtype '<U2' is not supported"],
  ])('%s: %s', (name, message) => {
    const error = errorOf(() => decodeNpy(fixture(name), LIMIT));
    expect(error.status).toBe(400);
    expect(error.message).toContain(message);
  });

  it('names what is wrong with a damaged file', () => {
    const good = fixture('f4-le-c.npy');
    const cases: [Uint8Array, string][] = [
      [new TextEncoder().encode('not numpy at all'), 'must start with the bytes \\x93NUMPY'],
      [good.subarray(0, good.length - 1), 'NPY data is truncated'],
      [Buffer.concat([good, Buffer.from([0])]), 'NPY file has 1 bytes after the array data'],
      [good.subarray(0, 40), 'truncated in its header'],
      [
        Buffer.concat([good.subarray(0, 6), Buffer.from([4, 0]), good.subarray(8)]),
        'format version 4.0',
      ],
    ];
    for (const [body, message] of cases) {
      expect(errorOf(() => decodeNpy(body, LIMIT)).message).toContain(message);
    }
  });

  it('refuses an array larger than the decode limit before allocating it', () => {
    const header = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000), }";
    const body = npyWithHeader(header, new Uint8Array(8));
    expect(errorOf(() => decodeNpy(body, LIMIT)).message).toContain(
      'over the 1073741824-byte limit',
    );
  });

  it('parses the header strictly and never evaluates it', () => {
    for (const header of [
      "{'descr': __import__('os').system('true'), 'fortran_order': False, 'shape': (1,), }",
      "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1,) ",
    ]) {
      expect(errorOf(() => decodeNpy(npyWithHeader(header, new Uint8Array(4)), LIMIT)).code).toBe(
        'INVALID_INPUT',
      );
    }
  });
});

function npyWithHeader(header: string, data: Uint8Array): Uint8Array {
  const text = `${header}\n`;
  const out = new Uint8Array(10 + text.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, text.length & 0xff, text.length >> 8]);
  out.set(new TextEncoder().encode(text), 10);
  out.set(data, 10 + text.length);
  return out;
}

const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

describe('NPY encode', () => {
  it.skipIf(!hasNumpy)('writes files numpy loads with the same dtype, shape and values', () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-npy-'));
    try {
      const tensors: Record<string, Tensor> = {
        bool: createTensor('bool', [3], new Uint8Array([1, 0, 1])),
        int8: createTensor('int8', [2, 2], new Int8Array([-128, 127, 0, -1])),
        uint16: createTensor('uint16', [1, 3], new Uint16Array([0, 1, 65535])),
        int64: createTensor('int64', [2], new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n])),
        uint64: createTensor('uint64', [1], new BigUint64Array([2n ** 64n - 1n])),
        float16: createTensor('float16', [2], new Uint16Array([0x3c00, 0x7bff])),
        float32: createTensor('float32', [2, 1, 2], new Float32Array([0.1, -0, NaN, Infinity])),
        float64: createTensor('float64', [], new Float64Array([Math.PI])),
        empty: createTensor('int32', [0, 5], new Int32Array(0)),
      };
      for (const [name, t] of Object.entries(tensors))
        writeFileSync(join(dir, `${name}.npy`), encodeNpy(t));
      const script = `
import json, sys, os, numpy as np
out = {}
for f in sorted(os.listdir(sys.argv[1])):
    a = np.load(os.path.join(sys.argv[1], f), allow_pickle=False)
    out[f[:-4]] = {"dtype": str(a.dtype), "shape": list(a.shape), "values": [repr(x) for x in a.flatten().tolist()]}
print(json.dumps(out))`;
      const run = spawnSync('python3', ['-c', script, dir], { encoding: 'utf8' });
      expect(run.stderr).toBe('');
      expect(JSON.parse(run.stdout)).toEqual({
        bool: { dtype: 'bool', shape: [3], values: ['True', 'False', 'True'] },
        int8: { dtype: 'int8', shape: [2, 2], values: ['-128', '127', '0', '-1'] },
        uint16: { dtype: 'uint16', shape: [1, 3], values: ['0', '1', '65535'] },
        int64: {
          dtype: 'int64',
          shape: [2],
          values: ['-9223372036854775808', '9223372036854775807'],
        },
        uint64: { dtype: 'uint64', shape: [1], values: ['18446744073709551615'] },
        float16: { dtype: 'float16', shape: [2], values: ['1.0', '65504.0'] },
        float32: {
          dtype: 'float32',
          shape: [2, 1, 2],
          values: ['0.10000000149011612', '-0.0', 'nan', 'inf'],
        },
        float64: { dtype: 'float64', shape: [], values: ['3.141592653589793'] },
        empty: { dtype: 'int32', shape: [0, 5], values: [] },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('survives random damage to a valid file with InferenceErrors only', () => {
    const good = fixture('i8-le-c.npy');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), {
          maxLength: 4,
        }),
        fc.nat(good.length),
        (flips, cut) => {
          const body = Uint8Array.from(good.subarray(0, cut));
          for (const [at, byte] of flips) if (at < body.length) body[at] = byte;
          return throwsOnlyInferenceErrors(() => decodeNpy(body, LIMIT));
        },
      ),
      { numRuns: 3000 },
    );
  });
});
