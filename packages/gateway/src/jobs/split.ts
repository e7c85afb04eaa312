import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { InferenceErrorCode } from '@switchyard/handlers';

/** One input record: its bytes, or why it cannot be sent. Lines count from 1. */
export type InputRecord =
  | { readonly line: number; readonly body: Uint8Array }
  | {
      readonly line: number;
      readonly error: { readonly code: InferenceErrorCode; readonly message: string };
    };

/** Consecutive records sent to a worker as one job. */
export interface InputChunk {
  /** Its place in the input, from 0; the same input and limits give the same chunks. */
  readonly index: number;
  readonly records: readonly InputRecord[];
}

export interface ChunkLimits {
  /** Most records in one chunk (SageMaker's MultiRecord batching). */
  readonly maxRecordsPerJob: number;
  /** Most record bytes in one chunk; a single record above it fails alone. */
  readonly maxPayloadBytes: number;
}

/**
 * Cut a line-split input (JSON Lines, CSV) into chunks while it streams: only the
 * chunk being filled is in memory. Every line is a record, blank ones included (they
 * fail, so output line i still answers input line i); a final newline ends the last
 * line rather than starting an empty one.
 *
 * @example
 * ```ts
 * for await (const chunk of splitLines(await store.get(key), limits)) send(chunk);
 * ```
 */
export async function* splitLines(
  input: Readable,
  limits: ChunkLimits,
): AsyncGenerator<InputChunk> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let records: InputRecord[] = [];
  let bytes = 0;
  let index = 0;
  let line = 0;
  for await (const text of lines) {
    line++;
    const body = Buffer.from(text);
    let record: InputRecord;
    if (text.trim() === '') {
      record = { line, error: { code: 'INVALID_INPUT', message: 'the line is empty' } };
    } else if (body.byteLength > limits.maxPayloadBytes) {
      record = {
        line,
        error: {
          code: 'PAYLOAD_TOO_LARGE',
          message: `the record is ${body.byteLength} bytes, over the job's maxPayloadBytes of ${limits.maxPayloadBytes}`,
        },
      };
    } else {
      record = { line, body };
    }
    const size = 'body' in record ? record.body.byteLength : 0;
    if (records.length >= limits.maxRecordsPerJob || bytes + size > limits.maxPayloadBytes) {
      yield { index: index++, records };
      records = [];
      bytes = 0;
    }
    records.push(record);
    bytes += size;
  }
  if (records.length > 0) yield { index, records };
}
