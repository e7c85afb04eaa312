import { createHash } from 'node:crypto';
import { InferenceError } from '@switchyard/handlers';

export interface WeightedVariant {
  readonly name: string;
  readonly weight: number;
}

export interface ChooseOptions {
  /** `X-Amzn-SageMaker-Target-Variant`: wins over everything; unknown → 400. */
  readonly targetVariant?: string | undefined;
  /** The sticky header's value: the same key keeps its variant while weights stand. */
  readonly stickyKey?: string | undefined;
  /** Uniform in [0, 1), for weighted random choice. @defaultValue Math.random */
  readonly random?: () => number;
}

/** A uniform number in (0, 1] from a key and a variant name, stable across processes. */
function uniform(key: string, variant: string): number {
  const digest = createHash('sha256').update(key).update('\0').update(variant).digest();
  // 53 bits, shifted off zero so that the logarithm below is finite.
  return (Number(digest.readBigUInt64BE(0) >> 11n) + 1) / 2 ** 53;
}

/**
 * Pick the variant for one request. A target variant is honoured exactly. A
 * sticky key uses weighted rendezvous hashing — score `-ln(u) / weight`, lowest
 * wins — so a key keeps its variant, and changing one weight moves only the keys
 * that share must gain or lose. Otherwise the choice is weighted random.
 *
 * @example
 * ```ts
 * chooseVariant([{ name: 'v1', weight: 70 }, { name: 'v2', weight: 30 }], { stickyKey: 'user-42' });
 * ```
 */
export function chooseVariant(
  variants: readonly WeightedVariant[],
  options: ChooseOptions = {},
): string {
  const { targetVariant, stickyKey, random = Math.random } = options;
  if (targetVariant !== undefined) {
    if (!variants.some((v) => v.name === targetVariant)) {
      throw new InferenceError(
        'INVALID_INPUT',
        `unknown target variant "${targetVariant}"; the model has ${variants.map((v) => `"${v.name}"`).join(', ')}`,
      );
    }
    return targetVariant;
  }
  const live = variants.filter((v) => v.weight > 0);
  if (live.length === 0)
    throw new InferenceError('UNAVAILABLE', 'no variant of this model takes traffic');
  if (stickyKey !== undefined && stickyKey !== '') {
    let best = live[0] as WeightedVariant;
    let bestScore = Infinity;
    for (const v of live) {
      const score = -Math.log(uniform(stickyKey, v.name)) / v.weight;
      if (score < bestScore) {
        best = v;
        bestScore = score;
      }
    }
    return best.name;
  }
  const total = live.reduce((sum, v) => sum + v.weight, 0);
  let point = random() * total;
  for (const v of live) {
    point -= v.weight;
    if (point < 0) return v.name;
  }
  return (live[live.length - 1] as WeightedVariant).name;
}
