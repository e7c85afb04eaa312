import {
  InferenceError,
  createTensor,
  formatShape,
  isDType,
  isTensor,
  namedTensors,
  type Decoded,
  type DType,
  type NamedTensors,
  type Tensor,
} from '@switchyard/handlers';
import ort from 'onnxruntime-node';
import { castTensor } from './cast.js';
import type { ExecutionProvider } from './session.js';

/** One model input or output as the ONNX graph declares it. */
export interface TensorSpec {
  readonly name: string;
  readonly dtype: DType;
  /** Fixed dimensions as numbers; symbolic or free ones (the batch axis) as `undefined`. */
  readonly shape: readonly (number | undefined)[];
}

/** What the default `modelFn` returns: the session and its signature. */
export interface OnnxModel {
  readonly kind: 'onnx';
  readonly session: ort.InferenceSession;
  readonly provider: ExecutionProvider;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

export function isOnnxModel(value: unknown): value is OnnxModel {
  return (
    typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'onnx'
  );
}

function specs(metadata: readonly ort.InferenceSession.ValueMetadata[]): TensorSpec[] {
  return metadata.map((m) => {
    if (!m.isTensor || !isDType(m.type)) {
      throw new Error(
        `model value "${m.name}" has type ${m.isTensor ? m.type : 'non-tensor'}, which is not served`,
      );
    }
    return {
      name: m.name,
      dtype: m.type,
      shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : undefined)),
    };
  });
}

export function describeModel(
  session: ort.InferenceSession,
  provider: ExecutionProvider,
): OnnxModel {
  return {
    kind: 'onnx',
    session,
    provider,
    inputs: specs(session.inputMetadata),
    outputs: specs(session.outputMetadata),
  };
}

const formatSpec = (spec: TensorSpec) =>
  `[${spec.shape.map((d, i) => d ?? (i === 0 ? 'N' : '?')).join(', ')}]`;

/**
 * Match a decoded body to the model's inputs: one tensor for a single-input model,
 * or tensors named after the inputs. Each is cast to its input's dtype and checked
 * against its fixed dimensions; one instance without the batch axis gets it.
 */
export function toModelInputs(decoded: Decoded, model: OnnxModel): NamedTensors {
  const named: NamedTensors = isTensor(decoded) ? singleInput(decoded, model) : decoded;
  const expected = new Set(model.inputs.map((i) => i.name));
  const unknown = Object.keys(named).filter((n) => !expected.has(n));
  if (unknown.length > 0) {
    throw new InferenceError(
      'INVALID_INPUT',
      `unknown input ${unknown.map((n) => `"${n}"`).join(', ')}; the model takes ${[...expected].map((n) => `"${n}"`).join(', ')}`,
    );
  }
  const out = namedTensors();
  for (const spec of model.inputs) {
    const tensor = named[spec.name];
    if (tensor === undefined) {
      throw new InferenceError(
        'INVALID_INPUT',
        `missing input "${spec.name}" ${spec.dtype}${formatSpec(spec)}`,
      );
    }
    out[spec.name] = fitShape(castTensor(tensor, spec.dtype, spec.name), spec);
  }
  return out;
}

function singleInput(tensor: Tensor, model: OnnxModel): NamedTensors {
  const [only, ...others] = model.inputs;
  if (only === undefined || others.length > 0) {
    throw new InferenceError(
      'INVALID_INPUT',
      `the model takes ${model.inputs.length} inputs (${model.inputs.map((i) => `"${i.name}"`).join(', ')}): send them by name (JSON object or NPZ)`,
    );
  }
  return { [only.name]: tensor };
}

function fitShape(tensor: Tensor, spec: TensorSpec): Tensor {
  let shape = tensor.shape;
  if (shape.length === spec.shape.length - 1) shape = [1, ...shape];
  const fits =
    shape.length === spec.shape.length &&
    spec.shape.every((d, i) => d === undefined || d === shape[i]);
  if (!fits) {
    throw new InferenceError(
      'INVALID_INPUT',
      `input "${spec.name}" expects shape ${formatSpec(spec)}, got ${formatShape(tensor.shape)}`,
      { details: { input: spec.name, expected: formatSpec(spec), got: formatShape(tensor.shape) } },
    );
  }
  return shape === tensor.shape ? tensor : { ...tensor, shape };
}

/** Run the session; a single-output model gives one tensor, others give named tensors. */
export async function runModel(model: OnnxModel, inputs: NamedTensors): Promise<Decoded> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(inputs)) {
    feeds[name] = new ort.Tensor(t.dtype, t.data, [...t.shape]);
  }
  const results = await model.session.run(feeds);
  const out = namedTensors();
  for (const spec of model.outputs) {
    const value = results[spec.name];
    if (value === undefined)
      throw new InferenceError('MODEL_ERROR', `model gave no output "${spec.name}"`);
    out[spec.name] = createTensor(spec.dtype, value.dims, value.data);
  }
  const [first, ...rest] = model.outputs;
  return first !== undefined && rest.length === 0 ? (out[first.name] as Tensor) : out;
}
