import { describe, it } from 'vitest';
import { repeat, sleep, waitUntil } from './lib/load.js';
import { IRIS, startPoolLoad } from './lib/pools.js';
import { startAofRedis } from './lib/redis-aof.js';
import { phasesOf, type Check, type Timing } from './lib/results.js';
import { finishScenario, loadSetup, slowestAnswer, useStack } from './lib/scenario.js';
import { irisService } from './lib/stack.js';

const TIMEOUT_MS = 10_000;
const CLIENT_TIMEOUT_MS = TIMEOUT_MS + 3_000;
const CLIENTS = 16;
const DOWN_MS = 3_000;

// Redis with AOF on is stopped and started again on the same port and directory
// while clients send requests through a queue variant.
describe('Redis restart (AOF on) under load', () => {
  const env = useStack(startAofRedis, (redis) => redis.close());

  it('answers 503 while Redis is down and loses no request across the restart', async () => {
    const { redis, stack } = env;
    const { gateway, workers } = await stack.queueService(irisService(redis.url, TIMEOUT_MS, 2));
    const { tally, load } = await startPoolLoad(IRIS, gateway.url, 'iris', {
      url: `${gateway.url}/endpoints/iris/invocations`,
      clients: CLIENTS,
      timeoutMs: CLIENT_TIMEOUT_MS,
    });
    // Readiness as a load balancer sees it, every 100 ms.
    const ready: { at: number; status: number }[] = [];
    const probe = repeat(100, async () => {
      const status = await fetch(`${gateway.url}/health/ready`, {
        signal: AbortSignal.timeout(2_000),
      })
        .then((r) => r.status)
        .catch(() => 0);
      ready.push({ at: Date.now(), status });
    });

    await sleep(6_000);
    const stopAt = Date.now();
    await redis.stop();
    const stoppedAt = Date.now();
    await sleep(DOWN_MS);
    const startAt = Date.now();
    await redis.start();
    const backAt = Date.now();
    const firstOk = await waitUntil(
      'a request sent after Redis came back succeeds',
      () => tally.firstSuccessSentAfter(backAt) !== undefined,
      30_000,
    ).then(() => tally.firstSuccessSentAfter(backAt));
    await sleep(8_000);
    await load.stop();
    await probe.stop();
    const endedAt = Date.now();

    const inFlight = tally.inFlightAt(stopAt);
    const first503 = tally.samples
      .filter((s) => s.sentAt >= stopAt && s.verdict.kind === 'clear')
      .sort((a, b) => a.answeredAt - b.answeredAt)[0];
    const notReady = ready.filter((r) => r.status !== 200);
    const timings: Timing[] = [
      {
        name: 'service back',
        ms: (firstOk?.answeredAt ?? endedAt) - backAt,
        meaning:
          'from Redis answering PING again until the first request sent after that was answered 200',
      },
      {
        name: 'Redis down',
        ms: backAt - stopAt,
        meaning: `from SIGTERM to Redis until it answered PING again (${DOWN_MS / 1000} s pause, then the AOF reload)`,
      },
      {
        name: 'first 503',
        ms: (first503?.answeredAt ?? stopAt) - stopAt,
        meaning: 'from SIGTERM to Redis until a client held its first clear refusal',
      },
      {
        name: 'readiness false',
        ms:
          notReady.length === 0
            ? 0
            : (notReady[notReady.length - 1]?.at ?? 0) - (notReady[0]?.at ?? 0),
        meaning: 'how long GET /health/ready answered 503 (first to last such probe)',
      },
      slowestAnswer(tally, TIMEOUT_MS),
    ];
    const resultChecks: Check[] = [
      {
        name: 'Redis really restarted from its AOF',
        ok: stoppedAt > stopAt && startAt > stoppedAt,
        detail: `stopped after ${stoppedAt - stopAt} ms, started again ${startAt - stoppedAt} ms later on port ${redis.port}, dir ${redis.dir} (appendonly yes)`,
      },
      {
        name: 'readiness went 503 while Redis was down and came back',
        ok: notReady.length > 0 && ready[ready.length - 1]?.status === 200,
        detail: `${notReady.length} of ${ready.length} probes answered 503; the last answered ${ready[ready.length - 1]?.status ?? '?'}`,
      },
      {
        name: 'requests in flight at the stop',
        ok: inFlight.every((s) => s.verdict.kind !== 'lost'),
        detail: `${inFlight.length} in flight: ${JSON.stringify(tally.byOutcome((s) => inFlight.includes(s)))}`,
      },
      {
        name: 'workers still running',
        ok: workers.every((w) => w.child.exitCode === null),
        detail: `${workers.filter((w) => w.child.exitCode === null).length} of ${workers.length} alive after the restart`,
      },
    ];
    await finishScenario(tally, endedAt, {
      scenario: 'redis-restart',
      title: 'Redis restart with AOF on',
      steps: [
        `redis-server with --appendonly yes (everysec) on a free port and a directory of its own; two iris-v2 workers (default 30 s locks), one gateway process with a queue variant and a ${TIMEOUT_MS / 1000} s deadline.`,
        `${CLIENTS} clients send two-row CSV requests on the SageMaker route back to back; each answer is compared with the answer its body got before the load; /health/ready is probed every 100 ms.`,
        `After 6 s Redis gets SIGTERM (it syncs the AOF and exits); ${DOWN_MS / 1000} s later it is started again on the same port and directory.`,
        'The load runs 8 s more after the first success.',
      ],
      setup: {
        model: 'iris-v2',
        workers: 2,
        ...loadSetup(CLIENTS, TIMEOUT_MS, CLIENT_TIMEOUT_MS),
        redis: 'appendonly yes, appendfsync everysec',
      },
      phases: phasesOf(tally, [
        ['before the stop', 0, stopAt],
        ['Redis down', stopAt, backAt],
        ['after the restart', backAt, Infinity],
      ]),
      recovery: timings[0],
      timings,
      checks: resultChecks,
      notes: [],
    });
  });
});
