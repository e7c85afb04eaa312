import { InferenceError } from '../errors/inference-error.js';

/** The three fields of an NPY header dictionary. */
export interface NpyHeader {
  readonly descr: string;
  readonly fortranOrder: boolean;
  readonly shape: readonly number[];
}

type Literal = string | boolean | number | Literal[];

const invalid = (message: string): InferenceError =>
  new InferenceError('INVALID_INPUT', `invalid NPY header: ${message}`);

/**
 * Parse the Python-literal dictionary of an NPY header — strings, `True`/`False`,
 * tuples of integers, lists — with a strict grammar. Nothing is ever evaluated.
 */
export function parseNpyHeader(text: string): NpyHeader {
  const parser = new LiteralParser(text);
  const dict = parser.dict();
  parser.end();
  const descr = dict.get('descr');
  const fortranOrder = dict.get('fortran_order');
  const shape = dict.get('shape');
  if (Array.isArray(descr)) {
    throw new InferenceError(
      'INVALID_INPUT',
      'NPY structured (record) dtypes are not supported: send one array per field, or NPZ',
    );
  }
  if (typeof descr !== 'string') throw invalid("'descr' must be a dtype string");
  if (typeof fortranOrder !== 'boolean') throw invalid("'fortran_order' must be True or False");
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number')) {
    throw invalid("'shape' must be a tuple of integers");
  }
  return { descr, fortranOrder, shape: shape };
}

class LiteralParser {
  private pos = 0;
  constructor(private readonly text: string) {}

  dict(): Map<string, Literal> {
    this.expect('{');
    const entries = new Map<string, Literal>();
    for (;;) {
      this.skipSpace();
      if (this.peek() === '}') break;
      const key = this.string();
      this.skipSpace();
      this.expect(':');
      entries.set(key, this.value());
      this.skipSpace();
      if (this.peek() === ',') this.pos++;
      else if (this.peek() !== '}') throw invalid(`expected ',' or '}' at offset ${this.pos}`);
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
    if (ch === '(') return this.sequence('(', ')');
    if (ch === '[') return this.sequence('[', ']');
    if (this.text.startsWith('True', this.pos)) return this.word('True', true);
    if (this.text.startsWith('False', this.pos)) return this.word('False', false);
    throw invalid(`unexpected ${JSON.stringify(ch)} at offset ${this.pos}`);
  }

  // Tuples hold the shape (integers); lists hold structured dtypes (tuples of strings).
  private sequence(open: string, close: string): Literal[] {
    this.expect(open);
    const items: Literal[] = [];
    for (;;) {
      this.skipSpace();
      if (this.peek() === close) break;
      const ch = this.peek();
      items.push(/[0-9]/.test(ch) ? this.integer() : this.value());
      this.skipSpace();
      if (this.peek() === ',') this.pos++;
      else if (this.peek() !== close)
        throw invalid(`expected ',' or '${close}' at offset ${this.pos}`);
    }
    this.pos++;
    return items;
  }

  private integer(): number {
    const match = /^[0-9]+L?/.exec(this.text.slice(this.pos, this.pos + 24));
    if (match === null) throw invalid(`expected an integer at offset ${this.pos}`);
    this.pos += match[0].length;
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
    while (/\s/.test(this.peek())) this.pos++;
  }
}

/**
 * The header dictionary exactly as numpy's `np.save` writes it, including the
 * spare spaces it leaves so the first dimension can grow in place.
 */
export function formatNpyHeader(descr: string, shape: readonly number[]): string {
  const shapeText =
    shape.length === 1 ? `(${shape[0] ?? 0},)` : `(${shape.map(String).join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const growth = shape.length > 0 ? ' '.repeat(Math.max(0, 21 - String(shape[0]).length)) : '';
  return dict + growth;
}
