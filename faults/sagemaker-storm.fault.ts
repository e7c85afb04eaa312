import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import {
  startModelContainer,
  startSageMakerEmulator,
  type ModelContainer,
  type SageMakerEmulator,
} from '../test/support/sagemaker-emulator.js';
import { classify, failure, sleep, startLoad, Tally, type Verdict } from './lib/load.js';
import { IRIS, poolAnswers, poolCheck, poolInit } from './lib/pools.js';
import { phasesOf, type Check, type Timing } from './lib/results.js';
import { finishScenario, loadSetup } from './lib/scenario.js';
import { MODELS, Stack } from './lib/stack.js';

const TIMEOUT_MS = 1_000;
const CLIENT_TIMEOUT_MS = TIMEOUT_MS + 4_000;
const CLIENTS = 16;
const PHASE_MS = 6_000;

// A gateway process whose model has two SageMaker variants (endpoints of the
// emulator, both forwarding to one model container): "prod" takes the traffic,
// "backup" is its fallback. The endpoints throttle, stall and fail in phases.
describe('SageMaker throttling storm and timeouts', () => {
  let stack: Stack;
  let emulator: SageMakerEmulator;
  let container: ModelContainer;

  beforeAll(async () => {
    process.env['AWS_ACCESS_KEY_ID'] ??= 'test';
    process.env['AWS_SECRET_ACCESS_KEY'] ??= 'test';
    stack = await Stack.create();
    container = await startModelContainer(join(MODELS, 'iris-v1'), 'iris');
    emulator = await startSageMakerEmulator();
  });
  afterAll(async () => {
    await stack.close();
    await emulator.close();
    await container.close();
  });

  it('answers every request through throttling and timeouts, with a clear error when it cannot', async () => {
    const forward = { kind: 'forward', to: container.url } as const;
    emulator.set('iris-prod', forward);
    emulator.set('iris-backup', forward);
    const backend = (endpointName: string) => ({
      type: 'sagemaker',
      endpointName,
      endpoint: emulator.url,
    });
    const gateway = await stack.gateway({
      models: {
        iris: {
          timeoutMs: TIMEOUT_MS,
          fallback: ['backup'],
          variants: {
            prod: { weight: 1, backend: backend('iris-prod') },
            backup: { weight: 0, backend: backend('iris-backup') },
          },
        },
      },
    });
    const checks = await poolAnswers(IRIS, gateway.url, 'iris');
    const tally = new Tally();
    // Which variant answered each request (x-Amzn-Invoked-Production-Variant).
    const served: { sentAt: number; variant: string }[] = [];
    const load = startLoad(tally, {
      clients: CLIENTS,
      send: async (i): Promise<Verdict> => {
        const sentAt = Date.now();
        try {
          const response = await fetch(`${gateway.url}/endpoints/iris/invocations`, {
            ...poolInit(IRIS, i),
            signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
          });
          served.push({
            sentAt,
            variant: response.headers.get('x-amzn-invoked-production-variant') ?? '-',
          });
          return await classify(response, poolCheck(checks, i));
        } catch (error) {
          return failure(error, CLIENT_TIMEOUT_MS);
        }
      },
    });

    const marks: [string, number][] = [];
    const phase = async (name: string, prod: unknown, backup: unknown): Promise<void> => {
      emulator.set('iris-prod', prod as typeof forward);
      emulator.set('iris-backup', backup as typeof forward);
      marks.push([name, Date.now()]);
      await sleep(PHASE_MS);
    };
    await phase('normal', forward, forward);
    await phase('prod throttles (ThrottlingException)', { kind: 'throttle' }, forward);
    await phase('both throttle', { kind: 'throttle' }, { kind: 'throttle' });
    await phase(
      'prod throttles after 600 ms',
      { kind: 'delay', ms: 600, then: { kind: 'throttle' } },
      forward,
    );
    await phase(
      'prod stalls past the deadline (3 s)',
      { kind: 'delay', ms: 3_000, then: forward },
      forward,
    );
    await phase('prod 503, backup 500', { kind: 'unavailable' }, { kind: 'internal' });
    const clearedAt = Date.now();
    await phase('recovered', forward, forward);
    await load.stop();
    const endedAt = Date.now();

    // The first phase also holds the requests sent before its mark was taken.
    const cuts = marks.map(
      ([name, from], i) => [name, i === 0 ? 0 : from, marks[i + 1]?.[1] ?? Infinity] as const,
    );
    const phases = phasesOf(tally, cuts).map((p, i) => {
      const [, from, to] = cuts[i] ?? ['', 0, 0];
      const variants: Record<string, number> = {};
      for (const s of served) {
        if (s.sentAt >= from && s.sentAt < to) variants[s.variant] = (variants[s.variant] ?? 0) + 1;
      }
      return { ...p, served: variants };
    });
    const firstOk = tally.firstSuccessSentAfter(clearedAt);
    const timings: Timing[] = [
      {
        name: 'service back',
        ms: (firstOk?.answeredAt ?? endedAt) - clearedAt,
        meaning:
          'from both endpoints answering again until the first request sent after that was answered 200',
      },
      {
        name: 'slowest answer',
        ms: tally.maxLatency(),
        meaning: `the longest any request waited for its answer (deadline ${TIMEOUT_MS} ms)`,
      },
    ];
    const stall = phases.find((p) => p.name.startsWith('prod stalls'));
    // Requests of a phase answered before the next phase began (those in flight at a
    // switch meet the next phase's behaviour).
    const within = (i: number) => (s: { sentAt: number; answeredAt: number }) =>
      s.sentAt >= (cuts[i]?.[1] ?? 0) && s.answeredAt < (cuts[i]?.[2] ?? 0);
    const throttled = tally.counts(within(1));
    const failures = gateway
      .output()
      .split('\n')
      .filter((l) => l.includes('"msg":"SageMaker call failed"'))
      .map((l) => JSON.parse(l) as { endpoint: string; code: string; time: number });
    const failuresBy: Record<string, Record<string, number>> = {};
    for (const f of failures) {
      const phaseName = cuts.find(([, from, to]) => f.time >= from && f.time < to)?.[0] ?? 'setup';
      const byKey = (failuresBy[phaseName] ??= {});
      const key = `${f.endpoint} ${f.code}`;
      byKey[key] = (byKey[key] ?? 0) + 1;
    }
    const resultChecks: Check[] = [
      {
        name: 'fallback absorbed the throttling of prod',
        ok: throttled.succeeded === throttled.sent,
        detail: `${throttled.succeeded} of ${throttled.sent} requests sent and answered while prod throttled got 200 (from backup)`,
      },
      {
        name: 'deadline held while prod stalled',
        ok:
          tally.maxLatency(
            (s) => s.sentAt >= (cuts[4]?.[1] ?? 0) && s.sentAt < (cuts[5]?.[1] ?? 0),
          ) <
          TIMEOUT_MS + 1_000,
        detail: `outcomes while prod stalled: ${JSON.stringify(stall?.outcomes ?? {})}`,
      },
    ];
    await finishScenario(tally, endedAt, {
      scenario: 'sagemaker-storm',
      title: 'SageMaker throttling storm and timeouts',
      steps: [
        `The SageMaker emulator (test/support) with two endpoints forwarding to one iris-v1 model container; a gateway process whose model "iris" has variants prod (weight 1) and backup (weight 0, its fallback), both of type sagemaker with the emulator as endpoint, and a ${TIMEOUT_MS} ms deadline.`,
        `${CLIENTS} clients send two-row CSV requests on the SageMaker route back to back; each answer is compared with the answer its body got before the load.`,
        `Phases of ${PHASE_MS / 1000} s: ${marks.map(([n]) => n).join('; ')}.`,
      ],
      setup: {
        model: 'iris-v1 behind the emulator',
        ...loadSetup(CLIENTS, TIMEOUT_MS, CLIENT_TIMEOUT_MS),
        fallback: 'prod → backup',
      },
      phases,
      recovery: timings[0],
      timings,
      checks: resultChecks,
      notes: [
        `Calls the emulator received: ${[...emulator.calls].map(([name, n]) => `${name} ${n}`).join(', ')}.`,
        `Failed SageMaker calls the gateway logged (endpoint, code: calls) — ${Object.entries(
          failuresBy,
        )
          .map(
            ([phaseName, byKey]) =>
              `${phaseName}: ${Object.entries(byKey)
                .map(([key, n]) => `${key}: ${n}`)
                .join(', ')}`,
          )
          .join('; ')}.`,
      ],
    });
  });
});
