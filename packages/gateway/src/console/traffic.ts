/**
 * What the console shows of recent traffic: per model and variant, requests,
 * errors and latency for each of the last `windowSeconds` seconds, and per model
 * the sizes of the batches its requests were computed in. Kept in fixed rings of
 * one-second slots, so memory stays flat however long the gateway runs.
 */

/** Upper bounds (ms) of the latency buckets: 0.1 ms up, 10% apart, to 10 minutes. */
const LATENCY_BOUNDS: readonly number[] = (() => {
  const bounds: number[] = [];
  for (let b = 0.1; b < 600_000; b *= 1.1) bounds.push(b);
  bounds.push(Infinity);
  return bounds;
})();

/** Batch sizes by power of two: 1, 2, 3–4, 5–8, …, 65–128, over 128. */
const BATCH_SIZE_LABELS = ['1', '2', '3–4', '5–8', '9–16', '17–32', '33–64', '65–128', '>128'];

function batchBucket(size: number): number {
  return Math.min(BATCH_SIZE_LABELS.length - 1, Math.ceil(Math.log2(Math.max(1, size))));
}

function latencyBucket(ms: number): number {
  let lo = 0;
  let hi = LATENCY_BOUNDS.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms <= (LATENCY_BOUNDS[mid] ?? Infinity)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

interface Slot {
  second: number;
  requests: number;
  errors: number;
  latency: Uint32Array;
}

/** A ring of one-second slots; a slot from an older second reads as empty. */
class Ring<TSlot extends { second: number }> {
  private readonly slots: TSlot[];

  constructor(
    private readonly seconds: number,
    make: () => TSlot,
    /** Empties a slot taken over by a newer second. */
    private readonly clear: (slot: TSlot) => void,
  ) {
    this.slots = Array.from({ length: seconds }, make);
  }

  at(second: number): TSlot {
    const slot = this.slots[second % this.seconds] as TSlot;
    if (slot.second !== second) {
      slot.second = second;
      this.clear(slot);
    }
    return slot;
  }

  /** The slots of seconds in [from, to), skipping stale ones. */
  *between(from: number, to: number): Iterable<TSlot> {
    for (let s = Math.max(from, to - this.seconds); s < to; s++) {
      const slot = this.slots[s % this.seconds] as TSlot;
      if (slot.second === s) yield slot;
    }
  }
}

const trafficRing = (seconds: number) =>
  new Ring<Slot>(
    seconds,
    () => ({ second: -1, requests: 0, errors: 0, latency: new Uint32Array(LATENCY_BOUNDS.length) }),
    (slot) => {
      slot.requests = 0;
      slot.errors = 0;
      slot.latency.fill(0);
    },
  );

/** Requests per batch-size bucket, per second. */
const batchRing = (seconds: number) =>
  new Ring<{ second: number; counts: Uint32Array }>(
    seconds,
    () => ({ second: -1, counts: new Uint32Array(BATCH_SIZE_LABELS.length) }),
    (slot) => slot.counts.fill(0),
  );

/** Requests, errors and latency percentiles over some seconds. */
interface TrafficFigures {
  readonly requests: number;
  /** Requests per second over the span. */
  readonly rps: number;
  /** Share of requests answered with 424 or 5xx. */
  readonly errorRate: number;
  /** Milliseconds; null without requests. */
  readonly p50: number | null;
  readonly p95: number | null;
}

function figures(slots: Iterable<Slot>, seconds: number): TrafficFigures {
  let requests = 0;
  let errors = 0;
  const latency = new Uint32Array(LATENCY_BOUNDS.length);
  for (const slot of slots) {
    requests += slot.requests;
    errors += slot.errors;
    for (let i = 0; i < latency.length; i++)
      latency[i] = (latency[i] ?? 0) + (slot.latency[i] ?? 0);
  }
  const percentile = (p: number): number | null => {
    if (requests === 0) return null;
    const rank = Math.ceil(p * requests);
    let seen = 0;
    for (let i = 0; i < latency.length; i++) {
      seen += latency[i] ?? 0;
      if (seen >= rank) {
        const bound = LATENCY_BOUNDS[i] ?? Infinity;
        // The bucket's upper bound, finite: at most 10% above the true value.
        return Math.round((Number.isFinite(bound) ? bound : 600_000) * 100) / 100;
      }
    }
    return null;
  };
  return {
    requests,
    rps: Math.round((requests / seconds) * 100) / 100,
    errorRate: requests === 0 ? 0 : Math.round((errors / requests) * 10_000) / 10_000,
    p50: percentile(0.5),
    p95: percentile(0.95),
  };
}

export interface VariantTraffic {
  /** Over the last `recentSeconds`. */
  readonly recent: TrafficFigures;
  /** One point per `stepSeconds`, oldest first, ending now. */
  readonly series: (TrafficFigures & { readonly secondsAgo: number })[];
}

export interface TrafficOptions {
  /** How far back the series go. @defaultValue 300 */
  readonly windowSeconds?: number;
  /** Width of one series point. @defaultValue 10 */
  readonly stepSeconds?: number;
  /** Width of the `recent` figures (and the live traffic share). @defaultValue 60 */
  readonly recentSeconds?: number;
  readonly now?: () => number;
}

/**
 * @example
 * ```ts
 * const traffic = new Traffic();
 * traffic.record('iris', 'v1', { ms: 2.1, error: false, batchSize: 4 });
 * traffic.variant('iris', 'v1').recent.rps;
 * ```
 */
export class Traffic {
  private readonly variants = new Map<string, Ring<Slot>>();
  private readonly batches = new Map<string, ReturnType<typeof batchRing>>();
  readonly windowSeconds: number;
  readonly stepSeconds: number;
  readonly recentSeconds: number;
  private readonly now: () => number;

  constructor(options: TrafficOptions = {}) {
    this.windowSeconds = options.windowSeconds ?? 300;
    this.stepSeconds = options.stepSeconds ?? 10;
    this.recentSeconds = options.recentSeconds ?? 60;
    this.now = options.now ?? Date.now;
  }

  private second(): number {
    return Math.floor(this.now() / 1000);
  }

  /** One answered request: its latency, whether it failed, and its batch's size if known. */
  record(
    model: string,
    variant: string,
    answer: { ms: number; error: boolean; batchSize?: number | undefined },
  ): void {
    const key = `${model}\0${variant}`;
    let ring = this.variants.get(key);
    if (ring === undefined) {
      ring = trafficRing(this.windowSeconds);
      this.variants.set(key, ring);
    }
    const second = this.second();
    const slot = ring.at(second);
    slot.requests++;
    if (answer.error) slot.errors++;
    const bucket = latencyBucket(answer.ms);
    slot.latency[bucket] = (slot.latency[bucket] ?? 0) + 1;
    if (answer.batchSize !== undefined && answer.batchSize > 0) {
      let batches = this.batches.get(model);
      if (batches === undefined) {
        batches = batchRing(this.windowSeconds);
        this.batches.set(model, batches);
      }
      const b = batches.at(second);
      const i = batchBucket(answer.batchSize);
      b.counts[i] = (b.counts[i] ?? 0) + 1;
    }
  }

  /** A variant's recent figures and its series over the window. */
  variant(model: string, variant: string): VariantTraffic {
    const ring = this.variants.get(`${model}\0${variant}`) ?? trafficRing(1);
    // The current second is still filling: figures end at the last whole one.
    const end = this.second();
    const series = [];
    for (let to = end - this.windowSeconds + this.stepSeconds; to <= end; to += this.stepSeconds) {
      series.push({
        secondsAgo: end - to,
        ...figures(ring.between(to - this.stepSeconds, to), this.stepSeconds),
      });
    }
    return {
      recent: figures(ring.between(end - this.recentSeconds, end), this.recentSeconds),
      series,
    };
  }

  /** Requests per batch-size bucket over the window, for a model. */
  batchSizes(model: string): { readonly size: string; readonly requests: number }[] {
    const counts = new Array<number>(BATCH_SIZE_LABELS.length).fill(0);
    // Seconds in (now - window, now]: the current one too.
    const now = this.second();
    for (const b of this.batches.get(model)?.between(now - this.windowSeconds + 1, now + 1) ?? []) {
      b.counts.forEach((n, i) => (counts[i] = (counts[i] ?? 0) + n));
    }
    return BATCH_SIZE_LABELS.map((size, i) => ({ size, requests: counts[i] ?? 0 }));
  }
}
