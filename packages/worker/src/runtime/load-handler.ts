import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  decode,
  encode,
  isTensor,
  resolveHandler,
  type Decoded,
  type HandlerDefaults,
  type NamedTensors,
  type ResolvedHandler,
} from '@switchyard/handlers';
import { isOnnxModel, runModel, toModelInputs, type OnnxModel } from '../onnx/onnx-model.js';
import { describeModel } from '../onnx/onnx-model.js';
import { findOnnxFile, openSession, type OnnxSessionOptions } from '../onnx/session.js';

/** Where SageMaker's layout puts user code, in the order looked for. */
const HANDLER_FILES = ['code/inference.mjs', 'code/inference.js'];

/** The user module in a model directory, if there is one. */
async function findHandlerFile(modelDir: string): Promise<string | undefined> {
  for (const relative of HANDLER_FILES) {
    const file = join(modelDir, relative);
    try {
      await access(file);
      return file;
    } catch {
      // not there: try the next name
    }
  }
  return undefined;
}

/**
 * The default handler functions: serve the directory's ONNX file. `inputFn` decodes
 * by content type, then casts and shape-checks against the model's inputs when the
 * model is the default ONNX one (a user `modelFn` may return anything).
 */
export function onnxDefaults(
  options: OnnxSessionOptions,
  defaultAccept: string,
  current: () => unknown,
): HandlerDefaults {
  return {
    async modelFn(modelDir, ctx): Promise<OnnxModel> {
      const file = await findOnnxFile(modelDir);
      const { session, provider } = await openSession(file, options, ctx.logger);
      return describeModel(session, provider);
    },
    inputFn(body, contentType) {
      const model = current();
      if (!isOnnxModel(model)) return decode(body, contentType);
      // Text formats carry no dtype: read them as the inputs' dtype when all agree.
      const dtypes = new Set(model.inputs.map((i) => i.dtype));
      const [dtype] = dtypes;
      const decoded = decode(
        body,
        contentType,
        dtypes.size === 1 && dtype !== undefined ? { dtype } : {},
      );
      return toModelInputs(decoded, model);
    },
    async predictFn(input, model) {
      if (!isOnnxModel(model)) {
        throw new Error('the model from a custom modelFn needs a predictFn of its own');
      }
      return runModel(model, input as NamedTensors);
    },
    outputFn(prediction, accept) {
      if (!isTensor(prediction) && (typeof prediction !== 'object' || prediction === null)) {
        throw new Error('the default outputFn encodes tensors; return a tensor or named tensors');
      }
      return encode(prediction as Decoded, accept, { defaultAccept });
    },
  };
}

/** Import the directory's user module (if any) and resolve it over the defaults. */
export async function loadHandler(
  modelDir: string,
  defaults: HandlerDefaults,
): Promise<ResolvedHandler> {
  const file = await findHandlerFile(modelDir);
  if (file === undefined) return resolveHandler({}, { defaults, source: modelDir });
  const module: unknown = await import(pathToFileURL(file).href);
  return resolveHandler(module, { defaults, source: file });
}
