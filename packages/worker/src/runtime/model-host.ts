import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { InferenceError, type HandlerLogger } from '@switchyard/handlers';
import type { ModelRuntime, ModelRuntimeOptions } from './model-runtime.js';
import { ownedBytes, type FromThread, type ToThread } from './thread-messages.js';
import type { RuntimeInfo, RuntimeRequest, RuntimeResult } from './types.js';

/** A model runtime in a worker thread: the same interface, off the main event loop. */
export interface ModelHost extends ModelRuntime {
  /** False once the thread has died; requests then fail with UNAVAILABLE. */
  readonly alive: boolean;
}

/**
 * The compiled thread entry. Under Vitest this module runs from `src/*.ts`, but a
 * worker thread runs plain Node, so it takes the built file from `dist/`.
 */
function threadEntry(): URL {
  const here = import.meta.url;
  const url = here.endsWith('.ts')
    ? new URL(here.replace('/src/', '/dist/').replace(/model-host\.ts$/, 'model-thread.js'))
    : new URL('./model-thread.js', here);
  if (!existsSync(fileURLToPath(url))) {
    throw new Error(`${fileURLToPath(url)} is missing: run \`pnpm build\` first`);
  }
  return url;
}

/**
 * The parent's Node flags minus custom resolve conditions: a test runner that
 * resolves workspace packages to their TypeScript source passes `--conditions`,
 * and the thread, running plain Node, must load the built JavaScript instead.
 */
function threadExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--conditions' || arg === '-C') i++;
    else if (!arg.startsWith('--conditions=')) out.push(arg);
  }
  return out;
}

/**
 * Start a model in its own worker thread and wait until it is loaded and warm.
 * Bodies passed to `invoke` are moved to the thread (their buffers transferred
 * where they own them): callers must not reuse them.
 *
 * @example
 * ```ts
 * const host = await startModelHost({ modelDir, modelName: 'iris' , logger });
 * const result = await host.invoke(request);
 * await host.close();
 * ```
 */
export async function startModelHost(
  options: ModelRuntimeOptions & {
    /** Called if the thread exits after it was ready and before `close()`. */
    onUnexpectedExit?: (code: number) => void;
  },
): Promise<ModelHost> {
  const { logger, onUnexpectedExit, ...data } = options;
  let closing = false;
  let ready = false;
  const worker = new Worker(threadEntry(), { workerData: data, execArgv: threadExecArgv() });
  const pending = new Map<number, (result: RuntimeResult) => void>();
  let nextId = 0;
  let alive = true;
  let closed: (() => void) | undefined;

  const unavailable = (why: string): RuntimeResult => ({
    ok: false,
    error: new InferenceError('UNAVAILABLE', why).toJSON(),
    timings: { queueMs: 0, batchWaitMs: 0, computeMs: 0, batchSize: 0 },
  });

  const info = await new Promise<RuntimeInfo>((resolve, reject) => {
    worker.on('message', (message: FromThread) => {
      switch (message.type) {
        case 'ready':
          ready = true;
          resolve(message.info);
          break;
        case 'failed':
          reject(new Error(`model "${data.modelName}" failed to load: ${message.message}`));
          break;
        case 'result':
          pending.get(message.id)?.(message.result);
          pending.delete(message.id);
          break;
        case 'log':
          forward(logger, message);
          break;
        case 'closed':
          closed?.();
          break;
      }
    });
    worker.on('error', (error) => {
      logger.error({ err: error.message }, 'model thread crashed');
      reject(error);
    });
    worker.on('exit', (code) => {
      alive = false;
      for (const resolvePending of pending.values()) {
        resolvePending(unavailable(`model thread exited (code ${code})`));
      }
      pending.clear();
      reject(new Error(`model thread exited (code ${code}) before the model was ready`));
      if (ready && !closing) onUnexpectedExit?.(code);
    });
  });

  return {
    info,
    get alive() {
      return alive;
    },
    invoke(request: RuntimeRequest): Promise<RuntimeResult> {
      if (!alive) return Promise.resolve(unavailable('model thread is not running'));
      const id = nextId++;
      const { body, ...rest } = request;
      const owned = ownedBytes(body);
      return new Promise((resolve) => {
        pending.set(id, resolve);
        const message: ToThread = { type: 'invoke', id, request: rest, body: owned.buffer };
        worker.postMessage(message, [owned.buffer]);
      });
    },
    async close() {
      closing = true;
      if (!alive) return;
      const done = new Promise<void>((resolve) => (closed = resolve));
      worker.postMessage({ type: 'close' } satisfies ToThread);
      await done;
      await worker.terminate();
    },
  };
}

function forward(logger: HandlerLogger, message: Extract<FromThread, { type: 'log' }>): void {
  logger[message.level](message.fields, message.msg);
}
