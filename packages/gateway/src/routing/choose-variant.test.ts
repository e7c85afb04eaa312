import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chooseVariant } from './choose-variant.js';

const split = (a: number, b: number) => [
  { name: 'A', weight: a },
  { name: 'B', weight: b },
];

/** Share of `n` picks that land on variant A. */
function shareOfA(n: number, pick: (i: number) => string): number {
  let a = 0;
  for (let i = 0; i < n; i++) if (pick(i) === 'A') a++;
  return a / n;
}

describe('chooseVariant', () => {
  it('honours a target variant and refuses an unknown one with 400', () => {
    expect(chooseVariant(split(100, 0), { targetVariant: 'B' })).toBe('B');
    expect(() => chooseVariant(split(1, 1), { targetVariant: 'C' })).toThrow(
      'unknown target variant "C"; the model has "A", "B"',
    );
  });

  it('puts 10,000 random requests on a 70/30 split within ±2 points', () => {
    const variants = split(70, 30);
    const share = shareOfA(10_000, () => chooseVariant(variants));
    expect(Math.abs(share - 0.7)).toBeLessThan(0.02);
  });

  it('puts 10,000 sticky keys on a 70/30 split within ±2 points', () => {
    const variants = split(70, 30);
    const share = shareOfA(10_000, (i) => chooseVariant(variants, { stickyKey: `user-${i}` }));
    expect(Math.abs(share - 0.7)).toBeLessThan(0.02);
  });

  it('keeps a sticky key on its variant while the weights stand', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.integer({ min: 1, max: 99 }), (key, w) => {
        const variants = split(w, 100 - w);
        const first = chooseVariant(variants, { stickyKey: key });
        return [1, 2, 3].every(() => chooseVariant(variants, { stickyKey: key }) === first);
      }),
    );
  });

  it('moves only the keys the new weights require when one weight changes', () => {
    const before = [
      { name: 'A', weight: 50 },
      { name: 'B', weight: 30 },
      { name: 'C', weight: 20 },
    ];
    const after = before.map((v) => (v.name === 'A' ? { ...v, weight: 30 } : v));
    let moved = 0;
    let movedOffA = 0;
    for (let i = 0; i < 10_000; i++) {
      const key = `key-${i}`;
      const was = chooseVariant(before, { stickyKey: key });
      const now = chooseVariant(after, { stickyKey: key });
      if (was !== now) {
        moved++;
        if (was === 'A') movedOffA++;
      }
    }
    // A goes from 50% to 37.5% of traffic: about 12.5% of keys move, all off A.
    expect(moved).toBe(movedOffA);
    expect(Math.abs(moved / 10_000 - 0.125)).toBeLessThan(0.02);
  });

  it('never picks a variant of weight 0', () => {
    for (let i = 0; i < 1000; i++) {
      expect(chooseVariant(split(0, 1))).toBe('B');
      expect(chooseVariant(split(0, 1), { stickyKey: `k${i}` })).toBe('B');
    }
  });
});
