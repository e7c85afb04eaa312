import { describe, it } from 'vitest';
import type { WorkerProcess } from '../test/support/worker-process.js';
import { sleep, waitUntil } from './lib/load.js';
import { HEAVY, startPoolLoad } from './lib/pools.js';
import { phasesOf, type Check, type Timing } from './lib/results.js';
import {
  finishScenario,
  inFlightCheck,
  loadSetup,
  slowestAnswer,
  useRedisStack,
} from './lib/scenario.js';
import { heavyService, metric, SHORT_LOCKS } from './lib/stack.js';

const TIMEOUT_MS = 10_000; // the model's deadline in the gateway
const CLIENT_TIMEOUT_MS = TIMEOUT_MS + 3_000;
const CLIENTS = 24;

// Two workers on the heavy model's queue; one is killed with SIGKILL while it holds
// jobs, the other keeps running; the killed one is started again.
describe('worker kill -9 mid-batch', () => {
  const env = useRedisStack();

  it('loses no request when a worker is killed with jobs in hand', async () => {
    const { redis, stack } = env;
    const { gateway, workers, addWorker } = await stack.queueService(
      heavyService(redis.url, TIMEOUT_MS, SHORT_LOCKS),
    );
    const { tally, load } = await startPoolLoad(HEAVY, gateway.url, 'heavy', {
      clients: CLIENTS,
      timeoutMs: CLIENT_TIMEOUT_MS,
    });

    // The victim is killed right after its model finished a batch: it is then in the
    // middle of a job (a job carries a group of requests, run in batches of 16). If
    // no request of its had to be taken back, the kill missed; the victim is
    // restarted and killed again, at most three times.
    const batches = async (w: WorkerProcess): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${w.metricsPort}/metrics`)).text();
      return Number(/^switchyard_worker_batch_size_count\{[^}]*\} (\d+)/m.exec(text)?.[1] ?? 0);
    };
    await sleep(5_000);
    let victim = workers[0];
    let killedAt = 0;
    let restartAt = 0;
    let restartedAt = 0;
    let activeAtKill = 0;
    let exit: number | string = 'not killed';
    let attempts = 0;
    while (victim !== undefined && attempts < 3) {
      attempts++;
      const target: WorkerProcess = victim;
      const seen = await batches(target);
      await waitUntil(
        'a batch on the victim',
        async () => (await batches(target)) > seen,
        10_000,
        5,
      );
      killedAt = Date.now();
      target.child.kill('SIGKILL');
      activeAtKill =
        (await metric(gateway.url, /^switchyard_gateway_queue_depth\{.*state="active"/)) ?? 0;
      exit = await target.exited;
      await sleep(attempts === 1 ? 10_000 : 4_000);
      restartAt = Date.now();
      victim = await addWorker();
      restartedAt = Date.now();
      if (tally.inFlightAt(killedAt).some((s) => s.answeredAt - killedAt >= 2_000)) break;
    }
    await sleep(8_000);
    await load.stop();
    const endedAt = Date.now();

    // Requests that were in flight when the worker died: how long until the last of
    // them was answered (its job taken back from the dead worker and run again).
    const inFlight = tally.inFlightAt(killedAt);
    const lastInFlight = Math.max(0, ...inFlight.map((s) => s.answeredAt - killedAt));
    // Answered only after the dead worker's 2 s lock expired: its jobs, run again.
    const retaken = inFlight.filter((s) => s.answeredAt - killedAt >= 2_000);
    const timings: Timing[] = [
      {
        name: 'in-flight requests answered',
        ms: lastInFlight,
        meaning:
          'from the kill until the last request in flight at the kill was answered (lock expiry, stalled check, re-run on the other worker)',
      },
      slowestAnswer(tally, TIMEOUT_MS),
      {
        name: 'worker restart',
        ms: restartedAt - restartAt,
        meaning: 'from starting the killed worker again until it consumed (model load included)',
      },
    ];
    const resultChecks: Check[] = [
      {
        name: 'the victim held jobs when killed',
        ok: retaken.length > 0,
        detail: `${retaken.length} requests in flight at the kill were answered only after the dead worker's 2 s lock expired, by a re-run of their jobs; ${activeAtKill} jobs were active just after the kill (gateway queue_depth{state="active"}); kill ${attempts} of at most 3`,
      },
      {
        name: 'the victim died by SIGKILL',
        ok: exit === 'SIGKILL',
        detail: `exit: ${String(exit)}`,
      },
      inFlightCheck('requests in flight at the kill', inFlight),
    ];
    await finishScenario(tally, endedAt, {
      scenario: 'worker-kill-9',
      title: 'Worker kill -9 mid-batch',
      steps: [
        `Redis (private, no persistence), two workers on the heavy model's queue (--max-batch-size 16, --threads 1, --lock-duration-ms 2000, --stalled-interval-ms 1000), one gateway process with a queue variant and a ${TIMEOUT_MS / 1000} s deadline.`,
        `${CLIENTS} clients send one-row requests (512 features, JSON) back to back; each answer is compared with the answer its row got before the load.`,
        'After 5 s, one worker is killed with SIGKILL right after its model finished a batch, so in the middle of a job; the other keeps running.',
        '10 s later the killed worker is started again (had none of its requests needed a re-run, the kill would have missed: the new process would be killed the same way, at most three kills); the load runs 8 s more.',
      ],
      setup: {
        model: 'heavy (512-2048-2048-512-10 MLP)',
        workers: 2,
        ...loadSetup(CLIENTS, TIMEOUT_MS, CLIENT_TIMEOUT_MS),
      },
      phases: phasesOf(tally, [
        ['before the kill (2 workers)', 0, killedAt],
        ['after the kill (1 worker)', killedAt, restartedAt],
        ['after the restart (2 workers)', restartedAt, Infinity],
      ]),
      recovery: timings[0],
      timings,
      checks: resultChecks,
      notes: attempts > 1 ? [`It took ${attempts} kills to hit a worker with jobs in hand.`] : [],
    });
  });
});
