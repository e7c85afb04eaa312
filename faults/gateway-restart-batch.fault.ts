import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { irisRows, syncAnswers, type BatchStatus } from '../test/support/batch.js';
import type { GatewayProcess } from '../test/support/gateway-process.js';
import { repeat, request, sleep, startLoad, Tally, waitUntil, type Verdict } from './lib/load.js';
import { IRIS, poolAnswers, poolCheck, poolInit } from './lib/pools.js';
import { phasesOf, type Check, type Timing } from './lib/results.js';
import { finishScenario, loadSetup, useRedisStack } from './lib/scenario.js';
import { logLines, queueGatewayConfig, queueName, SHORT_LOCKS, workerArgs } from './lib/stack.js';

const RECORDS = 100_000;
const TIMEOUT_MS = 10_000;
const CLIENT_TIMEOUT_MS = TIMEOUT_MS + 3_000;
const CLIENTS = 8;

// Two gateway replicas share Redis and a storage directory; a batch job runs
// while clients send real-time requests. The replica running the job is killed
// with SIGKILL and started again; then both replicas are restarted one after the
// other with SIGTERM (a rolling restart). The job must complete with every record
// exactly once, in order.
describe('gateway restart during a batch job', () => {
  const env = useRedisStack();
  const queue = queueName('batch');

  it('resumes the job after kill -9 and a rolling restart, with every record once', async () => {
    const { redis, stack } = env;
    const config = {
      ...queueGatewayConfig({
        redisUrl: redis.url,
        model: 'iris',
        variant: 'v1',
        queue,
        timeoutMs: TIMEOUT_MS,
      }),
      storage: { url: join(stack.dir, 'store') },
      // A dead gateway's batch task is taken back within about 3 s.
      tasks: { lockDurationMs: 2_000, stalledIntervalMs: 1_000 },
    };
    await stack.workers(2, workerArgs('iris-v1', queue, SHORT_LOCKS), redis.url);
    const gateways: { name: string; process: GatewayProcess; stoppedAt?: number }[] = [];
    const gateway = async (name: string) => {
      const started = await stack.gateway(config);
      gateways.push({ name, process: started });
      return started;
    };

    // The job starts on A, alone, so that A is the replica running it.
    const a = await gateway('A');
    const inputs = irisRows(RECORDS).map((row) => JSON.stringify([row]));
    const created = await fetch(`${a.url}/v1/batch-jobs?model=iris&maxRecordsPerJob=250`, {
      method: 'POST',
      body: `${inputs.join('\n')}\n`,
      headers: { 'Content-Type': 'application/jsonlines' },
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const b = await gateway('B');

    // Where clients and the status poller go: replicas in rotation, as a load
    // balancer would hold them. A connection refused never reached a gateway, so
    // it is sent to the next replica (as a balancer retries it).
    let targets: string[] = [b.url];
    let refusedRetries = 0;
    const checks = await poolAnswers(IRIS, b.url, 'iris');
    const tally = new Tally();
    const load = startLoad(tally, {
      clients: CLIENTS,
      send: async (i): Promise<Verdict> => {
        let verdict: Verdict = { kind: 'lost', label: 'no replica in rotation', detail: '' };
        for (let attempt = 0; attempt < 3; attempt++) {
          const list = targets;
          const url = list[(i + attempt) % list.length];
          if (url === undefined) break;
          verdict = await request(
            `${url}/v1/models/iris/invoke`,
            poolInit(IRIS, i),
            CLIENT_TIMEOUT_MS,
            poolCheck(checks, i),
          );
          if (verdict.kind !== 'lost' || verdict.label !== 'no answer: ECONNREFUSED') break;
          refusedRetries++;
        }
        return verdict;
      },
    });

    // Progress of the job, every 200 ms, from whichever replica answers.
    const progress: { at: number; done: number; state: string }[] = [];
    const poller = repeat(200, async () => {
      for (const url of targets) {
        const status = await fetch(`${url}/v1/batch-jobs/${id}`, {
          signal: AbortSignal.timeout(2_000),
        })
          .then((r) => (r.ok ? (r.json() as Promise<BatchStatus>) : undefined))
          .catch(() => undefined);
        if (status !== undefined) {
          progress.push({ at: Date.now(), done: status.records.done, state: status.state });
          return;
        }
      }
    });
    const done = () => progress[progress.length - 1]?.done ?? 0;
    const state = () => progress[progress.length - 1]?.state ?? 'unknown';

    // 1. kill -9 of the replica running the job; it is started again.
    await waitUntil('a fifth of the records done', () => done() >= RECORDS / 5, 120_000);
    const killedAt = Date.now();
    const doneAtKill = done();
    a.child.kill('SIGKILL');
    const aExit = await a.exited;
    const a2 = await gateway('A2');
    targets = [a2.url, b.url];
    const resumeLogs = () =>
      gateways
        .flatMap((g) =>
          logLines(g.process.output(), 'batch job resumed').map((l) => ({
            gateway: g.name,
            chunksDone: Number(l['chunksDone']),
            at: Number(l['time']),
          })),
        )
        .sort((x, y) => x.at - y.at);
    await waitUntil('the job resumed', () => resumeLogs().length > 0, 60_000);
    const resumedAt = resumeLogs()[0]?.at ?? 0;

    // 2. Rolling restart: each replica leaves the rotation, gets SIGTERM, and a new
    // one takes its place.
    await waitUntil('half the records done', () => done() >= RECORDS / 2, 120_000);
    const rollingAt = Date.now();
    const sigtermExits: (number | string)[] = [];
    const stopTimes: number[] = [];
    const holderBefore = resumeLogs()[0]?.gateway;
    for (const [old, next] of [
      [b, 'B2'],
      [a2, 'A3'],
    ] as const) {
      targets = targets.filter((u) => u !== old.url);
      await sleep(300);
      const termAt = Date.now();
      const entry = gateways.find((g) => g.process === old);
      if (entry !== undefined) entry.stoppedAt = termAt;
      old.child.kill('SIGTERM');
      sigtermExits.push(await old.exited);
      stopTimes.push(Date.now() - termAt);
      const fresh = await gateway(next);
      targets = [...targets, fresh.url];
    }
    const rolledAt = Date.now();

    await waitUntil('the job ended', () => ['completed', 'failed'].includes(state()), 180_000);
    const endedJobAt = Date.now();
    await load.stop();
    await poller.stop();
    const endedAt = Date.now();

    // The output: one line per input line, each the synchronous answer for its row.
    const front = targets[0] ?? '';
    const status = (await (await fetch(`${front}/v1/batch-jobs/${id}`)).json()) as BatchStatus;
    const output = (await (await fetch(`${front}/v1/batch-jobs/${id}/output`)).text())
      .split('\n')
      .slice(0, -1);
    const errors = await (await fetch(`${front}/v1/batch-jobs/${id}/errors`)).text();
    const answers = await syncAnswers((path, init) => fetch(front + path, init), inputs, {
      'Content-Type': 'application/json',
      Accept: 'application/json',
    });
    const wrongLines = output.filter((line, i) => line !== answers.get(inputs[i] ?? '')).length;
    const resumes = resumeLogs();
    // The SIGTERM of the replica that held the job, and the resume that followed it.
    const holderStop = gateways.find((g) => g.name === holderBefore)?.stoppedAt;
    const handover = holderStop === undefined ? undefined : resumes.find((r) => r.at > holderStop);

    // The longest time the job made no progress.
    let longestStall = 0;
    let lastChange = progress[0]?.at ?? 0;
    for (let i = 1; i < progress.length; i++) {
      const [prev, cur] = [progress[i - 1], progress[i]];
      if (prev !== undefined && cur !== undefined && cur.done !== prev.done) {
        longestStall = Math.max(longestStall, cur.at - lastChange);
        lastChange = cur.at;
      }
    }
    const timings: Timing[] = [
      {
        name: 'job resumed after kill -9',
        ms: resumedAt - killedAt,
        meaning:
          'from SIGKILL of the replica running the job until another replica logged "batch job resumed" (the 2 s task lock expires, the stalled task is taken back)',
      },
      {
        name: 'job handed over after SIGTERM',
        ms: handover === undefined || holderStop === undefined ? -1 : handover.at - holderStop,
        meaning: `from SIGTERM of the replica holding the job (${holderBefore ?? '?'}) until another replica resumed it (no lock to wait out)`,
      },
      {
        name: 'longest stall of the job',
        ms: longestStall,
        meaning: 'the longest stretch in which the job finished no record',
      },
      {
        name: 'batch job, created to completed',
        ms: endedJobAt - tally.t0,
        meaning: `${RECORDS} records through two workers, with the restarts`,
      },
      {
        name: 'graceful stops',
        ms: Math.max(0, ...stopTimes),
        meaning: 'the slowest SIGTERM-to-exit of the rolling restart',
      },
      {
        name: 'slowest real-time answer',
        ms: tally.maxLatency(),
        meaning: 'the longest any real-time request waited, out of a 10 s deadline',
      },
    ];
    const resultChecks: Check[] = [
      {
        name: 'job completed with every record',
        ok:
          status.state === 'completed' &&
          status.records.done === RECORDS &&
          status.records.failed === 0 &&
          status.records.total === RECORDS,
        detail: `state ${status.state}, records ${JSON.stringify(status.records)}`,
      },
      {
        name: 'output: one right line per record, in order',
        ok: output.length === RECORDS && wrongLines === 0,
        detail: `${output.length} output lines for ${RECORDS} input lines; ${wrongLines} differ from the synchronous answer for their row`,
      },
      {
        name: 'no error lines',
        ok: errors === '',
        detail: `errors output: ${errors.length} bytes`,
      },
      {
        name: 'resumed, not restarted from the top',
        ok: resumes.length >= 2 && resumes.every((r) => r.chunksDone > 0) && handover !== undefined,
        detail: `"batch job resumed" logged ${resumes.length} times: ${resumes.map((r) => `by ${r.gateway} at chunk ${r.chunksDone}`).join(', ')} (of ${RECORDS / 250})`,
      },
      {
        name: 'exits',
        ok: aExit === 'SIGKILL' && sigtermExits.every((e) => e === 0),
        detail: `kill -9: ${String(aExit)}; SIGTERM: ${sigtermExits.map(String).join(', ')}`,
      },
    ];
    await finishScenario(tally, endedAt, {
      scenario: 'gateway-restart-batch',
      title: 'Gateway restart during a batch job',
      steps: [
        `Redis (private), two iris-v1 workers (2 s locks), gateway replicas sharing Redis and one storage directory (tasks.lockDurationMs 2000, stalledIntervalMs 1000).`,
        `A batch job of ${RECORDS} JSON Lines records (250 per chunk) is created on replica A, alone, so that A runs it; then replica B starts.`,
        `${CLIENTS} clients send real-time CSV requests to the replicas in rotation (only B while A is down); a connection refused is sent to the next replica, as a load balancer does.`,
        `At ${RECORDS / 5} records done, A is killed with SIGKILL and started again (A2).`,
        `At ${RECORDS / 2} records done, a rolling restart: B, then A2, each taken out of rotation, 300 ms later sent SIGTERM, and replaced by a new replica.`,
        'When the job has completed, its output is compared line by line with synchronous answers for the same rows.',
      ],
      setup: {
        records: RECORDS,
        maxRecordsPerJob: 250,
        workers: 2,
        replicas: 2,
        ...loadSetup(CLIENTS, TIMEOUT_MS, CLIENT_TIMEOUT_MS),
      },
      phases: phasesOf(tally, [
        ['before the kill', 0, killedAt],
        ['kill -9 of A, until the job resumed', killedAt, resumedAt],
        ['until the rolling restart', resumedAt, rollingAt],
        ['rolling restart (SIGTERM B, then A2)', rollingAt, rolledAt],
        ['after the restarts', rolledAt, Infinity],
      ]),
      recovery: timings[0],
      timings,
      checks: resultChecks,
      notes: [
        `Connection-refused requests re-sent to another replica: ${refusedRetries}.`,
        `Records done at the kill: ${doneAtKill}.`,
      ],
    });
  });
});
