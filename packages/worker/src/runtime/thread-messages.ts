import type { RuntimeInfo, RuntimeRequest, RuntimeResult } from './types.js';

/** Messages from the main thread to the model thread. */
export type ToThread =
  | {
      readonly type: 'invoke';
      readonly id: number;
      readonly request: Omit<RuntimeRequest, 'body'>;
      /** The body's own buffer, transferred rather than copied. */
      readonly body: ArrayBuffer;
    }
  | { readonly type: 'close' };

/** Messages from the model thread to the main thread. */
export type FromThread =
  | { readonly type: 'ready'; readonly info: RuntimeInfo }
  | { readonly type: 'failed'; readonly message: string; readonly stack: string }
  | { readonly type: 'result'; readonly id: number; readonly result: RuntimeResult }
  | {
      readonly type: 'log';
      readonly level: 'debug' | 'info' | 'warn' | 'error';
      readonly fields: Record<string, unknown>;
      readonly msg: string;
    }
  | { readonly type: 'closed' };

/**
 * Bytes that own their whole buffer, so the buffer can be transferred. Views into
 * a larger buffer, and Node Buffers (which may sit in Node's shared pool, which
 * cannot be transferred), are copied into a buffer of their own.
 */
export function ownedBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const whole =
    !Buffer.isBuffer(bytes) &&
    bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength &&
    bytes.buffer instanceof ArrayBuffer;
  return whole ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}
