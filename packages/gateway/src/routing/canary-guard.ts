import { HTTP_STATUS_BY_CODE, type InferenceErrorCode } from '@switchyard/handlers';

export interface GuardOptions {
  /** Failures (status 424 and up: the model's or the service's fault) over requests. */
  readonly maxErrorRate: number;
  /** 95th percentile latency bound. */
  readonly maxP95Ms: number;
  readonly windowMs: number;
  /** Fewer requests than this in the window decide nothing. */
  readonly minRequests: number;
  /** How long a tripped variant stays out of rotation. */
  readonly cooldownMs: number;
}

export interface GuardReport {
  readonly state: 'in rotation' | 'out of rotation';
  readonly until: string | null;
  readonly requests: number;
  readonly errorRate: number | null;
  readonly p95Ms: number | null;
  readonly trips: number;
}

interface Sample {
  readonly at: number;
  readonly failed: boolean;
  readonly ms: number;
}

/**
 * Watches one variant over a sliding window and takes it out of rotation when its
 * error rate or p95 latency breaks a bound, for a cool-down; then it is back, with
 * a fresh window.
 */
export class CanaryGuard {
  private samples: Sample[] = [];
  private ejectedUntil = 0;
  private trips = 0;

  constructor(
    private readonly options: GuardOptions,
    private readonly onTrip: (why: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether the variant may take routed traffic now. */
  get inRotation(): boolean {
    return this.now() >= this.ejectedUntil;
  }

  record(outcome: { code?: InferenceErrorCode | undefined; ms: number }): void {
    const at = this.now();
    const failed = outcome.code !== undefined && HTTP_STATUS_BY_CODE[outcome.code] >= 424;
    this.samples.push({ at, failed, ms: outcome.ms });
    this.samples = this.samples.filter((s) => at - s.at <= this.options.windowMs);
    if (!this.inRotation || this.samples.length < this.options.minRequests) return;
    const { errorRate, p95 } = this.figures();
    const why =
      errorRate > this.options.maxErrorRate
        ? `error rate ${(errorRate * 100).toFixed(1)}% over ${(this.options.maxErrorRate * 100).toFixed(1)}%`
        : p95 > this.options.maxP95Ms
          ? `p95 ${p95.toFixed(1)} ms over ${this.options.maxP95Ms} ms`
          : undefined;
    if (why === undefined) return;
    this.trips++;
    this.ejectedUntil = at + this.options.cooldownMs;
    this.samples = [];
    this.onTrip(why);
  }

  private figures(): { errorRate: number; p95: number } {
    const sorted = this.samples.map((s) => s.ms).sort((a, b) => a - b);
    return {
      errorRate: this.samples.filter((s) => s.failed).length / this.samples.length,
      p95: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))] ?? 0,
    };
  }

  report(): GuardReport {
    const empty = this.samples.length === 0;
    const { errorRate, p95 } = empty ? { errorRate: 0, p95: 0 } : this.figures();
    return {
      state: this.inRotation ? 'in rotation' : 'out of rotation',
      until: this.inRotation ? null : new Date(this.ejectedUntil).toISOString(),
      requests: this.samples.length,
      errorRate: empty ? null : errorRate,
      p95Ms: empty ? null : p95,
      trips: this.trips,
    };
  }
}
