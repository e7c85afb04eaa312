import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { HandlerLogger } from '@switchyard/handlers';
import ort from 'onnxruntime-node';

export type ExecutionProvider = 'cpu' | 'cuda';
export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

export interface OnnxSessionOptions {
  /**
   * Threads one operator may use.
   * @defaultValue 0 (onnxruntime picks: one per core)
   */
  intraOpNumThreads?: number;
  /** @defaultValue 0 (onnxruntime picks) */
  interOpNumThreads?: number;
  /** @defaultValue `'all'` */
  graphOptimizationLevel?: GraphOptimizationLevel;
  /**
   * Where the model runs. `cuda` falls back to `cpu`, with a warning, where the CUDA
   * provider or a GPU is missing.
   * @defaultValue `'cpu'`
   */
  executionProvider?: ExecutionProvider;
  /** GPU ordinal for `cuda`. @defaultValue 0 */
  deviceId?: number;
}

export interface OpenedSession {
  readonly session: ort.InferenceSession;
  /** The provider the session actually runs on. */
  readonly provider: ExecutionProvider;
}

/**
 * The model's ONNX file: `model.onnx` if present, else the only `.onnx` file at the
 * top of the model directory.
 */
export async function findOnnxFile(modelDir: string): Promise<string> {
  const files = (await readdir(modelDir)).filter((f) => f.endsWith('.onnx')).sort();
  if (files.includes('model.onnx')) return join(modelDir, 'model.onnx');
  const [only, ...rest] = files;
  if (only === undefined) throw new Error(`no .onnx file at the top of ${modelDir}`);
  if (rest.length > 0) {
    throw new Error(
      `several .onnx files in ${modelDir} (${files.join(', ')}): name the one to serve model.onnx`,
    );
  }
  return join(modelDir, only);
}

/** Open an inference session, falling back from CUDA to CPU rather than failing. */
export async function openSession(
  file: string,
  options: OnnxSessionOptions,
  logger: HandlerLogger,
): Promise<OpenedSession> {
  const base: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: options.intraOpNumThreads ?? 0,
    interOpNumThreads: options.interOpNumThreads ?? 0,
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    // onnxruntime's operator threads spin while they wait for work, which suits
    // cores of their own; here they share the cores with the worker's main thread
    // (decoding, BullMQ, replies) and, on small machines, with Redis and the
    // gateway. Spinning took CPU from those and lowered end-to-end throughput.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  if (options.executionProvider === 'cuda') {
    const deviceId = options.deviceId ?? 0;
    try {
      const session = await ort.InferenceSession.create(file, {
        ...base,
        executionProviders: [{ name: 'cuda', deviceId }],
      });
      return { session, provider: 'cuda' };
    } catch (error) {
      logger.warn(
        { err: error instanceof Error ? error.message : String(error), deviceId },
        'CUDA execution provider unavailable; running on CPU',
      );
    }
  }
  const session = await ort.InferenceSession.create(file, { ...base, executionProviders: ['cpu'] });
  return { session, provider: 'cpu' };
}
