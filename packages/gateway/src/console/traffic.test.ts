import { describe, expect, it } from 'vitest';
import { Traffic } from './traffic.js';

describe('Traffic', () => {
  const clock = (start = 1_000_000_000) => {
    let now = start;
    return { now: () => now, advance: (ms: number) => (now += ms) };
  };

  it('gives rates, error rate and percentiles over the last whole seconds', () => {
    const c = clock();
    const traffic = new Traffic({ now: c.now, recentSeconds: 10 });
    for (let s = 0; s < 10; s++) {
      for (let i = 1; i <= 100; i++) {
        traffic.record('m', 'a', { ms: i, error: i > 95 });
      }
      c.advance(1000);
    }
    const { recent } = traffic.variant('m', 'a');
    expect(recent.requests).toBe(1000);
    expect(recent.rps).toBe(100);
    expect(recent.errorRate).toBe(0.05);
    // Buckets are 10% wide: the figure is at most 10% above the true one.
    expect(recent.p50).toBeGreaterThanOrEqual(50);
    expect(recent.p50).toBeLessThanOrEqual(55);
    expect(recent.p95).toBeGreaterThanOrEqual(95);
    expect(recent.p95).toBeLessThanOrEqual(105);
  });

  it('forgets seconds older than the window, and variants stay apart', () => {
    const c = clock();
    const traffic = new Traffic({
      now: c.now,
      windowSeconds: 60,
      stepSeconds: 10,
      recentSeconds: 10,
    });
    traffic.record('m', 'a', { ms: 1, error: false });
    c.advance(1000);
    expect(traffic.variant('m', 'a').recent.requests).toBe(1);
    expect(traffic.variant('m', 'b').recent.requests).toBe(0);
    expect(traffic.variant('m', 'b').recent.p50).toBeNull();
    c.advance(30_000);
    expect(traffic.variant('m', 'a').recent.requests).toBe(0);
    const series = traffic.variant('m', 'a').series;
    expect(series).toHaveLength(6);
    expect(series.reduce((sum, p) => sum + p.requests, 0)).toBe(1);
    c.advance(60_000);
    expect(traffic.variant('m', 'a').series.reduce((sum, p) => sum + p.requests, 0)).toBe(0);
    // A slot reused after a full turn of the ring starts empty.
    traffic.record('m', 'a', { ms: 1, error: false });
    c.advance(1000);
    expect(traffic.variant('m', 'a').recent.requests).toBe(1);
  });

  it('counts requests by the size of the batch they were computed in', () => {
    const c = clock();
    const traffic = new Traffic({ now: c.now });
    for (const size of [1, 2, 3, 4, 5, 32, 33, 200]) {
      traffic.record('m', 'a', { ms: 1, error: false, batchSize: size });
    }
    traffic.record('m', 'a', { ms: 1, error: false });
    const counts = Object.fromEntries(traffic.batchSizes('m').map((b) => [b.size, b.requests]));
    expect(counts).toEqual({
      '1': 1,
      '2': 1,
      '3–4': 2,
      '5–8': 1,
      '9–16': 0,
      '17–32': 1,
      '33–64': 1,
      '65–128': 0,
      '>128': 1,
    });
    c.advance(301_000);
    expect(traffic.batchSizes('m').every((b) => b.requests === 0)).toBe(true);
  });
});
