import { fileURLToPath } from 'node:url';
import { deploy } from '@switchyard/client/node';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

// Pack the model with its handler, add it to "iris" as variant "species" with 10%
// of the traffic, and wait until it is in service.
const species = await deploy({
  endpoint: process.env.SWITCHYARD_URL ?? 'http://localhost:8080',
  apiKey: process.env.SWITCHYARD_ADMIN_KEY, // when the gateway has keys on
  model: 'iris',
  variant: 'species',
  weight: 10,
  modelDir: here('../models/iris-v2'),
  entryPoint: here('inference.mjs'),
  // In the gateway's process; with Redis, { type: 'queue', pool: 'default' } runs it
  // on the multi-model workers of that pool instead.
  backend: { type: 'local' },
  // This predictor calls the new variant only, and reads its JSON answers.
  targetVariant: 'species',
  deserializer: {
    accept: 'application/json',
    deserialize: (body) => JSON.parse(new TextDecoder().decode(body)),
  },
});

console.log(
  await species.predict([
    [5.1, 3.5, 1.4, 0.2],
    [6.3, 3.3, 6.0, 2.5],
  ]),
);
// [ { species: 'setosa', probability: 0.9955 }, { species: 'virginica', probability: 0.9998 } ]
