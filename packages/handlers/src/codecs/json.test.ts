import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DTYPES, TYPED_ARRAY_BY_DTYPE, type DType } from '../tensor/dtype.js';
import { halfToNumber, numberToHalf } from '../tensor/float16.js';
import { createTensor, isTensor, type Tensor } from '../tensor/tensor.js';
import type { Decoded } from './codec.js';
import { jsonCodec } from './json.js';
import { errorOf, mediaType, throwsOnlyInferenceErrors } from '../../test/helpers.js';

const JSON_TYPE = mediaType('application/json; charset=utf-8');

function decodeJson(text: string, dtype?: DType): Decoded {
  return jsonCodec.decode(new TextEncoder().encode(text), JSON_TYPE, {
    dtype,
    maxDecodedBytes: 1 << 30,
  });
}
const tensor = (text: string, dtype?: DType): Tensor => {
  const value = decodeJson(text, dtype);
  if (!isTensor(value)) throw new Error('expected one tensor');
  return value;
};
const encodeJson = (value: Decoded) => new TextDecoder().decode(jsonCodec.encode(value, JSON_TYPE));

describe('JSON decode', () => {
  it('reads nested rectangular arrays as float32 with their shape', () => {
    const t = tensor('[[1, 2.5, -3], [4e2, 0, 6]]');
    expect(t.dtype).toBe('float32');
    expect(t.shape).toEqual([2, 3]);
    expect([...(t.data as Float32Array)]).toEqual([1, 2.5, -3, 400, 0, 6]);
  });

  it('reads scalars and empty arrays', () => {
    expect(tensor('3.5')).toMatchObject({ shape: [], dtype: 'float32' });
    expect(tensor('true')).toMatchObject({ shape: [], dtype: 'bool' });
    expect(tensor('[]').shape).toEqual([0]);
    expect(tensor('[[], []]').shape).toEqual([2, 0]);
  });

  it('reads booleans as bool', () => {
    const t = tensor('[true, false, true]');
    expect(t.dtype).toBe('bool');
    expect([...(t.data as Uint8Array)]).toEqual([1, 0, 1]);
  });

  it('unwraps {"instances": …} and {"inputs": …}', () => {
    expect(tensor('{"instances": [[1, 2]]}').shape).toEqual([1, 2]);
    expect(tensor('{"inputs": [[1], [2]]}').shape).toEqual([2, 1]);
  });

  it('reads an object of named inputs, also inside "inputs"', () => {
    for (const text of [
      '{"a": [1, 2], "b": [[true]]}',
      '{"inputs": {"a": [1, 2], "b": [[true]]}}',
    ]) {
      const value = decodeJson(text);
      expect(isTensor(value)).toBe(false);
      const { a, b } = value as Record<string, Tensor>;
      expect(a).toMatchObject({ dtype: 'float32', shape: [2] });
      expect(b).toMatchObject({ dtype: 'bool', shape: [1, 1] });
    }
  });

  it('keeps an input named __proto__ as a plain key', () => {
    const value = decodeJson('{"__proto__": [1], "constructor": [2]}') as Record<string, Tensor>;
    expect(Object.keys(value)).toEqual(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(value)).toBeNull();
    expect(value['__proto__']?.shape).toEqual([1]);
  });

  it.each([
    ['[[1, 2], [3]]', '$[1]', 'expected 2 elements, got 1'],
    ['[[1, 2], 3]', '$[1]', 'expected an array of 2'],
    ['[1, [2]]', '$[1]', 'got an array'],
    ['{"instances": [[1, 2], [3, "x"]]}', '$.instances[1][1]', 'the string "x"'],
    ['[[1, null]]', '$[0][1]', 'got null'],
    ['[1, true]', '$[1]', 'boolean true'],
    ['[true, 1]', '$[1]', 'expected a boolean, got number 1'],
    ['{"input ids": [[1, {}]]}', '$["input ids"][0][1]', 'an object'],
    ['[["a"]]', '$[0][0]', 'expected a number or a boolean, got the string "a"'],
    ['{"x": [1], "y": [[1, 2], [3]]}', '$.y[1]', 'expected 2 elements'],
  ])('%s → 400 at %s', (text, path, message) => {
    const error = errorOf(() => decodeJson(text));
    expect(error.status).toBe(400);
    expect(error.message).toContain(message);
    expect(error.message).toMatch(new RegExp(`at ${path.replace(/[[\]$.]/g, '\\$&')}$`));
    expect(error.details).toEqual({ path });
  });

  it('refuses invalid JSON, invalid UTF-8 and another charset', () => {
    expect(errorOf(() => decodeJson('[[1, 2]')).message).toMatch(/^invalid JSON: /);
    const latin1 = new Uint8Array([0x5b, 0xe9, 0x5d]);
    const decodeAs = (type: string) =>
      jsonCodec.decode(latin1, mediaType(type), { dtype: undefined, maxDecodedBytes: 100 });
    expect(errorOf(() => decodeAs('application/json')).message).toBe(
      'JSON body is not valid UTF-8',
    );
    const wrongCharset = errorOf(() => decodeAs('application/json; charset=iso-8859-1'));
    expect(wrongCharset.status).toBe(415);
    expect(wrongCharset.message).toContain('charset=iso-8859-1');
    // Charset names are case-insensitive.
    expect(errorOf(() => decodeAs('application/json; charset="UTF-8"')).status).toBe(400);
  });

  it('matches application/json only', () => {
    expect(jsonCodec.matches(mediaType('Application/JSON'))).toBe(true);
    expect(jsonCodec.matches(mediaType('text/json'))).toBe(false);
    expect(jsonCodec.matches(mediaType('application/problem+json'))).toBe(false);
  });

  it.each([
    ['null', '$', 'expected a number or a boolean, got null'],
    ['"x"', '$', 'got the string "x"'],
    ['{}', '$', 'expected inputs, got an empty object'],
    ['{"inputs": {}}', '$.inputs', 'expected inputs, got an empty object'],
    ['{"a": {"b": [1]}}', '$.a', 'got an object'],
    ['{"0": ["x"]}', '$["0"][0]', 'got the string "x"'],
    ['[[[1], [2]], [[3], 4]]', '$[1][1]', 'expected an array of 1, got number 4'],
  ])('%s → 400 at %s', (text, path, message) => {
    const error = errorOf(() => decodeJson(text));
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toContain(message);
    expect(error.details).toEqual({ path });
  });

  it('treats an object with more keys than the wrapper as named inputs', () => {
    const value = decodeJson('{"instances": [1], "extra": [2, 3]}') as Record<string, Tensor>;
    expect(Object.keys(value)).toEqual(['instances', 'extra']);
    expect(tensor('"NaN"')).toMatchObject({ dtype: 'float32', shape: [] });
  });

  it('refuses bodies that would decode past maxDecodedBytes, counting all inputs together', () => {
    const decodeWithLimit = (text: string, maxDecodedBytes: number, dtype?: DType) =>
      jsonCodec.decode(new TextEncoder().encode(text), JSON_TYPE, { dtype, maxDecodedBytes });
    expect(isTensor(decodeWithLimit('[1, 2, 3]', 12))).toBe(true);
    const single = errorOf(() => decodeWithLimit('[1, 2, 3, 4]', 12));
    expect(single.code).toBe('INVALID_INPUT');
    expect(single.message).toBe(
      'input of 4 float32 elements (16 bytes) would exceed the 12-byte limit on decoded data at $',
    );
    expect(errorOf(() => decodeWithLimit('[1, 2]', 12, 'float64')).message).toContain('16 bytes');
    // First rows that claim [1000, 1000, 1000] in a few kilobytes: the error is the
    // ragged row, found without allocating a gigabyte for the claimed shape.
    const zeros = ', 0'.repeat(999);
    const claim = `[[[1${', 1'.repeat(999)}]${zeros}]${zeros}]`;
    expect(errorOf(() => decodeWithLimit(claim, 2 ** 30, 'uint8')).message).toBe(
      'ragged array: expected an array of 1000, got number 0 at $[0][1]',
    );
    // Each input fits on its own, both together do not.
    expect(errorOf(() => decodeWithLimit('{"a": [1, 2], "b": [3, 4]}', 12)).details).toEqual({
      path: '$.b',
    });
  });

  it('refuses nesting deeper than any model input, without overflowing the stack', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(errorOf(() => decodeJson(deep)).message).toContain('nested deeper than 32');
  });

  it('casts to a requested dtype, checking ranges', () => {
    expect([...(tensor('[1, -2]', 'int8').data as Int8Array)]).toEqual([1, -2]);
    expect(errorOf(() => tensor('[1, 300]', 'int8')).message).toBe(
      '300 is outside the int8 range [-128, 127] at $[1]',
    );
    expect(errorOf(() => tensor('[1.5]', 'int32')).message).toContain('1.5 is not an integer');
    expect(errorOf(() => tensor('[-1]', 'uint16')).message).toContain('outside the uint16 range');
    expect([...(tensor('[9007199254740991]', 'int64').data as BigInt64Array)]).toEqual([
      9007199254740991n,
    ]);
    expect(errorOf(() => tensor('[9007199254740993]', 'int64')).message).toContain(
      'where JSON numbers lose precision: send int64 values this large as NPY',
    );
    expect([...(tensor('[true, 0, 1]', 'bool').data as Uint8Array)]).toEqual([1, 0, 1]);
    expect(tensor('["a", "b"]', 'string').data as string[]).toEqual(['a', 'b']);
    expect(halfToNumber((tensor('[0.5]', 'float16').data as Uint16Array)[0] ?? 0)).toBe(0.5);
  });

  it('names the range, or the precision limit, for 64-bit integers', () => {
    expect(errorOf(() => tensor('[[0, -1]]', 'uint64')).message).toBe(
      '-1 is outside the uint64 range [0, 18446744073709551615] at $[0][1]',
    );
    expect([...(tensor('[-9007199254740991]', 'int64').data as BigInt64Array)]).toEqual([
      -9007199254740991n,
    ]);
    const error = errorOf(() => tensor('{"ids": [1, 18446744073709551615]}', 'uint64'));
    expect(error.message).toContain('beyond ±2^53, where JSON numbers lose precision');
    expect(error.message).toContain('as NPY at $.ids[1]');
    expect(errorOf(() => tensor('["7"]', 'int64')).message).toContain('the string "7"');
    expect(errorOf(() => tensor('[2.5]', 'int64')).message).toContain('expected an integer');
  });

  it('allows strings only for the string dtype, and NaN strings only for floats', () => {
    expect(errorOf(() => tensor('[1, "a"]', 'string')).message).toBe(
      'expected a string, got number 1 at $[0]',
    );
    expect(errorOf(() => tensor('["true"]', 'bool')).details).toEqual({ path: '$[0]' });
    expect(errorOf(() => tensor('["NaN"]', 'int32')).message).toContain('the string "NaN"');
    expect(errorOf(() => tensor('[true, 2]', 'bool')).message).toContain('got number 2');
    expect(errorOf(() => tensor('[true]', 'float32')).message).toContain('got boolean true');
    expect((tensor('["NaN", "-Infinity"]', 'float16').data as Uint16Array)[1]).toBe(0xfc00);
  });

  it('reads "NaN" and the infinities as floats, since JSON has no literal for them', () => {
    const t = tensor('[["NaN", "Infinity", "-Infinity", 1]]');
    expect([...(t.data as Float32Array)]).toEqual([NaN, Infinity, -Infinity, 1]);
    expect(errorOf(() => tensor('[1, "1.5"]')).message).toContain('the string "1.5"');
  });
});

describe('JSON encode', () => {
  it('writes nested arrays, scalars and named outputs', () => {
    expect(encodeJson(createTensor('int32', [2, 2], new Int32Array([1, 2, 3, 4])))).toBe(
      '[[1,2],[3,4]]',
    );
    expect(encodeJson(createTensor('float64', [], new Float64Array([0.25])))).toBe('0.25');
    expect(encodeJson(createTensor('float32', [2, 0], new Float32Array(0)))).toBe('[[],[]]');
    expect(encodeJson({ 'a b': createTensor('bool', [2], new Uint8Array([1, 0])) })).toBe(
      '{"a b":[true,false]}',
    );
  });

  it('writes float32 as the shortest text that reads back to the same float', () => {
    expect(
      encodeJson(
        createTensor('float32', [3], new Float32Array([0.1, 1 / 3, 3.4028234663852886e38])),
      ),
    ).toBe('[0.1,0.33333334,3.4028235e+38]');
  });

  it('writes int64 digits exactly and NaN/±Infinity as strings', () => {
    expect(encodeJson(createTensor('int64', [1], new BigInt64Array([-(2n ** 63n)])))).toBe(
      '[-9223372036854775808]',
    );
    expect(
      encodeJson(createTensor('float64', [4], new Float64Array([NaN, Infinity, -Infinity, -0]))),
    ).toBe('["NaN","Infinity","-Infinity",-0]');
    expect(encodeJson(createTensor('uint64', [2], new BigUint64Array([2n ** 64n - 1n, 0n])))).toBe(
      '[18446744073709551615,0]',
    );
  });

  it('writes float16 from its bits, shortest first, and strings as JSON strings', () => {
    // Shortest as numpy prints them: 65500 is the nearest half to 65504's shortest name.
    const halves = [0.1, 65504, -2, 1e-7, 0.333].map(numberToHalf);
    expect(encodeJson(createTensor('float16', [5], new Uint16Array(halves)))).toBe(
      '[0.1,65500,-2,1e-7,0.333]',
    );
    expect(encodeJson(createTensor('string', [2], ['a "q"', 'é\n']))).toBe('["a \\"q\\"","é\\n"]');
    expect(encodeJson(createTensor('float32', [2], new Float32Array([16777216, 123456792])))).toBe(
      '[16777216,123456790]',
    );
  });

  it('reads its own output of a large tensor back, row by row', () => {
    const data = Float32Array.from({ length: 200_000 }, (_, i) => Math.sin(i) * 1e3);
    const back = tensor(encodeJson(createTensor('float32', [400, 500], data)));
    expect(back.shape).toEqual([400, 500]);
    expect(Buffer.compare(Buffer.from(back.data as Float32Array), Buffer.from(data))).toBe(0);
  });
});

/** Tensors whose JSON form can carry them exactly (int64 within ±2^53). */
function jsonTensorArb(dtype: DType): fc.Arbitrary<Tensor> {
  const leaf: fc.Arbitrary<number | bigint | string> = (() => {
    switch (dtype) {
      case 'float16':
        return fc.integer({ min: 0, max: 0xffff }).map((bits) => numberToHalf(halfToNumber(bits)));
      case 'float32':
        return fc.float();
      case 'float64':
        return fc.double();
      case 'int8':
        return fc.integer({ min: -128, max: 127 });
      case 'int16':
        return fc.integer({ min: -32768, max: 32767 });
      case 'int32':
        return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
      case 'uint8':
      case 'bool':
        return fc.integer({ min: 0, max: dtype === 'bool' ? 1 : 255 });
      case 'uint16':
        return fc.integer({ min: 0, max: 65535 });
      case 'uint32':
        return fc.integer({ min: 0, max: 2 ** 32 - 1 });
      case 'int64':
        return fc.bigInt({ min: -(2n ** 53n) + 1n, max: 2n ** 53n - 1n });
      case 'uint64':
        return fc.bigInt({ min: 0n, max: 2n ** 53n - 1n });
      case 'string':
        // Lone surrogates too: JSON escapes them, so they survive UTF-8.
        return fc.oneof(
          fc.string(),
          fc.string({ unit: 'binary' }),
          fc.string({
            unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
          }),
        );
    }
  })();
  // Trailing dimensions of an empty axis cannot be written in JSON, so dims start at 1.
  return fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 3 }).chain((shape) => {
    const count = shape.reduce((a, b) => a * b, 1);
    return fc.array(leaf, { minLength: count, maxLength: count }).map((values) => {
      if (dtype === 'string') return createTensor(dtype, shape, values as string[]);
      const data = new TYPED_ARRAY_BY_DTYPE[dtype](count);
      values.forEach(
        (v, i) => ((data as unknown as (number | bigint)[])[i] = v as number | bigint),
      );
      return createTensor(dtype, shape, data);
    });
  });
}

describe('JSON properties', () => {
  it.each(DTYPES)('decode(encode(t)) equals t for %s', (dtype) => {
    fc.assert(
      fc.property(jsonTensorArb(dtype), (t) => {
        const back = tensor(encodeJson(t), dtype);
        expect(back.shape).toEqual(t.shape);
        const a = Array.from(t.data as ArrayLike<unknown>);
        const b = Array.from(back.data as ArrayLike<unknown>);
        return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
      }),
      { numRuns: 150 },
    );
  });

  it('arbitrary bytes, JSON and near-JSON text throw only InferenceError, for any dtype', () => {
    const dtypeArb = fc.option(fc.constantFrom(...DTYPES), { nil: undefined });
    const onlyInferenceErrors = (body: Uint8Array, dtype: DType | undefined): boolean =>
      throwsOnlyInferenceErrors(() =>
        jsonCodec.decode(body, JSON_TYPE, { dtype, maxDecodedBytes: 1 << 20 }),
      );
    const text = (arb: fc.Arbitrary<string>) => arb.map((t) => new TextEncoder().encode(t));
    // Tokens that build mostly valid JSON, to reach the shape and leaf checks.
    const tokens = fc.constantFrom('[', ']', '{', '}', ',', ':', '1', '-2.5e3', 'true', 'null');
    const nearJson = fc.string({
      unit: fc.oneof(tokens, fc.constantFrom('"NaN"', '"a"', '"inputs"', '1e400', '9e15')),
    });
    for (const bodies of [
      fc.uint8Array({ maxLength: 256 }),
      text(fc.json()),
      text(fc.string()),
      text(nearJson),
    ]) {
      fc.assert(fc.property(bodies, dtypeArb, onlyInferenceErrors), { numRuns: 1000 });
    }
  });
});
