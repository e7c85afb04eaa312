import { join } from 'node:path';
import { createTensor, encode } from '@switchyard/handlers';
import { describe, expect, it } from 'vitest';
import { MODELS, customModelDir, request, silentLogger } from '../../test/fixtures.js';
import { startModelHost } from './model-host.js';
import { createModelRuntime, type ModelRuntime } from './model-runtime.js';

// A batch of the heavy model big enough to take a while on any machine.
const ROWS = 4096;
const heavyBatch = () =>
  encode(
    createTensor('float32', [ROWS, 512], new Float32Array(ROWS * 512).fill(0.01)),
    'application/x-npy',
  );

/** Run `work` while a 1 ms interval ticks on this thread; the worst lateness seen. */
async function worstTimerLateness(
  work: () => Promise<unknown>,
): Promise<{ lateness: number; took: number }> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 1);
    last = now;
  }, 1);
  const started = performance.now();
  await new Promise((r) => setTimeout(r, 5));
  last = performance.now();
  worst = 0;
  await work();
  // The gap since the last tick counts too: a blocked loop may not tick at all.
  worst = Math.max(worst, performance.now() - last - 1);
  const took = performance.now() - started;
  clearInterval(timer);
  return { lateness: worst, took };
}

const options = {
  modelDir: join(MODELS, 'heavy'),
  modelName: 'heavy',
  logger: silentLogger,
  // One compute thread leaves the other core to the event loop on a 2-core machine.
  onnx: { intraOpNumThreads: 1 },
  batching: { maxBatchSize: ROWS },
  defaultAccept: 'application/x-npy',
};

describe('model execution off the event loop', () => {
  it('keeps main-thread timers on time during a long batch in the model thread', async () => {
    const host = await startModelHost(options);
    try {
      const { body, contentType } = heavyBatch();
      const { lateness, took } = await worstTimerLateness(async () => {
        const result = await host.invoke(request(body, contentType));
        expect(result.ok).toBe(true);
      });
      expect(took).toBeGreaterThan(50); // the batch really was long...
      // ...and timers still fired on time. The bound leaves room for the other test
      // files that share the machine's two cores; the control below stalls for the
      // whole batch (hundreds of ms).
      expect(lateness).toBeLessThan(Math.min(30, took / 10));
    } finally {
      await host.close();
    }
  });

  it('(control) the same batch run on the main thread stalls its timers', async () => {
    const runtime: ModelRuntime = await createModelRuntime(options);
    try {
      const { body, contentType } = heavyBatch();
      const { lateness } = await worstTimerLateness(() =>
        runtime.invoke(request(body, contentType)),
      );
      expect(lateness).toBeGreaterThan(50);
    } finally {
      await runtime.close();
    }
  });

  it('reports a model that cannot load, and answers nothing after close', async () => {
    await expect(
      startModelHost({ ...options, modelDir: join(MODELS, 'no-such-model') }),
    ).rejects.toThrow(/model "heavy" failed to load/);
    const host = await startModelHost({ ...options, modelDir: join(MODELS, 'iris-v1') });
    await host.close();
    expect(host.alive).toBe(false);
    const after = await host.invoke(request('[[1, 2, 3, 4]]', 'application/json'));
    expect(after).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
  });

  it('answers UNAVAILABLE and reports it when the model thread dies mid-request', async () => {
    // In a worker thread, process.exit ends the thread: a crash of the model's side.
    const model = await customModelDir(`
      export const modelFn = () => null;
      export const transformFn = () => { process.exit(3); };
    `);
    const exits: number[] = [];
    const host = await startModelHost({
      modelDir: model.dir,
      modelName: 'crashy',
      logger: silentLogger,
      onUnexpectedExit: (code) => exits.push(code),
    });
    try {
      const result = await host.invoke(request('x', 'text/plain'));
      expect(result).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
      expect(host.alive).toBe(false);
      expect(exits).toEqual([3]);
    } finally {
      await host.close();
      await model.remove();
    }
  });
});
