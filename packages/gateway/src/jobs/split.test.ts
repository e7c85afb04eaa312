import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { splitLines, type InputChunk } from './split.js';

async function chunksOf(
  text: string | string[],
  limits = { maxRecordsPerJob: 3, maxPayloadBytes: 1024 },
): Promise<InputChunk[]> {
  const pieces = typeof text === 'string' ? [text] : text;
  const out: InputChunk[] = [];
  for await (const chunk of splitLines(Readable.from(pieces.map((p) => Buffer.from(p))), limits)) {
    out.push(chunk);
  }
  return out;
}

const summary = (chunks: InputChunk[]) =>
  chunks.map((c) => ({
    index: c.index,
    records: c.records.map((r) =>
      'body' in r ? [r.line, Buffer.from(r.body).toString()] : [r.line, r.error.code],
    ),
  }));

describe('splitLines', () => {
  it('cuts records into chunks of maxRecordsPerJob, numbering lines from 1', async () => {
    const chunks = await chunksOf('a\nb\nc\nd\ne\n');
    expect(summary(chunks)).toEqual([
      {
        index: 0,
        records: [
          [1, 'a'],
          [2, 'b'],
          [3, 'c'],
        ],
      },
      {
        index: 1,
        records: [
          [4, 'd'],
          [5, 'e'],
        ],
      },
    ]);
  });

  it('treats a missing final newline and CRLF line ends like LF', async () => {
    const chunks = await chunksOf('a\r\nb\r\nc');
    expect(summary(chunks)).toEqual([
      {
        index: 0,
        records: [
          [1, 'a'],
          [2, 'b'],
          [3, 'c'],
        ],
      },
    ]);
  });

  it('joins lines that arrive split across stream chunks', async () => {
    const chunks = await chunksOf(['[1,', '2]\n[3', ',4]\n']);
    expect(summary(chunks)).toEqual([
      {
        index: 0,
        records: [
          [1, '[1,2]'],
          [2, '[3,4]'],
        ],
      },
    ]);
  });

  it('keeps blank lines as failed records so output lines stay aligned', async () => {
    const chunks = await chunksOf('a\n\n  \nb\n');
    expect(summary(chunks)).toEqual([
      {
        index: 0,
        records: [
          [1, 'a'],
          [2, 'INVALID_INPUT'],
          [3, 'INVALID_INPUT'],
        ],
      },
      { index: 1, records: [[4, 'b']] },
    ]);
  });

  it('closes a chunk before it passes maxPayloadBytes, and fails a record larger than it alone', async () => {
    const limits = { maxRecordsPerJob: 100, maxPayloadBytes: 10 };
    const chunks = await chunksOf('aaaa\nbbbb\ncccc\nthis line is too long\nd\n', limits);
    expect(summary(chunks)).toEqual([
      {
        index: 0,
        records: [
          [1, 'aaaa'],
          [2, 'bbbb'],
        ],
      },
      {
        index: 1,
        records: [
          [3, 'cccc'],
          [4, 'PAYLOAD_TOO_LARGE'],
          [5, 'd'],
        ],
      },
    ]);
  });

  it('gives the same chunks for the same input, so a resumed job skips the right ones', async () => {
    const text = Array.from({ length: 1000 }, (_, i) => `${i},${i * 2}`).join('\n');
    const limits = { maxRecordsPerJob: 64, maxPayloadBytes: 300 };
    expect(summary(await chunksOf(text, limits))).toEqual(
      summary(await chunksOf(text.match(/[\s\S]{1,97}/g) ?? [], limits)),
    );
  });

  it('yields nothing for an empty input', async () => {
    expect(await chunksOf('')).toEqual([]);
  });
});
