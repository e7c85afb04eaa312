// IEEE 754 half precision <-> number, for float16 tensors stored as raw bits.

const view = new DataView(new ArrayBuffer(8));

/**
 * Half-precision bits to a JS number (exact: every half is a double).
 *
 * @example
 * ```ts
 * halfToNumber(0x3c00); // 1
 * ```
 */
export function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/**
 * A JS number to half-precision bits, rounded once from the double (to nearest,
 * ties to even) as numpy's `astype(np.float16)` does.
 *
 * @example
 * ```ts
 * numberToHalf(1); // 0x3c00
 * numberToHalf(65520); // 0x7c00 (infinity)
 * ```
 */
export function numberToHalf(value: number): number {
  view.setFloat64(0, value);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const sign = (hi >>> 16) & 0x8000;
  const exponent = (hi >>> 20) & 0x7ff;
  const mantissaHi = hi & 0xfffff; // top 20 of the 52 mantissa bits
  if (exponent === 0x7ff) {
    return sign | 0x7c00 | (mantissaHi !== 0 || lo !== 0 ? 0x200 : 0);
  }
  const e = exponent - 1023 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  // Keep the top bits of the mantissa (with the implicit 1 for subnormal halves),
  // then round on what is dropped: `rest` against `half`, `lo` as sticky bits.
  let kept: number;
  let shift: number;
  if (e >= 1) {
    kept = mantissaHi;
    shift = 10;
  } else {
    if (e < -10) return sign;
    kept = mantissaHi | 0x100000;
    shift = 11 - e;
  }
  let result = kept >>> shift;
  const rest = kept & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rest > half || (rest === half && (lo !== 0 || (result & 1) === 1))) result += 1;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  return e >= 1 ? sign | ((e << 10) + result) : sign | result;
}
