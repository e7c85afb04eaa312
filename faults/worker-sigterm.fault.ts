import { describe, it } from 'vitest';
import { sleep } from './lib/load.js';
import { HEAVY, startPoolLoad } from './lib/pools.js';
import { phasesOf, type Check, type Timing } from './lib/results.js';
import {
  finishScenario,
  inFlightCheck,
  loadSetup,
  slowestAnswer,
  useRedisStack,
} from './lib/scenario.js';
import { heavyService } from './lib/stack.js';

const TIMEOUT_MS = 10_000;
const CLIENT_TIMEOUT_MS = TIMEOUT_MS + 3_000;
const CLIENTS = 12;

// Two workers on the heavy model's queue; one is stopped with SIGTERM under load
// (it must finish the jobs it holds and exit 0), then started again.
describe('worker SIGTERM under load', () => {
  const env = useRedisStack();

  it('finishes the jobs in hand, exits 0, and loses no request', async () => {
    const { redis, stack } = env;
    const { gateway, workers, addWorker } = await stack.queueService(
      heavyService(redis.url, TIMEOUT_MS),
    );
    const [victim] = workers;
    if (victim === undefined) throw new Error('no worker');
    const { tally, load } = await startPoolLoad(HEAVY, gateway.url, 'heavy', {
      clients: CLIENTS,
      timeoutMs: CLIENT_TIMEOUT_MS,
    });

    await sleep(5_000);
    const termAt = Date.now();
    victim.child.kill('SIGTERM');
    const exit = await victim.exited;
    const exitedAt = Date.now();
    await sleep(8_000);
    const restartAt = Date.now();
    await addWorker();
    const restartedAt = Date.now();
    await sleep(8_000);
    await load.stop();
    const endedAt = Date.now();

    const inFlight = tally.inFlightAt(termAt);
    const timings: Timing[] = [
      {
        name: 'worker stop',
        ms: exitedAt - termAt,
        meaning: 'from SIGTERM until the worker had finished the jobs it held and exited',
      },
      slowestAnswer(tally, TIMEOUT_MS),
      {
        name: 'slowest in-flight answer',
        ms: Math.max(0, ...inFlight.map((s) => s.answeredAt - termAt)),
        meaning: 'from SIGTERM until the last request in flight at that moment was answered',
      },
      {
        name: 'worker restart',
        ms: restartedAt - restartAt,
        meaning: 'from starting the worker again until it consumed (model load included)',
      },
    ];
    const resultChecks: Check[] = [
      { name: 'exit code 0', ok: exit === 0, detail: `exit: ${String(exit)}` },
      {
        name: 'logged "stopped" after finishing its work',
        ok: victim.output().includes('"msg":"stopped"'),
        detail: victim.output().includes('"msg":"stopped"')
          ? 'its log ends with "stopping: finishing work in flight", then "stopped"'
          : 'no "stopped" line in its log',
      },
      inFlightCheck('requests in flight at the SIGTERM', inFlight),
    ];
    await finishScenario(tally, endedAt, {
      scenario: 'worker-sigterm',
      title: 'Worker SIGTERM (graceful stop) under load',
      steps: [
        `Redis (private, no persistence), two workers on the heavy model's queue (--max-batch-size 16, --threads 1, default locks), one gateway process with a queue variant and a ${TIMEOUT_MS / 1000} s deadline.`,
        `${CLIENTS} clients send one-row requests back to back; each answer is compared with the answer its row got before the load.`,
        'After 5 s, one worker gets SIGTERM; the scenario waits for it to exit.',
        '8 s after it exited it is started again; the load runs 8 s more.',
      ],
      setup: {
        model: 'heavy (512-2048-2048-512-10 MLP)',
        workers: 2,
        ...loadSetup(CLIENTS, TIMEOUT_MS, CLIENT_TIMEOUT_MS),
      },
      phases: phasesOf(tally, [
        ['before the SIGTERM (2 workers)', 0, termAt],
        ['stopping and stopped (1 worker)', termAt, restartedAt],
        ['after the restart (2 workers)', restartedAt, Infinity],
      ]),
      recovery: timings[0],
      timings,
      checks: resultChecks,
      notes: [],
    });
  });
});
