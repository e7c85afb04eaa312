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
    expect(
      errorOf(() => jsonCodec.decode(latin1, JSON_TYPE, { dtype: undefined, maxDecodedBytes: 100 }))
        .message,
    ).toBe('JSON body is not valid UTF-8');
    const iso = mediaType('application/json; charset=iso-8859-1');
    expect(
      errorOf(() => jsonCodec.decode(latin1, iso, { dtype: undefined, maxDecodedBytes: 100 }))
        .status,
    ).toBe(415);
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
        return fc.string();
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

  it('arbitrary bytes and arbitrary JSON throw only InferenceError', () => {
    const onlyInferenceErrors = (body: Uint8Array): boolean =>
      throwsOnlyInferenceErrors(() =>
        jsonCodec.decode(body, JSON_TYPE, { dtype: undefined, maxDecodedBytes: 1 << 20 }),
      );
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), onlyInferenceErrors), {
      numRuns: 1500,
    });
    fc.assert(
      fc.property(fc.json(), (text) => onlyInferenceErrors(new TextEncoder().encode(text))),
      { numRuns: 1500 },
    );
  });
});
