import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../test/support/redis-server.js';
import { HEAVY_ROWS, heavyAnswers } from './lib/heavy.js';
import { request, sleep, startLoad, Tally } from './lib/load.js';
import { phasesOf, writeResult, type Check, type Timing } from './lib/results.js';
import { MODELS, Stack } from './lib/stack.js';

const TIMEOUT_MS = 10_000;
const CLIENT_TIMEOUT_MS = TIMEOUT_MS + 3_000;
const CLIENTS = 12;

// Two workers on the heavy model's queue; one is stopped with SIGTERM under load
// (it must finish the jobs it holds and exit 0), then started again.
describe('worker SIGTERM under load', () => {
  let redis: RedisServer;
  let stack: Stack;
  const queue = `faults-heavy-${randomUUID()}`;
  const workerArgs = [
    '--model',
    join(MODELS, 'heavy'),
    '--queue',
    queue,
    '--max-batch-size',
    '16',
    '--threads',
    '1',
  ];

  beforeAll(async () => {
    redis = await startRedisServer();
    stack = await Stack.create();
  });
  afterAll(async () => {
    await stack.close();
    await redis.stop();
  });

  it('finishes the jobs in hand, exits 0, and loses no request', async () => {
    const [victim] = await Promise.all([
      stack.worker(workerArgs, redis.url),
      stack.worker(workerArgs, redis.url),
    ]);
    const gateway = await stack.gateway({
      redis: { url: redis.url },
      models: {
        heavy: {
          timeoutMs: TIMEOUT_MS,
          variants: { gpu: { weight: 1, backend: { type: 'queue', queue } } },
        },
      },
    });
    const checks = await heavyAnswers(gateway.url, 'heavy');
    const tally = new Tally();
    const load = startLoad(tally, {
      clients: CLIENTS,
      send: (i) =>
        request(
          `${gateway.url}/v1/models/heavy/invoke`,
          {
            method: 'POST',
            body: HEAVY_ROWS[i % HEAVY_ROWS.length] ?? '',
            headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
          },
          CLIENT_TIMEOUT_MS,
          checks[i % checks.length] ?? (() => 'no check'),
        ),
    });

    await sleep(5_000);
    const termAt = Date.now();
    victim.child.kill('SIGTERM');
    const exit = await victim.exited;
    const exitedAt = Date.now();
    await sleep(8_000);
    const restartAt = Date.now();
    await stack.worker(workerArgs, redis.url);
    const restartedAt = Date.now();
    await sleep(8_000);
    await load.stop();
    const endedAt = Date.now();

    const inFlight = tally.samples.filter((s) => s.sentAt < termAt && s.answeredAt > termAt);
    const timings: Timing[] = [
      {
        name: 'worker stop',
        ms: exitedAt - termAt,
        meaning: 'from SIGTERM until the worker had finished the jobs it held and exited',
      },
      {
        name: 'slowest answer',
        ms: tally.maxLatency(),
        meaning: 'the longest any request waited for its answer, out of a 10 s deadline',
      },
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
      {
        name: 'requests in flight at the SIGTERM',
        ok: inFlight.every((s) => s.verdict.kind === 'ok'),
        detail: `${inFlight.length} in flight, ${inFlight.filter((s) => s.verdict.kind === 'ok').length} answered 200 with the right answer`,
      },
    ];
    const result = await writeResult({
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
        clients: CLIENTS,
        deadlineMs: TIMEOUT_MS,
        clientTimeoutMs: CLIENT_TIMEOUT_MS,
      },
      startedAt: new Date(tally.t0).toISOString(),
      durationMs: endedAt - tally.t0,
      totals: tally.counts(),
      outcomes: tally.byOutcome(),
      phases: phasesOf(tally, [
        ['before the SIGTERM (2 workers)', 0, termAt],
        ['stopping and stopped (1 worker)', termAt, restartedAt],
        ['after the restart (2 workers)', restartedAt, Infinity],
      ]),
      recovery: timings[0],
      timings,
      checks: resultChecks,
      lostExamples: tally.lostExamples(),
      notes: [],
    });
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
    expect(result.totals.lost).toBe(0);
  });
});
