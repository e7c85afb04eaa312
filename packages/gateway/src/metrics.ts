import { isInferenceErrorCode } from '@switchyard/handlers';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { QueueDepth } from './backends/backend.js';
import type { ModelRegistry } from './http/model-registry.js';

/** 1 ms to 60 s: a small model's answer to a slow queue's deadline. */
const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** A queue that does not answer within this is skipped for the scrape. */
const DEPTH_TIMEOUT_MS = 2_000;

/** The model label of requests naming no model of this gateway. */
const UNKNOWN_MODEL = '_unknown';

/** One answered request, as the HTTP layer saw it. */
interface RequestRecord {
  /** The model named in the path, whether or not it exists. */
  readonly model: string;
  /** The variant that answered; none when the request never reached one. */
  readonly variant?: string | undefined;
  /** `async`: a submission (its inference runs later). */
  readonly route: 'sagemaker' | 'plain' | 'async';
  /** `ok`, or the error code of the answer. */
  readonly code: string;
  /** Time to the answer; not observed when absent (async submissions). */
  readonly seconds?: number | undefined;
}

/**
 * Prometheus metrics of one gateway, in a registry of its own. Labels are bounded
 * by the configuration: models and variants it names, routes, and error codes;
 * a model it does not name counts as `_unknown`. Never keys, ids or bodies.
 */
export interface GatewayMetrics {
  readonly registry: Registry;
  record(request: RequestRecord): void;
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`no answer in ${ms} ms`));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The gateway's metrics over `models`: requests by code and latency, counted as
 * they are answered; queue depth, weights, shadow and canary guard figures, read
 * from the registry at scrape time.
 *
 * @example
 * ```ts
 * const metrics = createGatewayMetrics(models);
 * const app = createApp({ models, logger, metrics }); // serves GET /metrics
 * ```
 */
export function createGatewayMetrics(
  models: ModelRegistry,
  options: { depthTimeoutMs?: number } = {},
): GatewayMetrics {
  const registry = new Registry();
  const registers = [registry];
  const byVariant = ['model', 'variant'] as const;

  const requests = new Counter({
    name: 'switchyard_gateway_requests_total',
    help: 'Requests answered, by model, variant, route and code (ok or the error code)',
    labelNames: ['model', 'variant', 'route', 'code'],
    registers,
  });
  const duration = new Histogram({
    name: 'switchyard_gateway_request_duration_seconds',
    help: 'Time from the request to its answer, real-time routes',
    labelNames: ['model', 'variant', 'route'],
    buckets: SECONDS,
    registers,
  });

  // Queue depths cost a Redis round trip per queue variant: read once per scrape,
  // shared by the gauge and the error counter (prom-client collects them together).
  const queueVariants = () =>
    [...models.values()].flatMap((m) =>
      [...m.variants.values()].flatMap((v) =>
        v.backend.depth === undefined
          ? []
          : [{ model: m.name, variant: v.name, backend: v.backend }],
      ),
    );
  const scrapeErrors = new Counter({
    name: 'switchyard_gateway_scrape_errors_total',
    help: 'Queue depths that could not be read for a scrape (Redis unreachable or slow)',
    labelNames: byVariant,
    registers,
    async collect() {
      await readDepths(); // this scrape's failures included
    },
  });
  let reading: Promise<{ model: string; variant: string; depth?: QueueDepth }[]> | undefined;
  const readDepths = () =>
    (reading ??= Promise.all(
      queueVariants().map(async ({ model, variant, backend }) => {
        try {
          const depth = await withTimeout(
            backend.depth?.() ?? Promise.resolve(undefined),
            options.depthTimeoutMs ?? DEPTH_TIMEOUT_MS,
          );
          return depth === undefined ? { model, variant } : { model, variant, depth };
        } catch {
          scrapeErrors.inc({ model, variant });
          return { model, variant };
        }
      }),
    ).finally(() => {
      reading = undefined;
    }));
  new Gauge({
    name: 'switchyard_gateway_queue_depth',
    help: 'Jobs in a queue variant by state (waiting, prioritized: batch-job chunks, active)',
    labelNames: ['model', 'variant', 'state'],
    registers,
    async collect() {
      const depths = await readDepths();
      this.reset();
      for (const { model, variant, depth } of depths) {
        if (depth === undefined) continue;
        for (const state of ['waiting', 'prioritized', 'active'] as const) {
          this.set({ model, variant, state }, depth[state]);
        }
      }
    },
  });

  new Gauge({
    name: 'switchyard_gateway_variant_weight',
    help: 'Routing weight of each variant',
    labelNames: byVariant,
    registers,
    collect() {
      this.reset();
      for (const m of models.values()) {
        for (const v of m.variants.values()) this.set({ model: m.name, variant: v.name }, v.weight);
      }
    },
  });

  // Shadow and guard figures come from their reports; counts the reports keep are
  // exposed as counters (they only grow while the process lives).
  const shadows = () =>
    [...models.values()].flatMap((m) =>
      m.shadow === undefined ? [] : [{ model: m.name, report: m.shadow.report() }],
    );
  new Counter({
    name: 'switchyard_gateway_shadow_requests_total',
    help: 'Requests copied to the shadow variant',
    labelNames: byVariant,
    registers,
    collect() {
      this.reset();
      for (const { model, report } of shadows())
        this.inc({ model, variant: report.variant }, report.requests);
    },
  });
  new Counter({
    name: 'switchyard_gateway_shadow_errors_total',
    help: 'Copied requests the shadow variant failed',
    labelNames: byVariant,
    registers,
    collect() {
      this.reset();
      for (const { model, report } of shadows())
        this.inc({ model, variant: report.variant }, report.errors);
    },
  });
  const shadowGauge = (
    name: string,
    help: string,
    value: (report: ReturnType<typeof shadows>[number]['report']) => number | null,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: byVariant,
      registers,
      collect() {
        this.reset();
        for (const { model, report } of shadows()) {
          const v = value(report);
          if (v !== null) this.set({ model, variant: report.variant }, v);
        }
      },
    });
  shadowGauge(
    'switchyard_gateway_shadow_exact_match_ratio',
    "Share of compared shadow answers identical to the primary's",
    (r) => r.exactMatchRate,
  );
  shadowGauge(
    'switchyard_gateway_shadow_max_abs_diff',
    'Largest absolute difference seen between numeric outputs of primary and shadow',
    (r) => r.maxAbsDiff,
  );
  shadowGauge(
    'switchyard_gateway_shadow_p50_latency_seconds',
    'Median latency of the shadow variant over its last 1,000 answers',
    (r) => (r.p50LatencyMs === null ? null : r.p50LatencyMs / 1000),
  );

  const guards = () =>
    [...models.values()].flatMap((m) =>
      [...m.variants.values()].flatMap((v) =>
        v.guard === undefined
          ? []
          : [{ labels: { model: m.name, variant: v.name }, report: v.guard.report() }],
      ),
    );
  const guardGauge = (
    name: string,
    help: string,
    value: (report: ReturnType<typeof guards>[number]['report']) => number | null,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: byVariant,
      registers,
      collect() {
        this.reset();
        for (const { labels, report } of guards()) {
          const v = value(report);
          if (v !== null) this.set(labels, v);
        }
      },
    });
  guardGauge(
    'switchyard_gateway_canary_in_rotation',
    'Whether a guarded variant takes routed traffic (1) or its guard took it out (0)',
    (r) => (r.state === 'in rotation' ? 1 : 0),
  );
  guardGauge(
    'switchyard_gateway_canary_error_ratio',
    "Failures over requests in the guard's window",
    (r) => r.errorRate,
  );
  guardGauge(
    'switchyard_gateway_canary_p95_seconds',
    "95th percentile latency in the guard's window",
    (r) => (r.p95Ms === null ? null : r.p95Ms / 1000),
  );
  new Counter({
    name: 'switchyard_gateway_canary_trips_total',
    help: 'Times the guard took the variant out of rotation',
    labelNames: byVariant,
    registers,
    collect() {
      this.reset();
      for (const { labels, report } of guards()) this.inc(labels, report.trips);
    },
  });
  // Present (at 0) before any failure, so that rate() has a start.
  for (const { model, variant } of queueVariants()) scrapeErrors.inc({ model, variant }, 0);

  return {
    registry,
    record(request) {
      const model = models.get(request.model);
      const variant =
        request.variant !== undefined && model?.variants.has(request.variant) === true
          ? request.variant
          : '';
      const labels = { model: model?.name ?? UNKNOWN_MODEL, variant, route: request.route };
      const code =
        request.code === 'ok' || isInferenceErrorCode(request.code) ? request.code : 'INTERNAL';
      requests.inc({ ...labels, code });
      if (request.seconds !== undefined) duration.observe(labels, request.seconds);
    },
  };
}
