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

const NUMBER_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER_TEXT = /^[+-]?\d+$/;
// A Map, not an object literal: a cell reading "constructor" must not find Object's.
const SPECIAL_FLOATS: ReadonlyMap<string, number> = new Map([
  ['nan', NaN],
  ['+nan', NaN],
  ['-nan', NaN],
  ['inf', Infinity],
  ['+inf', Infinity],
  ['infinity', Infinity],
  ['+infinity', Infinity],
  ['-inf', -Infinity],
  ['-infinity', -Infinity],
]);

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
    const [min, max] = BIGINT_RANGES[dtype];
    return {
      data,
      set: (i, leaf) => {
        const value = toBigInt(leaf, dtype);
        if (typeof value === 'string') return value;
        if (value < min || value > max) {
          return `${value} is outside the ${dtype} range [${min}, ${max}]`;
        }
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
  if (allowSpecial) return SPECIAL_FLOATS.get(text.toLowerCase());
  return undefined;
}

/** A leaf as an exact 64-bit integer, or why it is not one. */
function toBigInt(leaf: Leaf, dtype: 'int64' | 'uint64'): bigint | string {
  if (typeof leaf === 'number') {
    if (!Number.isInteger(leaf)) return `expected an integer, got ${describeLeaf(leaf)}`;
    // Parsing already rounded a JSON number this large; refuse rather than guess.
    if (!Number.isSafeInteger(leaf)) {
      return `${leaf} is beyond ±2^53, where JSON numbers lose precision: send ${dtype} values this large as NPY`;
    }
    return BigInt(leaf);
  }
  if (typeof leaf !== 'string') return `expected an integer, got ${describeLeaf(leaf)}`;
  const text = leaf.trim();
  // Text (CSV) keeps every digit, so integers of any size read exactly.
  if (INTEGER_TEXT.test(text)) return BigInt(text);
  const value = NUMBER_TEXT.test(text) ? Number(text) : NaN;
  if (Number.isSafeInteger(value)) return BigInt(value);
  return Number.isInteger(value)
    ? `${text} is not exact beyond ±2^53: write ${dtype} values this large as integer digits`
    : `expected an integer, got ${describeLeaf(leaf)}`;
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

type SpecialFloats = { readonly nan: string; readonly inf: string; readonly negInf: string };

/** The spelling of values that have no plain decimal form, or `undefined` for the rest. */
function specialText(value: number, special: SpecialFloats): string | undefined {
  if (Number.isNaN(value)) return special.nan;
  if (value === Infinity) return special.inf;
  if (value === -Infinity) return special.negInf;
  // String(-0) is '0', which would lose the sign.
  return Object.is(value, -0) ? '-0' : undefined;
}

/**
 * Format one element so that parsing it gives the same value back: the shortest
 * decimal that rounds to the same float32 / float16, the exact digits of an
 * integer. `special` spells NaN and the infinities for the format at hand.
 */
export function elementFormatter(
  dtype: DType,
  special: SpecialFloats,
): (value: number | bigint | string) => string {
  switch (dtype) {
    case 'float32':
      return (v) =>
        specialText(v as number, special) ?? shortest(v as number, v as number, FLOAT32);
    case 'float16':
      return (bits) => {
        const v = halfToNumber(bits as number);
        return specialText(v, special) ?? shortest(v, bits as number, FLOAT16);
      };
    case 'float64':
      return (v) => specialText(v as number, special) ?? String(v);
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

interface FloatFormat {
  /** Significant digits that always read back to the same value. */
  readonly maxDigits: number;
  /** Integers below this are exact, and no shorter decimal names them. */
  readonly exactBelow: number;
  /** Rounds a parsed double to this format (float32 value, float16 bits). */
  readonly round: (parsed: number) => number;
}

const FLOAT32: FloatFormat = { maxDigits: 9, exactBelow: 2 ** 24, round: Math.fround };
const FLOAT16: FloatFormat = { maxDigits: 5, exactBelow: 2 ** 11, round: numberToHalf };

/**
 * The shortest decimal that rounds back to `target`. Most values need one digit
 * less than the maximum, so that is tried first and the search goes down only when
 * it reads back: about twice as fast as searching up, which matters for
 * million-element outputs.
 */
function shortest(value: number, target: number, format: FloatFormat): string {
  const { maxDigits, exactBelow, round } = format;
  if (Number.isInteger(value) && Math.abs(value) < exactBelow) return String(value);
  let text = value.toPrecision(maxDigits - 1);
  if (round(+text) !== target) return tidy(value.toPrecision(maxDigits));
  for (let digits = maxDigits - 2; digits >= 1; digits--) {
    const shorter = value.toPrecision(digits);
    if (round(+shorter) !== target) break;
    text = shorter;
  }
  return tidy(text);
}

/**
 * toPrecision pads with zeros and switches to exponent form at its own thresholds;
 * re-spell those as JS does (`0.50000000` -> `0.5`, `1.2345678e+8` -> `123456780`).
 */
function tidy(text: string): string {
  const padded = text.endsWith('0') && text.includes('.');
  return padded || text.includes('e') ? String(+text) : text;
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
