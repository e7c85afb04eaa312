import { decode, isTensor, type Decoded, type Tensor } from '@switchyard/handlers';
import type { Backend, BackendRequest, BackendResponse } from '../backends/backend.js';

const LATENCY_SAMPLES = 1_000;

/** How a shadow variant compares with the primary, per model. */
export interface ShadowReport {
  readonly variant: string;
  readonly sampleRate: number;
  readonly requests: number;
  readonly errors: number;
  /** Share of compared answers identical to the primary's. */
  readonly exactMatchRate: number | null;
  /** Largest absolute difference seen between numeric outputs of the same shape. */
  readonly maxAbsDiff: number | null;
  readonly p50LatencyMs: number | null;
}

function numbers(t: Tensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

/** Largest absolute difference of two decoded outputs; `Infinity` when shapes differ. */
function maxDifference(a: Decoded, b: Decoded): number {
  const pairs: [Tensor, Tensor | undefined][] = isTensor(a)
    ? [[a, isTensor(b) ? b : undefined]]
    : Object.entries(a).map(([name, t]) => [t, isTensor(b) ? undefined : b[name]]);
  let worst = 0;
  for (const [x, y] of pairs) {
    if (
      y === undefined ||
      x.shape.join() !== y.shape.join() ||
      x.dtype === 'string' ||
      y.dtype === 'string'
    ) {
      return Infinity;
    }
    const xs = numbers(x);
    const ys = numbers(y);
    for (let i = 0; i < xs.length; i++)
      worst = Math.max(worst, Math.abs((xs[i] ?? 0) - (ys[i] ?? 0)));
  }
  return worst;
}

/**
 * Copies a sampled share of a model's traffic to a shadow variant after the
 * primary has answered, and keeps score: errors, latency, exact agreement and the
 * largest numeric difference. The shadow's answer is never returned, and nothing
 * the client waits for waits on it.
 */
export class Shadow {
  private requests = 0;
  private errors = 0;
  private compared = 0;
  private exact = 0;
  private worst: number | null = null;
  private readonly latencies: number[] = [];

  constructor(
    readonly variant: string,
    readonly sampleRate: number,
    private readonly backend: Backend,
    private readonly random: () => number = Math.random,
  ) {}

  /** Maybe copy this request; returns at once. */
  offer(request: BackendRequest, primary: BackendResponse): void {
    if (!primary.ok || this.random() >= this.sampleRate) return;
    this.requests++;
    const started = performance.now();
    void this.backend
      .invoke({ ...request, requestId: `${request.requestId}-shadow` })
      .then((answer) => {
        this.record(performance.now() - started);
        if (!answer.ok) {
          this.errors++;
          return;
        }
        this.compare(primary, answer);
      })
      .catch(() => {
        this.errors++;
      });
  }

  private record(ms: number): void {
    this.latencies.push(ms);
    if (this.latencies.length > LATENCY_SAMPLES) this.latencies.shift();
  }

  private compare(
    primary: Extract<BackendResponse, { ok: true }>,
    shadow: Extract<BackendResponse, { ok: true }>,
  ): void {
    this.compared++;
    const same =
      primary.contentType === shadow.contentType &&
      Buffer.from(primary.body).equals(Buffer.from(shadow.body));
    if (same) this.exact++;
    let difference = same ? 0 : Infinity;
    if (!same) {
      try {
        difference = maxDifference(
          decode(primary.body, primary.contentType),
          decode(shadow.body, shadow.contentType),
        );
      } catch {
        // Not tensors we can read: only exact agreement counts.
      }
    }
    if (Number.isFinite(difference)) this.worst = Math.max(this.worst ?? 0, difference);
  }

  report(): ShadowReport {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return {
      variant: this.variant,
      sampleRate: this.sampleRate,
      requests: this.requests,
      errors: this.errors,
      exactMatchRate: this.compared === 0 ? null : this.exact / this.compared,
      maxAbsDiff: this.worst,
      p50LatencyMs: sorted.length === 0 ? null : (sorted[Math.floor(sorted.length / 2)] ?? null),
    };
  }
}
