import { InferenceError } from '../errors/inference-error.js';
import {
  BIGINT_RANGES,
  INTEGER_RANGES,
  TYPED_ARRAY_BY_DTYPE,
  type DataTypeMap,
  type DType,
} from '../tensor/dtype.js';
import { halfToNumber, numberToHalf } from '../tensor/float16.js';
import type { MediaType } from '../media-type/parse.js';

// Shared by the text formats (JSON, CSV): turning leaves into typed storage with
// range checks, and numbers back into text that parses to the same value.

const INT_RANGE: Readonly<Partial<Record<DType, readonly [number, number]>>> = INTEGER_RANGES;

const BIG_RANGE = BIGINT_RANGES;

const NUMBER_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER_TEXT = /^[+-]?\d+$/;
const SPECIAL_FLOATS: Readonly<Record<string, number>> = {
  nan: NaN,
  '+nan': NaN,
  '-nan': NaN,
  inf: Infinity,
  '+inf': Infinity,
  infinity: Infinity,
  '+infinity': Infinity,
  '-inf': -Infinity,
  '-infinity': -Infinity,
};

// Nine significant digits always identify a float32, five a float16.
const FLOAT32_DIGITS = [6, 7, 8, 9] as const;
const FLOAT16_DIGITS = [2, 3, 4, 5] as const;

/** A leaf value as a text format delivers it. */
type Leaf = number | boolean | string;

/**
 * Typed storage for `count` elements of `dtype`, filled one leaf at a time;
 * `set` returns an error message (not an exception) for a leaf that does not fit,
 * so the caller can say where the leaf was.
 */
export interface LeafWriter<TDType extends DType = DType> {
  readonly data: DataTypeMap[TDType];
  set(index: number, leaf: Leaf): string | undefined;
}

export function createLeafWriter(dtype: DType, count: number): LeafWriter {
  if (dtype === 'string') {
    const data = new Array<string>(count);
    return {
      data,
      set: (i, leaf) => {
        if (typeof leaf !== 'string') return `expected a string, got ${describeLeaf(leaf)}`;
        data[i] = leaf;
        return undefined;
      },
    };
  }
  const data = new TYPED_ARRAY_BY_DTYPE[dtype](count);
  if (dtype === 'int64' || dtype === 'uint64') {
    const big = data as BigInt64Array | BigUint64Array;
    const [min, max] = BIG_RANGE[dtype];
    return {
      data,
      set: (i, leaf) => {
        let value: bigint;
        if (typeof leaf === 'string') {
          if (!INTEGER_TEXT.test(leaf.trim())) return `"${leaf}" is not an integer`;
          value = BigInt(leaf.trim());
        } else if (typeof leaf === 'number' && Number.isInteger(leaf)) {
          if (!Number.isSafeInteger(leaf)) {
            return `${leaf} is beyond ±2^53, where JSON numbers lose precision: send ${dtype} values this large as NPY`;
          }
          value = BigInt(leaf);
        } else {
          return `expected an integer, got ${describeLeaf(leaf)}`;
        }
        if (value < min || value > max) return `${value} is outside the ${dtype} range`;
        big[i] = value;
        return undefined;
      },
    };
  }
  const numbers = data as Exclude<DataTypeMap[DType], string[] | BigInt64Array | BigUint64Array>;
  if (dtype === 'bool') {
    return {
      data,
      set: (i, leaf) => {
        const value = toBool(leaf);
        if (value === undefined) return `expected true, false, 1 or 0, got ${describeLeaf(leaf)}`;
        numbers[i] = value;
        return undefined;
      },
    };
  }
  const range = INT_RANGE[dtype];
  const isFloat = range === undefined;
  return {
    data,
    set: (i, leaf) => {
      const value = toNumber(leaf, isFloat);
      if (value === undefined) {
        return `expected ${isFloat ? 'a number' : 'an integer'}, got ${describeLeaf(leaf)}`;
      }
      if (range !== undefined) {
        if (!Number.isInteger(value)) return `${value} is not an integer (${dtype})`;
        if (value < range[0] || value > range[1]) {
          return `${value} is outside the ${dtype} range [${range[0]}, ${range[1]}]`;
        }
      }
      numbers[i] = dtype === 'float16' ? numberToHalf(value) : value;
      return undefined;
    },
  };
}

function toNumber(leaf: Leaf, allowSpecial: boolean): number | undefined {
  if (typeof leaf === 'number') return leaf;
  if (typeof leaf !== 'string') return undefined;
  const text = leaf.trim();
  if (NUMBER_TEXT.test(text)) return Number(text);
  if (allowSpecial) return SPECIAL_FLOATS[text.toLowerCase()];
  return undefined;
}

function toBool(leaf: Leaf): 0 | 1 | undefined {
  if (leaf === true || leaf === 1) return 1;
  if (leaf === false || leaf === 0) return 0;
  if (typeof leaf !== 'string') return undefined;
  const text = leaf.trim().toLowerCase();
  if (text === 'true' || text === '1') return 1;
  if (text === 'false' || text === '0') return 0;
  return undefined;
}

export function describeLeaf(leaf: unknown): string {
  if (leaf === null) return 'null';
  if (Array.isArray(leaf)) return 'an array';
  if (typeof leaf === 'string')
    return `the string ${JSON.stringify(leaf.length > 40 ? `${leaf.slice(0, 40)}…` : leaf)}`;
  if (typeof leaf === 'number' || typeof leaf === 'boolean' || typeof leaf === 'bigint') {
    return `${typeof leaf} ${String(leaf)}`;
  }
  return typeof leaf === 'object' ? 'an object' : typeof leaf;
}

/**
 * Format one element so that parsing it gives the same value back: the shortest
 * decimal that rounds to the same float32 / float16, the exact digits of an
 * integer. `special` spells NaN and the infinities for the format at hand.
 */
export function elementFormatter(
  dtype: DType,
  special: { nan: string; inf: string; negInf: string },
): (value: number | bigint | string) => string {
  const finite = (v: number, text: () => string): string =>
    Number.isNaN(v)
      ? special.nan
      : v === Infinity
        ? special.inf
        : v === -Infinity
          ? special.negInf
          : Object.is(v, -0)
            ? '-0'
            : text();
  switch (dtype) {
    case 'float32':
      return (v) =>
        finite(v as number, () =>
          shortest(v as number, FLOAT32_DIGITS, (s) => Math.fround(s) === v),
        );
    case 'float16':
      return (bits) => {
        const v = halfToNumber(bits as number);
        return finite(v, () => shortest(v, FLOAT16_DIGITS, (s) => numberToHalf(s) === bits));
      };
    case 'float64':
      return (v) => finite(v as number, () => String(v));
    case 'bool':
      return (v) => (v === 0 ? 'false' : 'true');
    case 'string':
      return (v) => JSON.stringify(v);
    case 'int8':
    case 'int16':
    case 'int32':
    case 'int64':
    case 'uint8':
    case 'uint16':
    case 'uint32':
    case 'uint64':
      return (v) => String(v);
  }
}

/**
 * The shortest of `digits` significant digits that reads back as the same value,
 * found in at most two tries: parsing is monotonic in the digit count, so halve
 * the range, then settle. `String(+text)` drops trailing zeros ('0.500000' -> '0.5').
 */
function shortest(
  value: number,
  digits: readonly [number, number, number, number],
  same: (parsed: number) => boolean,
): string {
  const [low, midLow, midHigh, high] = digits;
  const atMidLow = +value.toPrecision(midLow);
  if (same(atMidLow)) {
    const atLow = +value.toPrecision(low);
    return String(same(atLow) ? atLow : atMidLow);
  }
  const atMidHigh = +value.toPrecision(midHigh);
  return String(same(atMidHigh) ? atMidHigh : +value.toPrecision(high));
}

/** Text formats here are UTF-8 only; another declared charset is a 415. */
export function checkCharset(type: MediaType): void {
  const charset = type.params['charset']?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new InferenceError(
      'UNSUPPORTED_MEDIA_TYPE',
      `${type.essence} with charset=${charset} is not supported; send UTF-8`,
      { details: { supported: ['utf-8'] } },
    );
  }
}

/** Bytes to text, refusing invalid UTF-8 rather than guessing. */
export function decodeUtf8(body: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(body);
  } catch {
    throw new InferenceError('INVALID_INPUT', `${what} body is not valid UTF-8`);
  }
}
