import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DTYPES, TYPED_ARRAY_BY_DTYPE, type DType } from '../tensor/dtype.js';
import { createTensor, isTensor, type Tensor } from '../tensor/tensor.js';
import type { Decoded } from './codec.js';
import { csvCodec } from './csv.js';
import { errorOf, mediaType, throwsOnlyInferenceErrors } from '../../test/helpers.js';

const CSV = mediaType('text/csv');

function decodeCsv(text: string, dtype?: DType, mediaType = CSV): Tensor {
  const value = csvCodec.decode(new TextEncoder().encode(text), mediaType, {
    dtype,
    maxDecodedBytes: 1 << 30,
  });
  if (!isTensor(value)) throw new Error('expected a tensor');
  return value;
}
const encodeCsv = (value: Decoded) => new TextDecoder().decode(csvCodec.encode(value, CSV));

describe('CSV decode', () => {
  it('reads rows and columns as a 2-D float32 tensor', () => {
    const t = decodeCsv('1,2,3\n4.5,-6,7e1\n');
    expect(t).toMatchObject({ dtype: 'float32', shape: [2, 3] });
    expect([...(t.data as Float32Array)]).toEqual([1, 2, 3, 4.5, -6, 70]);
  });

  it('keeps a single line 2-D: one row', () => {
    expect(decodeCsv('5.1,3.5,1.4,0.2').shape).toEqual([1, 4]);
    expect(decodeCsv('7').shape).toEqual([1, 1]);
  });

  it('accepts CRLF, spaces around cells, quoted numbers and trailing blank lines', () => {
    const t = decodeCsv(' 1 , "2"\r\n3,4\r\n\r\n\n');
    expect(t.shape).toEqual([2, 2]);
    expect([...(t.data as Float32Array)]).toEqual([1, 2, 3, 4]);
  });

  it('skips a header line only when the media type says header=present', () => {
    const withHeader = mediaType('text/csv; header=present');
    expect(decodeCsv('a,b\n1,2\n', undefined, withHeader).shape).toEqual([1, 2]);
    expect(errorOf(() => decodeCsv('a,b\n1,2\n')).message).toBe(
      'CSV line 1, column 1: "a" is not a valid float32 (expected a number, got the string "a")',
    );
  });

  it('names the line and column of a bad cell', () => {
    const error = errorOf(() => decodeCsv('1,2,3\n4,five,6\n'));
    expect(error.status).toBe(400);
    expect(error.message).toContain('CSV line 2, column 2: "five"');
    expect(error.details).toEqual({ line: 2, column: 2 });
    expect(errorOf(() => decodeCsv('1,,3')).message).toContain(
      'line 1, column 2: "" is not a valid float32 (empty cell)',
    );
  });

  it('refuses a ragged row, naming its line and both column counts', () => {
    const error = errorOf(() => decodeCsv('1,2,3\n4,5\n'));
    expect(error.message).toBe('CSV line 2 has 2 columns, expected 3 (as on line 1)');
    expect(error.details).toMatchObject({ line: 2, columns: 2, expected: 3 });
  });

  it('refuses empty bodies and blank lines inside the data', () => {
    expect(errorOf(() => decodeCsv('')).message).toBe('CSV body is empty');
    expect(errorOf(() => decodeCsv('\n\n')).message).toBe('CSV body is empty');
    expect(errorOf(() => decodeCsv('1,2\n\n3,4\n')).message).toBe('CSV line 2 is empty');
  });

  it('casts to a requested dtype: exact int64, bool, range checks', () => {
    expect([
      ...(decodeCsv('9223372036854775807,-9223372036854775808', 'int64').data as BigInt64Array),
    ]).toEqual([2n ** 63n - 1n, -(2n ** 63n)]);
    expect(errorOf(() => decodeCsv('9223372036854775808', 'int64')).message).toContain(
      'outside the int64 range',
    );
    expect([...(decodeCsv('true,false,1,0', 'bool').data as Uint8Array)]).toEqual([1, 0, 1, 0]);
    expect(errorOf(() => decodeCsv('256', 'uint8')).message).toContain(
      '256 is outside the uint8 range',
    );
    expect([...(decodeCsv('nan,inf,-Inf', 'float64').data as Float64Array)]).toEqual([
      NaN,
      Infinity,
      -Infinity,
    ]);
  });

  it('refuses a charset other than UTF-8 with 415', () => {
    const error = errorOf(() =>
      csvCodec.decode(new Uint8Array([0x31]), mediaType('text/csv; charset=utf-16'), {
        dtype: undefined,
        maxDecodedBytes: 10,
      }),
    );
    expect(error.status).toBe(415);
  });
});

describe('CSV encode', () => {
  it('writes one line per row, and one value per line for a 1-D output', () => {
    expect(encodeCsv(createTensor('float32', [2, 2], new Float32Array([0.1, 2, 3, 4])))).toBe(
      '0.1,2\n3,4\n',
    );
    expect(encodeCsv(createTensor('int32', [3], new Int32Array([1, 0, 2])))).toBe('1\n0\n2\n');
    expect(encodeCsv(createTensor('float64', [], new Float64Array([NaN])))).toBe('nan\n');
    expect(encodeCsv({ only: createTensor('bool', [1, 2], new Uint8Array([1, 0])) })).toBe('1,0\n');
  });

  it('offers itself only for values CSV can hold', () => {
    expect(csvCodec.canEncode(createTensor('float32', [1, 1, 1], new Float32Array(1)))).toBe(false);
    expect(csvCodec.canEncode(createTensor('float32', [2, 0], new Float32Array(0)))).toBe(false);
    expect(csvCodec.canEncode(createTensor('string', [1], ['a']))).toBe(false);
    const pair = {
      a: createTensor('float32', [1], new Float32Array(1)),
      b: createTensor('float32', [1], new Float32Array(1)),
    };
    expect(csvCodec.canEncode(pair)).toBe(false);
  });
});

// CSV holds numbers (and bools as 1/0), never strings.
const CSV_DTYPES = DTYPES.filter((d): d is Exclude<DType, 'string'> => d !== 'string');

describe('CSV properties', () => {
  it.each(CSV_DTYPES)('decode(encode(t)) equals t for 2-D %s tensors', (dtype) => {
    const Ctor = TYPED_ARRAY_BY_DTYPE[dtype];
    const arb = fc
      .tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }))
      .chain(([rows, cols]) =>
        fc
          .uint8Array({
            minLength: rows * cols * Ctor.BYTES_PER_ELEMENT,
            maxLength: rows * cols * Ctor.BYTES_PER_ELEMENT,
          })
          .map((raw) => {
            const data = new Ctor(raw.buffer, 0, rows * cols);
            if (dtype === 'bool') (data as Uint8Array).forEach((v, i, all) => (all[i] = v & 1));
            return createTensor(dtype, [rows, cols], data);
          }),
      );
    fc.assert(
      fc.property(arb, (t) => {
        const back = decodeCsv(encodeCsv(t), dtype);
        expect(back.shape).toEqual(t.shape);
        const a = Array.from(t.data as ArrayLike<unknown>);
        const b = Array.from(back.data as ArrayLike<unknown>);
        // float16 NaN payloads differ; NaN must stay NaN.
        return a.every((v, i) =>
          dtype === 'float16' &&
          ((v as number) & 0x7c00) === 0x7c00 &&
          ((v as number) & 0x3ff) !== 0
            ? ((b[i] as number) & 0x7c00) === 0x7c00 && ((b[i] as number) & 0x3ff) !== 0
            : dtype === 'float32' || dtype === 'float64'
              ? Object.is(v, b[i]) || (Number.isNaN(v) && Number.isNaN(b[i]))
              : v === b[i],
        );
      }),
      { numRuns: 150 },
    );
  });

  it('arbitrary bytes and strings throw only InferenceError', () => {
    const only = (body: Uint8Array): boolean =>
      throwsOnlyInferenceErrors(() =>
        csvCodec.decode(body, CSV, { dtype: undefined, maxDecodedBytes: 1 << 20 }),
      );
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), only), { numRuns: 1500 });
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom('1', '.', ',', '\n', '\r', '"', ' ', 'e', '-', 'x') }),
        (s) => only(new TextEncoder().encode(s)),
      ),
      { numRuns: 1500 },
    );
  });
});
