// A user handler in SageMaker's layout: the ONNX model next to this file is served
// by the default modelFn and predictFn; this module brings its own input and output
// formats. No dependencies: tensors are plain { dtype, shape, data } objects.
//
//   POST {"flowers": [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}]}
//   -> [{"species": "setosa", "probability": 0.97, "probabilities": {...}}]

const FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
const SPECIES = ['setosa', 'versicolor', 'virginica'];

class BadRequest extends Error {
  // The runtime keeps the code of errors shaped like its own: this one is a 400.
  code = 'INVALID_INPUT';
}

export function inputFn(body, contentType) {
  if (!contentType.toLowerCase().startsWith('application/json')) {
    throw Object.assign(new Error(`send application/json, not ${contentType}`), {
      code: 'UNSUPPORTED_MEDIA_TYPE',
    });
  }
  let parsed;
  try {
    parsed = JSON.parse(new TextDecoder().decode(body));
  } catch (error) {
    throw new BadRequest(`invalid JSON: ${error.message}`);
  }
  const flowers = parsed?.flowers;
  if (!Array.isArray(flowers) || flowers.length === 0) {
    throw new BadRequest('expected {"flowers": [{"sepal_length": …, …}, …]}');
  }
  const data = new Float32Array(flowers.length * FEATURES.length);
  flowers.forEach((flower, i) => {
    FEATURES.forEach((name, j) => {
      const value = flower?.[name];
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new BadRequest(`flowers[${i}].${name} must be a number (cm)`);
      }
      data[i * FEATURES.length + j] = value;
    });
  });
  return { input: { dtype: 'float32', shape: [flowers.length, FEATURES.length], data } };
}

export function outputFn(prediction) {
  const rows = prediction.shape[0];
  const answers = [];
  for (let i = 0; i < rows; i++) {
    const p = Array.from(prediction.data.subarray(i * SPECIES.length, (i + 1) * SPECIES.length));
    const best = p.indexOf(Math.max(...p));
    answers.push({
      species: SPECIES[best],
      probability: Number(p[best].toFixed(4)),
      probabilities: Object.fromEntries(SPECIES.map((s, k) => [s, Number(p[k].toFixed(4))])),
    });
  }
  return {
    body: new TextEncoder().encode(JSON.stringify(answers)),
    contentType: 'application/json',
  };
}
