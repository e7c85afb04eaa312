import { InferenceError } from '../errors/inference-error.js';
import { bytesPerElement } from '../tensor/dtype.js';
import { isTensor, type Tensor } from '../tensor/tensor.js';
import type { Codec, Decoded, ResolvedDecodeOptions } from './codec.js';
import { checkCharset, createLeafWriter, decodeUtf8, elementFormatter } from './text-values.js';

const invalid = (message: string, details?: Record<string, unknown>): InferenceError =>
  new InferenceError('INVALID_INPUT', message, details === undefined ? {} : { details });

/**
 * Read CSV as a 2-D `[rows, cols]` tensor: one record per line, numbers only,
 * a header line skipped only when the media type says `header=present`.
 */
function decodeCsv(body: Uint8Array, hasHeader: boolean, options: ResolvedDecodeOptions): Tensor {
  const lines = decodeUtf8(body, 'CSV').split('\n');
  // One final newline (or several blank lines) ends the file; blank lines inside it do not.
  while (lines.length > 0 && (lines[lines.length - 1] ?? '').trim() === '') lines.pop();
  if (lines.length === 0) throw invalid('CSV body is empty');
  const first = hasHeader ? 1 : 0;
  const rows = lines.length - first;
  if (rows === 0) throw invalid('CSV body has a header line but no rows');
  const dtype = options.dtype ?? 'float32';
  if (dtype === 'string') throw invalid('CSV holds numbers only; strings are not supported');
  const cols = splitCells(lines[first] ?? '').length;
  const count = rows * cols;
  // Every good cell takes at least a byte, so more cells than bytes means a bad row
  // further down: find it without allocating for the shape the first line claims.
  const plausible = count <= body.length;
  if (plausible && count * bytesPerElement(dtype) > options.maxDecodedBytes) {
    throw invalid(
      `CSV of ${rows} × ${cols} values is over the ${options.maxDecodedBytes}-byte limit`,
    );
  }
  const writer = createLeafWriter(dtype, plausible ? count : 1);
  let next = 0;
  for (let index = first; index < lines.length; index++) {
    const line = index + 1;
    const text = lines[index] ?? '';
    if (text.trim() === '') throw invalid(`CSV line ${line} is empty`, { line });
    const cells = splitCells(text);
    if (cells.length !== cols) {
      throw invalid(
        `CSV line ${line} has ${cells.length} columns, expected ${cols} (as on line ${first + 1})`,
        { line, columns: cells.length, expected: cols },
      );
    }
    for (const [c, cell] of cells.entries()) {
      const problem = cell === '' ? 'empty cell' : writer.set(plausible ? next : 0, cell);
      if (problem !== undefined) {
        const column = c + 1;
        throw invalid(
          `CSV line ${line}, column ${column}: ${JSON.stringify(cell)} is not a valid ${dtype} (${problem})`,
          { line, column },
        );
      }
      next++;
    }
  }
  if (!plausible) throw invalid('CSV rows do not match'); // unreachable, see `plausible`
  return { dtype, shape: [rows, cols], data: writer.data };
}

function splitCells(line: string): string[] {
  return line
    .replace(/\r$/, '')
    .split(',')
    .map((cell) => {
      const trimmed = cell.trim();
      return trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')
        ? trimmed.slice(1, -1).trim()
        : trimmed;
    });
}

const CSV_SPECIAL = { nan: 'nan', inf: 'inf', negInf: '-inf' };

function single(value: Decoded): Tensor | undefined {
  if (isTensor(value)) return value;
  const tensors = Object.values(value);
  return tensors.length === 1 ? tensors[0] : undefined;
}

function canEncodeCsv(value: Decoded): boolean {
  const tensor = single(value);
  if (tensor === undefined || tensor.dtype === 'string' || tensor.shape.length > 2) return false;
  // Rows of zero columns would be empty lines, which read back as nothing.
  return tensor.shape.length < 2 || (tensor.shape[1] ?? 0) > 0;
}

/** One line per row; a 1-D tensor gives one value per line (one prediction per input row). */
function encodeCsv(value: Decoded): Uint8Array {
  const tensor = single(value);
  // The registry asks canEncode first; this guards direct callers from silent garbage.
  if (tensor === undefined || !canEncodeCsv(value)) {
    throw new InferenceError('INTERNAL', 'CSV holds one tensor of rank 0 to 2 of numbers');
  }
  const base = elementFormatter(tensor.dtype, CSV_SPECIAL);
  const format =
    tensor.dtype === 'bool' ? (v: number | bigint | string) => (v === 0 ? '0' : '1') : base;
  const data = tensor.data as ArrayLike<number | bigint>;
  const cols = tensor.shape.length === 2 ? (tensor.shape[1] ?? 0) : 1;
  const lines: string[] = [];
  const row = new Array<string>(cols);
  for (let start = 0; start < data.length; start += cols) {
    for (let c = 0; c < cols; c++) row[c] = format(data[start + c] ?? 0);
    lines.push(row.join(','));
  }
  return new TextEncoder().encode(lines.length === 0 ? '' : `${lines.join('\n')}\n`);
}

/**
 * `text/csv`: numbers only, always `[rows, cols]`; `header=present` skips a header
 * line. Errors name the line and column.
 *
 * @example
 * ```ts
 * const registry = createCodecRegistry([csvCodec]);
 * ```
 */
export const csvCodec: Codec = {
  mediaType: 'text/csv',
  matches: (type) => type.essence === 'text/csv',
  decode: (body, type, options) => {
    checkCharset(type);
    return decodeCsv(body, type.params['header']?.toLowerCase() === 'present', options);
  },
  canEncode: canEncodeCsv,
  encode: encodeCsv,
};
