// Small, deterministic trainers for the example models: softmax regression and a
// one-hidden-layer MLP, full-batch Adam on standardised features. Plain arrays
// of float64; the Iris set has 150 rows, so speed is no concern.

/** @typedef {{ weights: number[][][]; biases: number[][] }} Layers */

/** mulberry32: a seeded PRNG so every run writes the same model. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Per-feature mean and standard deviation. */
export function standardiser(rows) {
  const cols = rows[0].length;
  const mean = Array.from(
    { length: cols },
    (_, c) => rows.reduce((s, r) => s + r[c], 0) / rows.length,
  );
  const std = mean.map((m, c) =>
    Math.sqrt(rows.reduce((s, r) => s + (r[c] - m) ** 2, 0) / rows.length),
  );
  return { mean, std };
}

function softmaxRows(logits) {
  return logits.map((row) => {
    const max = Math.max(...row);
    const exps = row.map((z) => Math.exp(z - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    return exps.map((e) => e / sum);
  });
}

function matmulAdd(x, w, b) {
  return x.map((row) => b.map((bj, j) => row.reduce((s, xi, i) => s + xi * w[i][j], bj)));
}

function transposeMul(a, g) {
  // aᵀ · g, the weight gradient.
  return a[0].map((_, i) => g[0].map((_, j) => a.reduce((s, row, n) => s + row[i] * g[n][j], 0)));
}

/** Forward pass through dense layers, ReLU between them, softmax at the end. */
function forward(layers, x) {
  const activations = [x];
  let h = x;
  layers.weights.forEach((w, l) => {
    const z = matmulAdd(h, w, layers.biases[l]);
    h =
      l === layers.weights.length - 1 ? softmaxRows(z) : z.map((r) => r.map((v) => Math.max(0, v)));
    activations.push(h);
  });
  return activations;
}

/**
 * Train dense layers of the given sizes (e.g. [4, 3] or [4, 16, 3]) on standardised
 * features with cross-entropy (plus optional L2 weight decay) and Adam; returns the
 * layers and the training accuracy.
 */
export function train(x, labels, sizes, { steps, learningRate, seed, weightDecay = 0 }) {
  const random = prng(seed);
  const layers = {
    weights: sizes.slice(1).map((out, l) => {
      const fanIn = sizes[l];
      const scale = Math.sqrt(2 / fanIn);
      return Array.from({ length: fanIn }, () =>
        Array.from({ length: out }, () => (random() * 2 - 1) * scale),
      );
    }),
    biases: sizes.slice(1).map((out) => new Array(out).fill(0)),
  };
  const params = [...layers.weights, ...layers.biases.map((b) => [b])];
  const m = params.map((p) => p.map((r) => r.map(() => 0)));
  const v = params.map((p) => p.map((r) => r.map(() => 0)));
  const [beta1, beta2] = [0.9, 0.999];
  for (let step = 1; step <= steps; step++) {
    const acts = forward(layers, x);
    // d(cross-entropy)/d(logits) = probabilities - one-hot, averaged.
    let grad = acts[acts.length - 1].map((row, n) =>
      row.map((p, j) => (p - (labels[n] === j ? 1 : 0)) / x.length),
    );
    const gradW = [];
    const gradB = [];
    for (let l = layers.weights.length - 1; l >= 0; l--) {
      gradW[l] = transposeMul(acts[l], grad);
      gradB[l] = [grad[0].map((_, j) => grad.reduce((s, row) => s + row[j], 0))];
      if (l > 0) {
        const w = layers.weights[l];
        grad = grad.map((row, n) =>
          w.map((wi, i) => (acts[l][n][i] > 0 ? wi.reduce((s, wij, j) => s + wij * row[j], 0) : 0)),
        );
      }
    }
    // L2 on weights (not biases) keeps probabilities from saturating at 0 and 1.
    gradW.forEach((g, l) =>
      g.forEach((row, i) =>
        row.forEach((_, j) => (row[j] += weightDecay * layers.weights[l][i][j])),
      ),
    );
    const grads = [...gradW, ...gradB];
    params.forEach((p, k) => {
      p.forEach((row, i) =>
        row.forEach((_, j) => {
          const g = grads[k][i][j];
          m[k][i][j] = beta1 * m[k][i][j] + (1 - beta1) * g;
          v[k][i][j] = beta2 * v[k][i][j] + (1 - beta2) * g * g;
          const mHat = m[k][i][j] / (1 - beta1 ** step);
          const vHat = v[k][i][j] / (1 - beta2 ** step);
          row[j] -= (learningRate * mHat) / (Math.sqrt(vHat) + 1e-8);
        }),
      );
    });
  }
  const probabilities = forward(layers, x).at(-1);
  const correct = probabilities.filter(
    (row, n) => row.indexOf(Math.max(...row)) === labels[n],
  ).length;
  return { layers, accuracy: correct / x.length };
}

/**
 * Fold the standardisation into the first layer, so the model takes raw
 * centimetres: W' = W / σ (per input row), b' = b - Σ μ_i W'_i.
 */
export function foldStandardiser(layers, { mean, std }) {
  const [w0, ...restW] = layers.weights;
  const [b0, ...restB] = layers.biases;
  const w = w0.map((row, i) => row.map((x) => x / std[i]));
  const b = b0.map((bj, j) => bj - w.reduce((s, row, i) => s + mean[i] * row[j], 0));
  return { weights: [w, ...restW], biases: [b, ...restB] };
}
