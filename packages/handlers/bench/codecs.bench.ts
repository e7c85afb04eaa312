import { bench, describe } from 'vitest';
import { decode, encode } from '../src/codecs/registry.js';
import { createTensor } from '../src/tensor/tensor.js';
import { decodeJobRequest, encodeJobRequest } from '../src/wire/job.js';

// 256 Ki float32 values (1 MiB as NPY), shaped like a batch of 4096 rows of 64.
const ROWS = 4096;
const COLS = 64;
let seed = 1;
const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
const tensor = createTensor(
  'float32',
  [ROWS, COLS],
  Float32Array.from({ length: ROWS * COLS }, random),
);

const bodies = {
  'application/json': encode(tensor, 'application/json').body,
  'text/csv': encode(tensor, 'text/csv').body,
  'application/x-npy': encode(tensor, 'application/x-npy').body,
};

for (const [type, body] of Object.entries(bodies)) {
  describe(`${type}, ${ROWS}×${COLS} float32`, () => {
    bench('decode', () => {
      decode(body, type);
    });
    bench('encode', () => {
      encode(tensor, type);
    });
  });
}

describe('job wire format, 6 MiB body', () => {
  const body = new Uint8Array(6 * 1024 * 1024).map((_, i) => i & 255);
  const request = {
    requestId: 'bench',
    model: 'm',
    contentType: 'application/x-npy',
    body,
    deadline: Date.now() + 3_600_000,
    enqueuedAt: Date.now(),
  };
  const json = JSON.stringify(encodeJobRequest(request));
  bench('encodeJobRequest + JSON.stringify', () => {
    JSON.stringify(encodeJobRequest(request));
  });
  bench('JSON.parse + decodeJobRequest', () => {
    decodeJobRequest(JSON.parse(json));
  });
});
