import { InferenceError } from '../errors/inference-error.js';
import { bytesPerElement, type DType } from '../tensor/dtype.js';
import { elementCount, isTensor, namedTensors, type Tensor } from '../tensor/tensor.js';
import type { Codec, Decoded, ResolvedDecodeOptions } from './codec.js';
import {
  checkCharset,
  createLeafWriter,
  decodeUtf8,
  describeLeaf,
  elementFormatter,
} from './text-values.js';

/** Deeper nesting than any model input; bounds recursion on hostile bodies. */
const MAX_RANK = 32;
const WRAPPERS = ['instances', 'inputs'] as const;
/** JSON has no literal for these, so they travel as strings. */
const SPECIAL_FLOAT = /^(NaN|Infinity|-Infinity)$/;

type Path = (string | number)[];

const invalid = (message: string, path: Path): InferenceError =>
  new InferenceError('INVALID_INPUT', `${message} at ${formatPath(path)}`, {
    details: { path: formatPath(path) },
  });

/** `$.instances[1][2]`, `$["input ids"][0]`. */
function formatPath(path: Path): string {
  return (
    '$' +
    path
      .map((p) =>
        typeof p === 'number'
          ? `[${p}]`
          : /^[A-Za-z_$][\w$]*$/.test(p)
            ? `.${p}`
            : `[${JSON.stringify(p)}]`,
      )
      .join('')
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Read a JSON body: a number, a boolean, nested rectangular arrays of them, the
 * `{"instances": …}` / `{"inputs": …}` wrappers, or an object keyed by input name.
 */
function decodeJson(body: Uint8Array, options: ResolvedDecodeOptions): Decoded {
  let value: unknown;
  try {
    value = JSON.parse(decodeUtf8(body, 'JSON'));
  } catch (error) {
    if (error instanceof InferenceError) throw error;
    throw new InferenceError('INVALID_INPUT', `invalid JSON: ${(error as Error).message}`);
  }
  const path: Path = [];
  if (isRecord(value)) {
    const keys = Object.keys(value);
    const wrapper = WRAPPERS.find((w) => keys.length === 1 && keys[0] === w);
    if (wrapper !== undefined) {
      value = value[wrapper];
      path.push(wrapper);
    }
  }
  const context: DecodeContext = {
    requested: options.dtype,
    limit: options.maxDecodedBytes,
    left: options.maxDecodedBytes,
    bodyBytes: body.length,
  };
  if (!isRecord(value)) return toTensor(value, path, context);
  const entries = Object.entries(value);
  if (entries.length === 0) throw invalid('expected inputs, got an empty object', path);
  const named = namedTensors();
  for (const [name, item] of entries) named[name] = toTensor(item, [...path, name], context);
  return named;
}

interface DecodeContext {
  readonly requested: DType | undefined;
  readonly limit: number;
  /** One budget for all named inputs, so that many inputs cannot each take the limit. */
  left: number;
  readonly bodyBytes: number;
}

function toTensor(root: unknown, path: Path, context: DecodeContext): Tensor {
  // The shape follows the first element at each level; the fill checks the rest.
  const shape: number[] = [];
  let probe = root;
  while (Array.isArray(probe)) {
    if (shape.length === MAX_RANK) throw invalid(`arrays nested deeper than ${MAX_RANK}`, path);
    shape.push(probe.length);
    if (probe.length === 0) break;
    probe = probe[0];
  }
  const { requested } = context;
  const dtype = requested ?? inferDType(probe, shape, path);
  // Without a requested dtype, every leaf must be of the first leaf's kind.
  const leafKind = requested === undefined ? (dtype === 'bool' ? 'boolean' : 'number') : undefined;
  const count = elementCount(shape);
  // Every leaf takes at least a byte of the body, so more leaves than bytes means a
  // ragged array whose first rows claim a huge shape: find the bad element without
  // allocating for that shape (a few kilobytes must not reserve a gigabyte).
  const rectangular = count <= context.bodyBytes;
  // Strings count as a pointer each; their text is already in the body.
  const bytes = count * (dtype === 'string' ? 8 : bytesPerElement(dtype));
  if (rectangular && bytes > context.left) {
    throw invalid(
      `input of ${count} ${dtype} elements (${bytes} bytes) would exceed the ${context.limit}-byte limit on decoded data`,
      path,
    );
  }
  context.left -= bytes;
  const writer = createLeafWriter(dtype, rectangular ? count : 1);
  let next = 0;
  const fill = (node: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (Array.isArray(node))
        throw invalid(`ragged array: expected a ${dtype} value, got an array`, path);
      const acceptable =
        typeof node === 'number' ||
        typeof node === 'boolean' ||
        (typeof node === 'string' && (dtype === 'string' || SPECIAL_FLOAT.test(node)));
      const mixed =
        (leafKind === 'boolean' && typeof node !== 'boolean') ||
        (leafKind === 'number' && typeof node === 'boolean');
      if (!acceptable || mixed) {
        throw invalid(
          `expected ${leafKind === 'boolean' ? 'a boolean' : `a ${dtype} value`}, got ${describeLeaf(node)}`,
          path,
        );
      }
      const problem = writer.set(rectangular ? next++ : 0, node);
      if (problem !== undefined) throw invalid(problem, path);
      return;
    }
    if (!Array.isArray(node)) {
      throw invalid(
        `ragged array: expected an array of ${shape[depth] ?? 0}, got ${describeLeaf(node)}`,
        path,
      );
    }
    if (node.length !== shape[depth]) {
      throw invalid(
        `ragged array: expected ${shape[depth] ?? 0} elements, got ${node.length}`,
        path,
      );
    }
    for (let i = 0; i < node.length; i++) {
      path.push(i);
      fill(node[i], depth + 1);
      path.pop();
    }
  };
  fill(root, 0);
  if (!rectangular) throw invalid('ragged array', path); // unreachable: leaves outnumber bytes
  return { dtype, shape, data: writer.data };
}

function inferDType(firstLeaf: unknown, shape: readonly number[], path: Path): DType {
  if (typeof firstLeaf === 'boolean') return 'bool';
  if (typeof firstLeaf === 'number' || shape.includes(0)) return 'float32';
  if (typeof firstLeaf === 'string' && SPECIAL_FLOAT.test(firstLeaf)) return 'float32';
  const where = [...path, ...shape.map(() => 0)];
  throw invalid(`expected a number or a boolean, got ${describeLeaf(firstLeaf)}`, where);
}

const JSON_SPECIAL = { nan: '"NaN"', inf: '"Infinity"', negInf: '"-Infinity"' };

/** Nested arrays for one tensor, an object for named tensors. */
function encodeJson(value: Decoded): Uint8Array {
  if (isTensor(value)) return new TextEncoder().encode(tensorToJson(value));
  const parts = Object.entries(value).map(
    ([name, t]) => `${JSON.stringify(name)}:${tensorToJson(t)}`,
  );
  return new TextEncoder().encode(`{${parts.join(',')}}`);
}

function tensorToJson(tensor: Tensor): string {
  const format = elementFormatter(tensor.dtype, JSON_SPECIAL);
  const data = tensor.data as ArrayLike<number | bigint | string>;
  const { shape } = tensor;
  if (shape.length === 0) return format(data[0] ?? 0);
  let offset = 0;
  const build = (depth: number): string => {
    const dim = shape[depth] ?? 0;
    const items = new Array<string>(dim);
    if (depth === shape.length - 1) {
      for (let i = 0; i < dim; i++) items[i] = format(data[offset++] ?? 0);
    } else {
      for (let i = 0; i < dim; i++) items[i] = build(depth + 1);
    }
    return `[${items.join(',')}]`;
  };
  return build(0);
}

/**
 * `application/json`: nested arrays of numbers or booleans (also wrapped as
 * `{"instances": …}` / `{"inputs": …}`), or an object of named inputs. Errors give
 * the JSON path of the first bad element.
 *
 * @example
 * ```ts
 * const registry = createCodecRegistry([jsonCodec]);
 * ```
 */
export const jsonCodec: Codec = {
  mediaType: 'application/json',
  matches: (type) => type.essence === 'application/json',
  decode: (body, type, options) => {
    checkCharset(type);
    return decodeJson(body, options);
  },
  canEncode: () => true,
  encode: encodeJson,
};
