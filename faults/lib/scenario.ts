import { afterAll, beforeAll, expect } from 'vitest';
import { startRedisServer, type RedisServer } from '../../test/support/redis-server.js';
import type { Sample, Tally } from './load.js';
import { writeResult, type Check, type ScenarioResult, type Timing } from './results.js';
import { Stack } from './stack.js';

/**
 * A Redis and a Stack for the scenarios of a `describe` block: started in
 * `beforeAll`, closed in `afterAll` (the stack first, then Redis).
 */
export function useStack<R>(
  startRedis: () => Promise<R>,
  closeRedis: (redis: R) => Promise<void>,
): { readonly redis: R; readonly stack: Stack } {
  let redis: R | undefined;
  let stack: Stack | undefined;
  beforeAll(async () => {
    redis = await startRedis();
    stack = await Stack.create();
  });
  afterAll(async () => {
    await stack?.close();
    if (redis !== undefined) await closeRedis(redis);
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('used outside the scenario (before beforeAll)');
    return value;
  };
  return {
    get redis() {
      return started(redis);
    },
    get stack() {
      return started(stack);
    },
  };
}

/** `useStack` with a private Redis without persistence (test/support). */
export const useRedisStack = (): { readonly redis: RedisServer; readonly stack: Stack } =>
  useStack(
    () => startRedisServer(),
    (redis) => redis.stop(),
  );

/** What a scenario measured besides its tally: the rest of its result file. */
type ScenarioFields = Pick<
  ScenarioResult,
  'scenario' | 'title' | 'steps' | 'setup' | 'phases' | 'recovery' | 'timings' | 'checks' | 'notes'
> &
  Partial<Pick<ScenarioResult, 'cases'>> & {
    /** How many lost requests to record. @defaultValue 5 */
    readonly lostExamples?: number;
  };

/**
 * Write the scenario's `faults/results/<scenario>.json` (its counts from `tally`,
 * from `tally.t0` to `endedAt`), then assert what every scenario must hold: every
 * check passed and no request was lost.
 */
export async function finishScenario(
  tally: Tally,
  endedAt: number,
  fields: ScenarioFields,
): Promise<void> {
  const result = await writeResult({
    scenario: fields.scenario,
    title: fields.title,
    steps: fields.steps,
    setup: fields.setup,
    startedAt: new Date(tally.t0).toISOString(),
    durationMs: endedAt - tally.t0,
    totals: tally.counts(),
    outcomes: tally.byOutcome(),
    phases: fields.phases,
    recovery: fields.recovery,
    timings: fields.timings,
    checks: fields.checks,
    lostExamples: tally.lostExamples(fields.lostExamples),
    notes: fields.notes,
    ...(fields.cases === undefined ? {} : { cases: fields.cases }),
  });
  expect(result.checks.filter((c) => !c.ok)).toEqual([]);
  expect(result.totals.lost).toBe(0);
}

/** The load's figures in a result's `setup`: its clients, the model's deadline, the client's. */
export function loadSetup(
  clients: number | string,
  deadlineMs: number,
  clientTimeoutMs: number,
): { clients: number | string; deadlineMs: number; clientTimeoutMs: number } {
  return { clients, deadlineMs, clientTimeoutMs };
}

/** The slowest answer of the whole load, against the model's deadline. */
export function slowestAnswer(tally: Tally, deadlineMs: number): Timing {
  return {
    name: 'slowest answer',
    ms: tally.maxLatency(),
    meaning: `the longest any request waited for its answer, out of a ${deadlineMs / 1000} s deadline`,
  };
}

/** Every request in flight at a fault (`tally.inFlightAt`) answered 200 with the right answer. */
export function inFlightCheck(name: string, inFlight: readonly Sample[]): Check {
  const ok = inFlight.filter((s) => s.verdict.kind === 'ok').length;
  return {
    name,
    ok: ok === inFlight.length,
    detail: `${inFlight.length} in flight, ${ok} answered 200 with the right answer`,
  };
}
