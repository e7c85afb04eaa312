import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { halfToNumber, numberToHalf } from './float16.js';

describe('float16', () => {
  it('converts the edge values as numpy does', () => {
    // Expected bits from numpy: np.array([...]).astype(np.float16).view(np.uint16)
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65520, 0x7c00], // rounds up to infinity
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // tie rounds to even (zero)
      [3 * 2 ** -26, 0x0001],
      [1 / 3, 0x3555],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
    ];
    for (const [value, bits] of cases) expect(numberToHalf(value), String(value)).toBe(bits);
    expect(Number.isNaN(halfToNumber(numberToHalf(NaN)))).toBe(true);
  });

  it('round-trips every half-precision bit pattern', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), (bits) => {
        const value = halfToNumber(bits);
        if (Number.isNaN(value)) return Number.isNaN(halfToNumber(numberToHalf(value)));
        return numberToHalf(value) === bits;
      }),
      { numRuns: 5000 },
    );
  });
});
