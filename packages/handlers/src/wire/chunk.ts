import { z } from 'zod';
import { INFERENCE_ERROR_CODES } from '../errors/codes.js';
import type { InferenceError } from '../errors/inference-error.js';
import { fromBase64, toBase64 } from './base64.js';
import { WIRE_VERSION, parseOrThrow as parse } from './job.js';

/**
 * A mini-batch of a batch job as it travels to a worker: records that are each one
 * inference request of the same content type. The worker runs them all through its
 * model at once, so its dynamic batcher groups them.
 *
 * @example
 * ```ts
 * await queue.add('chunk', encodeChunkRequest({ batchId, index: 3, model: 'iris', ... }));
 * ```
 */
const chunkRequestSchema = z.object({
  v: z.literal(WIRE_VERSION),
  batchId: z.string().min(1).max(256),
  /** The chunk's place in the input, from 0. */
  index: z.number().int().nonnegative(),
  model: z.string().min(1).max(256),
  variant: z.string().min(1).max(256).optional(),
  contentType: z.string().min(1).max(256),
  accept: z.string().max(1024).optional(),
  /** Each record's bytes, base64. */
  records: z.array(z.base64()).min(1),
  /** Time each record may take, counted from when the worker starts the chunk. */
  recordTimeoutMs: z.number().int().positive(),
});

type ChunkRequestWire = z.infer<typeof chunkRequestSchema>;
export type ChunkRequest = Omit<ChunkRequestWire, 'v' | 'records'> & {
  readonly records: readonly Uint8Array[];
};

const recordErrorSchema = z.object({
  code: z.enum(INFERENCE_ERROR_CODES),
  message: z.string(),
});

/** One answer per record, in the order of the records. */
const chunkResultSchema = z.object({
  v: z.literal(WIRE_VERSION),
  outputs: z.array(
    z.discriminatedUnion('ok', [
      z.object({ ok: z.literal(true), contentType: z.string().min(1), body: z.base64() }),
      z.object({ ok: z.literal(false), error: recordErrorSchema }),
    ]),
  ),
});

type ChunkResultWire = z.infer<typeof chunkResultSchema>;
export type RecordOutcome =
  | { readonly ok: true; readonly contentType: string; readonly body: Uint8Array }
  | {
      readonly ok: false;
      readonly error: { readonly code: InferenceError['code']; readonly message: string };
    };

export function encodeChunkRequest(chunk: ChunkRequest): ChunkRequestWire {
  return chunkRequestSchema.parse({
    ...chunk,
    v: WIRE_VERSION,
    records: chunk.records.map(toBase64),
  });
}

export function decodeChunkRequest(data: unknown): ChunkRequest {
  const { v, records, ...rest } = parse(chunkRequestSchema, data, 'chunk request');
  return { ...rest, records: records.map(fromBase64) };
}

export function encodeChunkResult(outputs: readonly RecordOutcome[]): ChunkResultWire {
  return {
    v: WIRE_VERSION,
    outputs: outputs.map((o) =>
      o.ok
        ? { ok: true, contentType: o.contentType, body: toBase64(o.body) }
        : { ok: false, error: { code: o.error.code, message: o.error.message } },
    ),
  };
}

export function decodeChunkResult(data: unknown): RecordOutcome[] {
  return parse(chunkResultSchema, data, 'chunk result').outputs.map((o) =>
    o.ok ? { ok: true, contentType: o.contentType, body: fromBase64(o.body) } : o,
  );
}
