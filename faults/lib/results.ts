import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import type { Counts, Tally } from './load.js';

const RESULTS = fileURLToPath(new URL('../results/', import.meta.url));

/** A named duration, with what it measures. */
export interface Timing {
  readonly name: string;
  readonly ms: number;
  readonly meaning: string;
}

/** A property the scenario checked besides the counts. */
export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface Phase extends Counts {
  readonly name: string;
  readonly outcomes: Record<string, number>;
  /** Answers by the variant that gave them, where the scenario tracks it. */
  readonly served?: Record<string, number>;
}

/** One kind of request of a scenario that sends many kinds (malformed inputs). */
interface CaseResult {
  readonly name: string;
  readonly outcomes: Record<string, number>;
  /** The slowest answer under load. */
  readonly slowestMs: number;
  /** Its answer time alone, before the load; undefined where not measured. */
  readonly aloneMs?: number;
}

/** What `faults/render.mjs` reads: one file per scenario. */
export interface ScenarioResult {
  readonly scenario: string;
  readonly title: string;
  /** What was done, step by step. */
  readonly steps: readonly string[];
  readonly setup: Record<string, string | number>;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly totals: Counts;
  readonly outcomes: Record<string, number>;
  readonly phases: readonly Phase[];
  /** The headline recovery figure, one of `timings`. */
  readonly recovery: Timing | undefined;
  readonly timings: readonly Timing[];
  readonly checks: readonly Check[];
  readonly lostExamples: ReturnType<Tally['lostExamples']>;
  readonly cases?: readonly CaseResult[];
  readonly notes: readonly string[];
  readonly machine: ReturnType<typeof machine>;
}

function redisVersion(): string {
  try {
    return /v=(\S+)/.exec(execFileSync('redis-server', ['--version']).toString())?.[1] ?? '?';
  } catch {
    return 'not found';
  }
}

/** The commit measured, and whether the product code had uncommitted changes. */
function code(): { commit: string; uncommitted: boolean } {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8' }).trim();
    return {
      commit: git('rev-parse', '--short', 'HEAD'),
      uncommitted: git('status', '--porcelain', '--', 'packages', 'examples') !== '',
    };
  } catch {
    return { commit: 'unknown', uncommitted: false };
  }
}

function machine() {
  const cores = cpus();
  return {
    cpus: cores.length,
    cpuModel: cores[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    redis: redisVersion(),
    code: code(),
  };
}

/** Phases of a tally, cut by time: `[name, from, to]` on the scenario's clock (epoch ms). */
export function phasesOf(
  tally: Tally,
  cuts: readonly (readonly [string, number, number])[],
  filter: (tag: string) => boolean = () => true,
): Phase[] {
  return cuts.map(([name, from, to]) => {
    const inPhase = (s: { sentAt: number; tag: string }) =>
      s.sentAt >= from && s.sentAt < to && filter(s.tag);
    return { name, ...tally.counts(inPhase), outcomes: tally.byOutcome(inPhase) };
  });
}

/** Write `faults/results/<scenario>.json` (as Prettier formats it: the results are committed). */
export async function writeResult(
  result: Omit<ScenarioResult, 'machine'>,
): Promise<ScenarioResult> {
  const full: ScenarioResult = { ...result, machine: machine() };
  const file = `${RESULTS}${result.scenario}.json`;
  mkdirSync(RESULTS, { recursive: true });
  const options = (await resolveConfig(file)) ?? {};
  writeFileSync(file, await format(JSON.stringify(full), { ...options, filepath: file }));
  return full;
}
