import { jsonAnswer, request, startLoad, Tally, type AnswerCheck, type Load } from './load.js';

/**
 * Request bodies for one model, from a small pool of distinct bodies, so that each
 * answer under load can be checked against the answer its body got before the fault.
 */
interface Pool {
  readonly bodies: readonly string[];
  readonly contentType: string;
}

/** Iris rows as CSV request bodies (two rows each). */
export const IRIS: Pool = {
  contentType: 'text/csv',
  bodies: [
    '5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5\n',
    '4.9,3.0,1.4,0.2\n7.0,3.2,4.7,1.4\n',
    '5.8,2.7,5.1,1.9\n5.0,3.6,1.4,0.2\n',
    '6.4,3.2,4.5,1.5\n6.5,3.0,5.8,2.2\n',
    '5.7,2.8,4.1,1.3\n4.6,3.1,1.5,0.2\n',
    '6.9,3.1,5.4,2.1\n5.5,2.3,4.0,1.3\n',
  ],
};

/** One row of 512 features as JSON, for the `heavy` example model (a 512-2048-2048-512-10 MLP). */
export const HEAVY: Pool = {
  contentType: 'application/json',
  bodies: Array.from({ length: 8 }, (_, k) =>
    JSON.stringify([
      Array.from({ length: 512 }, (_, j) => Math.round(Math.sin((k + 1) * (j + 1)) * 1000) / 1000),
    ]),
  ),
};

/** The `i`-th request of a load: the pool's bodies in turn, answers as JSON. */
export function poolInit(pool: Pool, i: number): RequestInit {
  return {
    method: 'POST',
    body: pool.bodies[i % pool.bodies.length] ?? '',
    headers: { 'Content-Type': pool.contentType, Accept: 'application/json' },
  };
}

/** The check for the `i`-th request's answer (`checks` from `poolAnswers`). */
export function poolCheck(checks: readonly AnswerCheck[], i: number): AnswerCheck {
  return checks[i % checks.length] ?? (() => 'no check');
}

/** Ask the gateway once per pool body; the checks later answers must pass. */
export async function poolAnswers(
  pool: Pool,
  gatewayUrl: string,
  model: string,
): Promise<AnswerCheck[]> {
  const checks: AnswerCheck[] = [];
  for (let i = 0; i < pool.bodies.length; i++) {
    const response = await fetch(`${gatewayUrl}/v1/models/${model}/invoke`, poolInit(pool, i));
    if (response.status !== 200) {
      throw new Error(`baseline answer: ${response.status} ${await response.text()}`);
    }
    checks.push(jsonAnswer(await response.json()));
  }
  return checks;
}

interface PoolLoadOptions {
  /** Where every request of the load goes. @defaultValue the model's invoke route */
  readonly url?: string;
  readonly clients: number;
  /** The client's deadline. */
  readonly timeoutMs: number;
}

/**
 * Take the pool's baseline answers from `model` of the gateway, then start
 * closed-loop clients sending its bodies in turn to one URL, every answer
 * checked; the tally starts with the load.
 */
export async function startPoolLoad(
  pool: Pool,
  gatewayUrl: string,
  model: string,
  options: PoolLoadOptions,
): Promise<{ tally: Tally; load: Load }> {
  const { url = `${gatewayUrl}/v1/models/${model}/invoke`, timeoutMs } = options;
  const checks = await poolAnswers(pool, gatewayUrl, model);
  const tally = new Tally();
  const load = startLoad(tally, {
    clients: options.clients,
    send: (i) => request(url, poolInit(pool, i), timeoutMs, poolCheck(checks, i)),
  });
  return { tally, load };
}
