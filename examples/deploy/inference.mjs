// The default handler decodes the request and runs the ONNX model; this outputFn
// answers with the species' names.
const SPECIES = ['setosa', 'versicolor', 'virginica'];

export function outputFn(prediction) {
  const [rows, classes] = prediction.shape;
  const answers = [];
  for (let i = 0; i < rows; i++) {
    const p = Array.from(prediction.data.subarray(i * classes, (i + 1) * classes));
    const best = p.indexOf(Math.max(...p));
    answers.push({ species: SPECIES[best], probability: Number(p[best].toFixed(4)) });
  }
  return {
    body: new TextEncoder().encode(JSON.stringify(answers)),
    contentType: 'application/json',
  };
}
