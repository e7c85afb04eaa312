import {
  formatShape,
  isTensor,
  namedTensors,
  split,
  stack,
  type Decoded,
  type NamedTensors,
  type Tensor,
} from '@switchyard/handlers';

/** How a decoded input takes part in batching: its stack key and row count. */
export interface BatchShape {
  readonly key: string;
  readonly rows: number;
}

/**
 * The batch key of an input: tensors (or named tensors sharing a first dimension)
 * batch with others of the same dtypes and trailing shapes. Anything else — a
 * scalar, a custom object from a user `inputFn` — runs alone (`undefined`).
 */
export function batchShapeOf(input: unknown): BatchShape | undefined {
  if (isTensor(input)) {
    const [rows] = input.shape;
    return rows === undefined ? undefined : { key: keyOf('', input), rows };
  }
  if (typeof input !== 'object' || input === null) return undefined;
  const entries = Object.entries(input as Record<string, unknown>).sort(([a], [b]) =>
    a < b ? -1 : 1,
  );
  if (entries.length === 0 || !entries.every(([, t]) => isTensor(t))) return undefined;
  const tensors = entries as [string, Tensor][];
  const rows = tensors[0]?.[1].shape[0];
  if (rows === undefined || tensors.some(([, t]) => t.shape[0] !== rows)) return undefined;
  return { key: tensors.map(([name, t]) => keyOf(name, t)).join('|'), rows };
}

function keyOf(name: string, t: Tensor): string {
  return `${name}:${t.dtype}${formatShape(t.shape.slice(1))}`;
}

/** Stack inputs of one key into one batch input. */
export function stackInputs(inputs: readonly Decoded[]): Decoded {
  const [first] = inputs;
  if (first === undefined) throw new Error('no inputs to stack');
  if (isTensor(first)) return stack(inputs as Tensor[]);
  const out = namedTensors();
  for (const name of Object.keys(first)) {
    out[name] = stack(inputs.map((i) => (i as NamedTensors)[name] as Tensor));
  }
  return out;
}

/**
 * Cut a batch prediction back into one per request by row counts. Returns
 * `undefined` when the prediction does not keep one row per input row.
 */
export function splitPrediction(
  prediction: unknown,
  rows: readonly number[],
): unknown[] | undefined {
  const total = rows.reduce((a, b) => a + b, 0);
  if (isTensor(prediction)) {
    return prediction.shape[0] === total ? split(prediction, rows) : undefined;
  }
  if (typeof prediction !== 'object' || prediction === null) return undefined;
  const entries = Object.entries(prediction as Record<string, unknown>);
  if (!entries.every(([, t]) => isTensor(t) && t.shape[0] === total)) return undefined;
  const pieces = rows.map(() => namedTensors());
  for (const [name, t] of entries as [string, Tensor][]) {
    split(t, rows).forEach((piece, i) => {
      (pieces[i] as Record<string, Tensor>)[name] = piece;
    });
  }
  return pieces;
}
