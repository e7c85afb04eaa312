import type { ChunkRequest, RecordOutcome } from '@switchyard/handlers';
import type { ModelRuntime } from '../runtime/model-runtime.js';

/**
 * Run every record of a batch-job chunk through a model at once, so the dynamic
 * batcher groups them; one outcome per record, in order. A record's failure is its
 * own outcome and never stops the others.
 *
 * @example
 * ```ts
 * const outcomes = await runChunk(decodeChunkRequest(job.data), runtime);
 * ```
 */
export async function runChunk(
  chunk: ChunkRequest,
  runtime: Pick<ModelRuntime, 'invoke'>,
): Promise<RecordOutcome[]> {
  const enqueuedAt = Date.now();
  const deadline = enqueuedAt + chunk.recordTimeoutMs;
  return Promise.all(
    chunk.records.map(async (body, i): Promise<RecordOutcome> => {
      const result = await runtime.invoke({
        requestId: `${chunk.batchId}-${chunk.index}-${i}`,
        body,
        contentType: chunk.contentType,
        accept: chunk.accept,
        customAttributes: undefined,
        deadline,
        enqueuedAt,
      });
      return result.ok
        ? { ok: true, contentType: result.contentType, body: result.body }
        : { ok: false, error: { code: result.error.code, message: result.error.message } };
    }),
  );
}
