import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DTYPES, TYPED_ARRAY_BY_DTYPE, type DType } from '../tensor/dtype.js';
import { createTensor, isTensor, type Tensor } from '../tensor/tensor.js';
import type { MediaType } from '../media-type/parse.js';
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
    expect(errorOf(() => decodeCsv('1,2\r\n  \r\n3,4')).details).toEqual({ line: 2 });
    const withHeader = mediaType('text/csv; header=present');
    expect(errorOf(() => decodeCsv('', undefined, withHeader)).message).toBe('CSV body is empty');
    expect(errorOf(() => decodeCsv('a,b\n\n', undefined, withHeader)).message).toBe(
      'CSV body has a header line but no rows',
    );
  });

  it('counts lines from the top of the body, header included, for errors', () => {
    const withHeader = mediaType('text/csv; header=PRESENT');
    const error = errorOf(() => decodeCsv('x,y\n1,2\n3,abc\n', undefined, withHeader));
    expect(error.message).toBe(
      'CSV line 3, column 2: "abc" is not a valid float32 (expected a number, got the string "abc")',
    );
    expect(error.details).toEqual({ line: 3, column: 2 });
    expect(decodeCsv('1,2', undefined, mediaType('text/csv; header=absent')).shape).toEqual([1, 2]);
  });

  it.each([
    ['1,2\n3,"4', 2, 2, '"\\"4"'],
    ['1,2e', 1, 2, '"2e"'],
    ['0x10', 1, 1, '"0x10"'],
    ['1, infinite ', 1, 2, '"infinite"'],
    ['constructor', 1, 1, '"constructor"'],
    ['1,2,3\n4,  ,6', 2, 2, '""'],
  ])('%j → 400 at line %i, column %i', (text, line, column, cell) => {
    const error = errorOf(() => decodeCsv(text));
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toContain(`CSV line ${line}, column ${column}: ${cell} is not a valid`);
    expect(error.details).toEqual({ line, column });
  });

  it('reads spellings of NaN and infinity case-insensitively for floats only', () => {
    const t = decodeCsv('NaN,INF,-inf,+Infinity,"nan"');
    expect([...(t.data as Float32Array)]).toEqual([NaN, Infinity, -Infinity, Infinity, NaN]);
    expect(errorOf(() => decodeCsv('nan', 'int32')).details).toEqual({ line: 1, column: 1 });
    expect(errorOf(() => decodeCsv('inf', 'int64')).details).toEqual({ line: 1, column: 1 });
  });

  it('respects maxDecodedBytes', () => {
    const body = new TextEncoder().encode('1,2\n3,4\n');
    const at = (maxDecodedBytes: number, dtype?: DType) =>
      csvCodec.decode(body, CSV, { dtype, maxDecodedBytes });
    expect(isTensor(at(16))).toBe(true);
    expect(errorOf(() => at(15)).message).toBe('CSV of 2 × 2 values is over the 15-byte limit');
    expect(errorOf(() => at(16, 'float64')).code).toBe('INVALID_INPUT');
    expect(isTensor(at(4, 'uint8'))).toBe(true);
    // A wide first line over many one-cell lines claims more cells than the body has bytes.
    const claim = new TextEncoder().encode(`${'1,'.repeat(4999)}1\n${'1\n'.repeat(5000)}`);
    const error = errorOf(() =>
      csvCodec.decode(claim, CSV, { dtype: 'uint8', maxDecodedBytes: 2 ** 30 }),
    );
    expect(error.message).toBe('CSV line 2 has 1 columns, expected 5000 (as on line 1)');
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

  it('reads 64-bit integers exactly from their digits, and integral decimals up to 2^53', () => {
    expect([...(decodeCsv('18446744073709551615,"0"', 'uint64').data as BigUint64Array)]).toEqual([
      2n ** 64n - 1n,
      0n,
    ]);
    expect([...(decodeCsv('1e3,-2.0,+7', 'int64').data as BigInt64Array)]).toEqual([
      1000n,
      -2n,
      7n,
    ]);
    expect(errorOf(() => decodeCsv('1,1e20', 'int64')).message).toBe(
      'CSV line 1, column 2: "1e20" is not a valid int64 (1e20 is not exact beyond ±2^53: write int64 values this large as integer digits)',
    );
    expect(errorOf(() => decodeCsv('1.5', 'int64')).message).toContain('expected an integer');
    expect(errorOf(() => decodeCsv('-1', 'uint64')).message).toContain(
      '-1 is outside the uint64 range [0, 18446744073709551615]',
    );
    expect(errorOf(() => decodeCsv('1.5', 'int16')).message).toContain('1.5 is not an integer');
  });

  it('reads bools as true/false/1/0 in any case, and refuses the string dtype', () => {
    expect([...(decodeCsv('TRUE,False, 1 ,"0"', 'bool').data as Uint8Array)]).toEqual([1, 0, 1, 0]);
    expect(errorOf(() => decodeCsv('2', 'bool')).message).toContain('expected true, false, 1 or 0');
    expect(errorOf(() => decodeCsv('a', 'string')).message).toBe(
      'CSV holds numbers only; strings are not supported',
    );
  });

  it('refuses a charset other than UTF-8 with 415', () => {
    const error = errorOf(() =>
      csvCodec.decode(new Uint8Array([0x31]), mediaType('text/csv; charset=utf-16'), {
        dtype: undefined,
        maxDecodedBytes: 10,
      }),
    );
    expect(error.status).toBe(415);
    expect(error.message).toContain('charset=utf-16');
    const utf8 = mediaType('text/csv; charset="UTF-8"; header=absent');
    expect(
      csvCodec.decode(new Uint8Array([0x31]), utf8, { dtype: undefined, maxDecodedBytes: 4 }),
    ).toMatchObject({ shape: [1, 1] });
    expect(csvCodec.matches(mediaType('Text/CSV'))).toBe(true);
    expect(csvCodec.matches(mediaType('text/plain'))).toBe(false);
  });

  it('refuses invalid UTF-8 and skips a byte order mark', () => {
    const opts = { dtype: undefined, maxDecodedBytes: 64 };
    expect(errorOf(() => csvCodec.decode(new Uint8Array([0x31, 0xff]), CSV, opts)).message).toBe(
      'CSV body is not valid UTF-8',
    );
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, 0x31, 0x2c, 0x32]);
    expect(csvCodec.decode(bom, CSV, opts)).toMatchObject({ shape: [1, 2] });
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

  it('writes floats as their shortest exact text, bools as 1/0, and reads them back', () => {
    const floats = createTensor('float32', [1, 4], new Float32Array([1 / 3, -0, Infinity, -1e-45]));
    expect(encodeCsv(floats)).toBe('0.33333334,-0,inf,-1e-45\n');
    const bools = createTensor('bool', [2, 2], new Uint8Array([1, 0, 0, 1]));
    expect(encodeCsv(bools)).toBe('1,0\n0,1\n');
    expect([...(decodeCsv(encodeCsv(bools), 'bool').data as Uint8Array)]).toEqual([1, 0, 0, 1]);
    const big = createTensor('int64', [2], new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]));
    expect(encodeCsv(big)).toBe('-9223372036854775808\n9223372036854775807\n');
    // A 1-D output comes back as one column, one prediction per row.
    expect(decodeCsv(encodeCsv(big), 'int64')).toMatchObject({ shape: [2, 1] });
  });

  it('refuses to write what canEncode turned down', () => {
    const cube = createTensor('float32', [1, 1, 1], new Float32Array(1));
    expect(errorOf(() => csvCodec.encode(cube, CSV)).code).toBe('INTERNAL');
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
    expect(csvCodec.canEncode({ a: pair.a })).toBe(true);
    expect(csvCodec.canEncode(createTensor('uint64', [], new BigUint64Array(1)))).toBe(true);
    expect(csvCodec.canEncode(createTensor('float16', [0], new Uint16Array(0)))).toBe(true);
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

  it('arbitrary bytes and strings throw only InferenceError, for any dtype and header', () => {
    const typeArb = fc.constantFrom(CSV, mediaType('text/csv; header=present'));
    const dtypeArb = fc.option(fc.constantFrom(...DTYPES), { nil: undefined });
    const only = (body: Uint8Array, type: MediaType, dtype: DType | undefined): boolean =>
      throwsOnlyInferenceErrors(() =>
        csvCodec.decode(body, type, { dtype, maxDecodedBytes: 1 << 20 }),
      );
    const text = (arb: fc.Arbitrary<string>) => arb.map((t) => new TextEncoder().encode(t));
    const cells = fc.constantFrom(
      '1',
      '.',
      ',',
      '\n',
      '\r',
      '"',
      ' ',
      'e',
      '-',
      'x',
      'nan',
      'true',
    );
    for (const bodies of [
      fc.uint8Array({ maxLength: 256 }),
      text(fc.string()),
      text(fc.string({ unit: cells })),
    ]) {
      fc.assert(fc.property(bodies, typeArb, dtypeArb, only), { numRuns: 1000 });
    }
  });
});
