import { InferenceError } from '../errors/inference-error.js';

/** The three fields of an NPY header dictionary. */
export interface NpyHeader {
  /** A dtype string such as `'<f4'`; structured (list) descrs are refused while parsing. */
  readonly descr: string;
  readonly fortranOrder: boolean;
  readonly shape: readonly number[];
}

// Tuples and lists are told apart: numpy requires the shape to be a tuple.
type Literal = string | boolean | number | Sequence;
interface Sequence {
  readonly kind: 'tuple' | 'list';
  readonly items: readonly Literal[];
}

// Real headers nest at most a few levels (structured dtypes); the cap keeps a
// hostile header of 60k '[' from overflowing the stack.
const MAX_DEPTH = 16;
const KEYS = ['descr', 'fortran_order', 'shape'];

const invalid = (message: string): InferenceError =>
  new InferenceError('INVALID_INPUT', `invalid NPY header: ${message}`);

/**
 * Parse the Python-literal dictionary of an NPY header with a strict grammar
 * (strings, `True`/`False`, integers, tuples, lists); nothing is ever evaluated.
 * The keys must be exactly `descr`, `fortran_order` and `shape`, as numpy checks.
 *
 * @example
 * ```ts
 * parseNpyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }  \n");
 * // { descr: '<f4', fortranOrder: false, shape: [2, 3] }
 * ```
 */
export function parseNpyHeader(text: string): NpyHeader {
  const parser = new LiteralParser(text);
  const dict = parser.dict();
  parser.end();
  const keys = [...dict.keys()].sort();
  if (keys.length !== KEYS.length || keys.some((key, i) => key !== KEYS[i])) {
    throw invalid(`keys must be 'descr', 'fortran_order' and 'shape', not ${formatKeys(keys)}`);
  }
  const descr = dict.get('descr');
  const fortranOrder = dict.get('fortran_order');
  const shape = dict.get('shape');
  if (typeof descr === 'object') {
    throw new InferenceError(
      'INVALID_INPUT',
      'NPY structured (record) dtypes are not supported: send one array per field, or an NPZ archive',
    );
  }
  if (typeof descr !== 'string') throw invalid("'descr' must be a dtype string such as '<f4'");
  if (typeof fortranOrder !== 'boolean') throw invalid("'fortran_order' must be True or False");
  if (typeof shape !== 'object' || shape.kind !== 'tuple') {
    throw invalid("'shape' must be a tuple of integers");
  }
  const dims: number[] = [];
  for (const dim of shape.items) {
    if (typeof dim !== 'number') throw invalid("'shape' must be a tuple of integers");
    if (dim < 0) throw invalid(`'shape' has a negative dimension ${dim}`);
    dims.push(dim === 0 ? 0 : dim); // no -0 in shapes
  }
  return { descr, fortranOrder, shape: dims };
}

function formatKeys(keys: readonly string[]): string {
  return keys.length === 0 ? 'none' : keys.map((key) => `'${key}'`).join(', ');
}

class LiteralParser {
  private pos = 0;
  private depth = 0;
  constructor(private readonly text: string) {}

  dict(): Map<string, Literal> {
    this.expect('{');
    const entries = new Map<string, Literal>();
    for (;;) {
      this.skipSpace();
      if (this.peek() === '}') break;
      const key = this.string();
      if (entries.has(key)) throw invalid(`key '${key}' appears twice`);
      this.expect(':');
      entries.set(key, this.value());
      this.separator('}');
    }
    this.pos++;
    return entries;
  }

  end(): void {
    this.skipSpace();
    if (this.pos !== this.text.length) throw invalid(`unexpected text at offset ${this.pos}`);
  }

  private value(): Literal {
    this.skipSpace();
    const ch = this.peek();
    if (ch === "'" || ch === '"') return this.string();
    if (ch === '(') return this.sequence('tuple', '(', ')');
    if (ch === '[') return this.sequence('list', '[', ']');
    if (ch === '-' || (ch >= '0' && ch <= '9')) return this.integer();
    if (this.text.startsWith('True', this.pos)) return this.word('True', true);
    if (this.text.startsWith('False', this.pos)) return this.word('False', false);
    throw invalid(`unexpected ${ch === '' ? 'end' : JSON.stringify(ch)} at offset ${this.pos}`);
  }

  private sequence(kind: Sequence['kind'], open: string, close: string): Sequence {
    if (++this.depth > MAX_DEPTH) throw invalid(`nested deeper than ${MAX_DEPTH} levels`);
    this.expect(open);
    const items: Literal[] = [];
    for (;;) {
      this.skipSpace();
      if (this.peek() === close) break;
      items.push(this.value());
      this.separator(close);
    }
    this.pos++;
    this.depth--;
    return { kind, items };
  }

  // After an item: either ', ' (the item may then be the last) or the closing bracket.
  private separator(close: string): void {
    this.skipSpace();
    if (this.peek() === ',') this.pos++;
    else if (this.peek() !== close)
      throw invalid(`expected ',' or '${close}' at offset ${this.pos}`);
  }

  private integer(): number {
    // Python 2 wrote long dimensions with an L suffix; numpy still reads them.
    const match = /^-?[0-9]{1,20}L?/.exec(this.text.slice(this.pos, this.pos + 24));
    if (match === null) throw invalid(`expected an integer at offset ${this.pos}`);
    this.pos += match[0].length;
    if (/[0-9]/.test(this.peek())) throw invalid(`integer at offset ${this.pos} is too long`);
    const value = Number(match[0].replace('L', ''));
    if (!Number.isSafeInteger(value)) throw invalid(`dimension ${match[0]} is too large`);
    return value;
  }

  private string(): string {
    const quote = this.peek();
    if (quote !== "'" && quote !== '"') throw invalid(`expected a string at offset ${this.pos}`);
    const close = this.text.indexOf(quote, this.pos + 1);
    if (close < 0) throw invalid('unterminated string');
    const value = this.text.slice(this.pos + 1, close);
    if (value.includes('\\')) throw invalid('escapes in strings are not supported');
    this.pos = close + 1;
    return value;
  }

  private word<T>(word: string, value: T): T {
    this.pos += word.length;
    return value;
  }

  private expect(ch: string): void {
    this.skipSpace();
    if (this.peek() !== ch) throw invalid(`expected '${ch}' at offset ${this.pos}`);
    this.pos++;
  }

  private peek(): string {
    return this.text[this.pos] ?? '';
  }

  private skipSpace(): void {
    for (;;) {
      const ch = this.peek();
      if (ch !== ' ' && ch !== '\n' && ch !== '\t' && ch !== '\r') return;
      this.pos++;
    }
  }
}

/**
 * The header dictionary exactly as numpy's `np.save` writes it, before the
 * alignment padding: sorted keys, Python's tuple repr, and the spare spaces numpy
 * leaves (21 digits minus the first dimension's) so the array can grow in place.
 *
 * @example
 * ```ts
 * formatNpyHeader('<f4', [2, 3]);
 * // "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" + ' '.repeat(20)
 * ```
 */
export function formatNpyHeader(descr: string, shape: readonly number[]): string {
  const shapeText =
    shape.length === 1 ? `(${shape[0] ?? 0},)` : `(${shape.map(String).join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const growth = shape.length > 0 ? ' '.repeat(Math.max(0, 21 - String(shape[0]).length)) : '';
  return dict + growth;
}
