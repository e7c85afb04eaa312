import type { HandlerLogger } from '@switchyard/handlers';
import type { Hono } from 'hono';
import { adminOnly, type Env } from '../http/auth.js';
import { variantState, type ModelRegistry, type ModelState } from '../http/model-registry.js';
import type { Jobs } from '../jobs/index.js';
import { CONSOLE_CSS, CONSOLE_HTML, CONSOLE_JS } from './page.js';
import type { Traffic } from './traffic.js';

export interface ConsoleDeps {
  readonly models: ModelRegistry;
  readonly traffic: Traffic;
  readonly jobs?: Jobs | undefined;
  readonly logger: HandlerLogger;
}

/** How much a queue's depth may be late: one read per second for all viewers. */
const DEPTH_TTL_MS = 1_000;

/**
 * `GET /console` (the page, its script and styles: open, they hold no data) and
 * `GET /v1/admin/console` (everything the page shows, admin-only).
 *
 * @example
 * ```ts
 * registerConsole(app, { models, traffic, jobs, logger });
 * ```
 */
export function registerConsole(app: Hono<Env>, deps: ConsoleDeps): void {
  const { models, traffic } = deps;
  app.get('/console', (c) => c.html(CONSOLE_HTML));
  app.get('/console/console.js', (c) =>
    c.body(CONSOLE_JS, 200, { 'Content-Type': 'text/javascript; charset=utf-8' }),
  );
  app.get('/console/console.css', (c) =>
    c.body(CONSOLE_CSS, 200, { 'Content-Type': 'text/css; charset=utf-8' }),
  );

  const depths = new Map<string, { at: number; value: Promise<object> }>();
  const depthOf = (model: ModelState) =>
    [...model.variants.values()].flatMap((v) => {
      const depth = v.backend.depth?.bind(v.backend);
      if (depth === undefined) return [];
      const key = `${model.name}\0${v.name}`;
      let known = depths.get(key);
      if (known === undefined || Date.now() - known.at > DEPTH_TTL_MS) {
        known = {
          at: Date.now(),
          value: depth().then(
            (d) => ({ variant: v.name, ...(d ?? { waiting: 0, prioritized: 0, active: 0 }) }),
            (error: unknown) => ({ variant: v.name, error: (error as Error).message }),
          ),
        };
        depths.set(key, known);
      }
      return [known.value];
    });

  const describe = async (model: ModelState) => {
    const variants = [...model.variants.values()];
    const total = variants.reduce((sum, v) => sum + v.weight, 0);
    const figures = variants.map((v) => traffic.variant(model.name, v.name));
    const answered = figures.reduce((sum, f) => sum + f.recent.requests, 0);
    return {
      name: model.name,
      recentSeconds: traffic.recentSeconds,
      variants: variants.map((v, i) => {
        const f = figures[i] ?? traffic.variant(model.name, v.name);
        const { state, reason } = variantState(v);
        return {
          name: v.name,
          weight: v.weight,
          configuredShare: total > 0 ? v.weight / total : 0,
          liveShare: answered > 0 ? f.recent.requests / answered : 0,
          state,
          reason: reason ?? null,
          backend: v.backend.type,
          guard: v.guard?.report() ?? null,
          recent: f.recent,
          series: f.series,
        };
      }),
      shadow: model.shadow?.report() ?? null,
      queues: await Promise.all(depthOf(model)),
      batchSizes: traffic.batchSizes(model.name),
    };
  };

  app.get('/v1/admin/console', adminOnly(), async (c) =>
    c.json({
      at: new Date().toISOString(),
      windowSeconds: traffic.windowSeconds,
      models: await Promise.all([...models.values()].map(describe)),
      batchJobs: deps.jobs === undefined ? null : await deps.jobs.batch.list(20).catch(() => []),
    }),
  );
}
