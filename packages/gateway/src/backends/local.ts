import type { HandlerLogger } from '@switchyard/handlers';
import { resolveModelSource, runChunk, startModelHost } from '@switchyard/worker';
import { singleModelOnly, type Backend } from './backend.js';

/**
 * The worker runtime inside the gateway process (in its own thread): the embedded
 * default, and the simplest way to serve a model without Redis.
 */
export async function createLocalBackend(options: {
  modelName: string;
  variant: string;
  model: string;
  maxBatchSize: number;
  maxDelayMs: number;
  logger: HandlerLogger;
}): Promise<Backend> {
  const host = await startModelHost({
    modelDir: await resolveModelSource(options.model),
    modelName: options.modelName,
    variant: options.variant,
    batching: { maxBatchSize: options.maxBatchSize, maxDelayMs: options.maxDelayMs },
    logger: options.logger,
  });
  return {
    type: 'local',
    async invoke(request) {
      if (request.targetModel !== undefined) return singleModelOnly(options.modelName);
      // The model thread takes ownership of the bytes it is given; the router may
      // still need them (fallback, shadow), so it gets a copy.
      const result = await host.invoke({
        ...request,
        body: new Uint8Array(request.body),
        enqueuedAt: Date.now(),
      });
      return result.ok
        ? {
            ok: true,
            body: result.body,
            contentType: result.contentType,
            batchSize: result.timings.batchSize,
          }
        : { ok: false, error: result.error };
    },
    // All records at once: the model thread's batcher groups them.
    runChunk: (chunk) => runChunk(chunk, host),
    healthy: () => host.alive,
    close: () => host.close(),
  };
}
