import { describe, expect, it } from 'vitest';
import { EXAMPLE_REQUESTS, runExample } from './run-example.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

describe('the example model through the handler chain', () => {
  it('answers every format, and explains the two bad requests', async () => {
    const responses = await runExample(EXAMPLE_REQUESTS, silent);
    expect(responses.map((r) => [r.status, r.contentType])).toEqual([
      [200, 'application/json'],
      [200, 'text/csv'],
      [200, 'application/json'],
      [400, 'application/json'],
      [415, 'application/json'],
    ]);
    const [json, csv] = responses;
    const probabilities = JSON.parse(json?.body ?? '') as number[][];
    expect(probabilities).toHaveLength(2);
    for (const row of probabilities) {
      expect(row).toHaveLength(3);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
    // The two rows lie far apart: the classifier must not pick the same class for both.
    const [first = [], second = []] = probabilities.map((row) => row.indexOf(Math.max(...row)));
    expect(first).not.toBe(second);
    expect(csv?.body.trim().split('\n')).toHaveLength(2);
    expect(JSON.parse(responses[3]?.body ?? '')).toMatchObject({
      error: { code: 'INVALID_INPUT', requestId: 'example-4' },
    });
    expect(responses[4]?.body).toContain('application/json, text/csv, application/x-npy');
  });

  it('refuses rows of the wrong width with a message naming the shape', async () => {
    const [response] = await runExample(
      [{ name: 'narrow', body: new TextEncoder().encode('1,2,3\n'), contentType: 'text/csv' }],
      silent,
    );
    expect(response?.status).toBe(400);
    expect(response?.body).toContain('expected rows of 4 features, shape [n, 4]; got [1, 3]');
  });
});
