// Entry point of the model thread: the model, the user's handler code and the
// batcher live here, so neither model execution nor user code can stall the
// main thread's event loop (BullMQ lock renewal, health checks, replies).
import { parentPort, workerData } from 'node:worker_threads';
import type { HandlerLogger } from '@switchyard/handlers';
import { createModelRuntime, type ModelRuntimeOptions } from './model-runtime.js';
import { ownedBytes, type FromThread, type ToThread } from './thread-messages.js';

const port = parentPort;
if (port === null) throw new Error('model-thread.js runs as a worker thread');
const post = (message: FromThread, transfer: ArrayBuffer[] = []): void => {
  port.postMessage(message, transfer);
};

const log =
  (level: 'debug' | 'info' | 'warn' | 'error') =>
  (fields: object | string, msg?: string): void => {
    post(
      typeof fields === 'string'
        ? { type: 'log', level, fields: {}, msg: fields }
        : { type: 'log', level, fields: { ...fields }, msg: msg ?? '' },
    );
  };
const logger: HandlerLogger = {
  debug: log('debug'),
  info: log('info'),
  warn: log('warn'),
  error: log('error'),
};

try {
  const options = workerData as Omit<ModelRuntimeOptions, 'logger'>;
  const runtime = await createModelRuntime({ ...options, logger });
  port.on('message', (message: ToThread) => {
    if (message.type === 'close') {
      void runtime.close().then(() => {
        post({ type: 'closed' });
        port.close();
      });
      return;
    }
    void runtime
      .invoke({ ...message.request, body: new Uint8Array(message.body) })
      .then((result) => {
        if (!result.ok) {
          post({ type: 'result', id: message.id, result });
          return;
        }
        const body = ownedBytes(result.body);
        post({ type: 'result', id: message.id, result: { ...result, body } }, [body.buffer]);
      });
  });
  post({ type: 'ready', info: runtime.info });
} catch (error) {
  post({
    type: 'failed',
    message: error instanceof Error ? error.message : String(error),
    stack: error instanceof Error ? (error.stack ?? '') : '',
  });
}
