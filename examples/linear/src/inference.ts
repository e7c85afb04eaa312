import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  InferenceError,
  createTensor,
  defineHandler,
  formatShape,
  isTensor,
  type Decoded,
  type Tensor,
} from '@switchyard/handlers';

/** The model as `modelFn` loads it from `model.json`. */
export interface LinearModel {
  readonly weights: readonly (readonly number[])[];
  readonly bias: readonly number[];
  readonly features: number;
  readonly classes: number;
}

/**
 * A handler module in the shape users write: `modelFn` and `predictFn` here;
 * input and output come from the runtime's codec defaults (JSON, CSV, NPY, NPZ).
 */
export default defineHandler({
  async modelFn(modelDir): Promise<LinearModel> {
    const raw = JSON.parse(await readFile(join(modelDir, 'model.json'), 'utf8')) as {
      weights: number[][];
      bias: number[];
    };
    return {
      weights: raw.weights,
      bias: raw.bias,
      features: raw.weights.length,
      classes: raw.bias.length,
    };
  },

  warmupFn(_modelDir, model, ctx) {
    // One zero row through the math, so the first real request pays no first-call cost.
    softmaxScores(
      createTensor('float32', [1, model.features], new Float32Array(model.features)),
      model,
    );
    ctx.logger.info({ features: model.features, classes: model.classes }, 'model warm');
  },

  predictFn(input: Decoded, model: LinearModel): Tensor<'float32'> {
    if (!isTensor(input) || input.shape.length !== 2 || input.shape[1] !== model.features) {
      const got = isTensor(input) ? formatShape(input.shape) : 'named tensors';
      throw new InferenceError(
        'INVALID_INPUT',
        `expected rows of ${model.features} features, shape [n, ${model.features}]; got ${got}`,
      );
    }
    return softmaxScores(input, model);
  },
});

function softmaxScores(input: Tensor, model: LinearModel): Tensor<'float32'> {
  const rows = input.shape[0] ?? 0;
  const values = Float32Array.from(input.data as ArrayLike<number>, Number);
  const out = new Float32Array(rows * model.classes);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let c = 0; c < model.classes; c++) {
      let z = model.bias[c] ?? 0;
      for (let f = 0; f < model.features; f++) {
        z += (values[r * model.features + f] ?? 0) * (model.weights[f]?.[c] ?? 0);
      }
      out[r * model.classes + c] = z;
      max = Math.max(max, z);
    }
    let sum = 0;
    for (let c = 0; c < model.classes; c++) {
      const e = Math.exp((out[r * model.classes + c] ?? 0) - max);
      out[r * model.classes + c] = e;
      sum += e;
    }
    for (let c = 0; c < model.classes; c++) {
      const i = r * model.classes + c;
      out[i] = (out[i] ?? 0) / sum;
    }
  }
  return createTensor('float32', [rows, model.classes], out);
}
