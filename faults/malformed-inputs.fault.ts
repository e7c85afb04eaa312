import { describe, it } from 'vitest';
import { f32Header, npy, npyRows } from './lib/bodies.js';
import { CSV, JSON_TYPE, malformedCases, NPY, ROWS, type Case } from './lib/malformed-cases.js';
import {
  jsonAnswer,
  repeat,
  request,
  sleep,
  startLoad,
  Tally,
  type AnswerCheck,
  type Verdict,
} from './lib/load.js';
import { phasesOf, type Check, type Timing } from './lib/results.js';
import { finishScenario, loadSetup, useRedisStack } from './lib/scenario.js';
import { irisService, metric } from './lib/stack.js';
import { trickle } from './lib/upload.js';

const TIMEOUT_MS = 5_000;
const CLIENT_TIMEOUT_MS = TIMEOUT_MS + 10_000;
const LOAD_MS = 30_000;
const MAX_BODY = 6 * 1024 * 1024; // the model's maxBodyBytes (the default)

// Malformed requests of every kind, sent without pause by several clients while
// other clients send good requests to the same model, through a queue to a worker.
describe('malformed inputs at load', () => {
  const env = useRedisStack();

  it('refuses every malformed request with a 4xx and keeps answering good ones', async () => {
    const { redis, stack } = env;
    const { gateway, workers } = await stack.queueService({
      ...irisService(redis.url, TIMEOUT_MS, 1),
      maxBodyBytes: MAX_BODY,
    });
    const [worker] = workers;
    if (worker === undefined) throw new Error('no worker');
    const url = `${gateway.url}/v1/models/iris/invoke`;

    // Good requests, and the answers they get before the load.
    const goodBodies: [string, Uint8Array | string][] = [
      [CSV, ROWS.map((r) => r.join(',')).join('\n')],
      [JSON_TYPE, JSON.stringify(ROWS)],
      [NPY, npyRows(ROWS)],
    ];
    const zeros = npy(f32Header('2, 4'), new Uint8Array(32));
    const answerFor = async (body: Uint8Array | string, type: string): Promise<AnswerCheck> => {
      const response = await fetch(url, {
        method: 'POST',
        body,
        headers: { 'Content-Type': type, Accept: JSON_TYPE },
      });
      if (response.status !== 200) throw new Error(`baseline: ${response.status}`);
      return jsonAnswer(await response.json());
    };
    const goodChecks = await Promise.all(goodBodies.map(([type, body]) => answerFor(body, type)));
    const zerosCheck = await answerFor(zeros, NPY);

    const cases = await malformedCases(zerosCheck);

    // Outcomes and the slowest answer of each case.
    const byCase = new Map<string, { outcomes: Record<string, number>; slowestMs: number }>();
    const timed = async (name: string, run: () => Promise<Verdict>): Promise<Verdict> => {
      const started = Date.now();
      const verdict = await run();
      const seen = byCase.get(name) ?? { outcomes: {}, slowestMs: 0 };
      const label = verdict.kind === 'ok' ? '200 OK (right answer)' : verdict.label;
      seen.outcomes[label] = (seen.outcomes[label] ?? 0) + 1;
      seen.slowestMs = Math.max(seen.slowestMs, Date.now() - started);
      byCase.set(name, seen);
      return verdict;
    };
    const refused: AnswerCheck = () => 'answered 200 to a malformed request';
    const send = (c: Case): Promise<Verdict> => {
      const init: RequestInit = { method: 'POST', headers: c.headers };
      if (c.body !== undefined) init.body = c.body;
      return request(url, init, CLIENT_TIMEOUT_MS, c.answer ?? refused);
    };
    // What each case costs alone, before the load: its answer time with nothing else running.
    const alone = new Map<string, number>();
    for (const c of cases) {
      const started = Date.now();
      await send(c);
      alone.set(c.name, Date.now() - started);
    }

    const tally = new Tally();
    const loads = [
      startLoad(tally, {
        clients: 4,
        tag: 'good requests',
        send: (i) => {
          const [type, body] = goodBodies[i % goodBodies.length] ?? [CSV, ''];
          return request(
            url,
            { method: 'POST', body, headers: { 'Content-Type': type, Accept: JSON_TYPE } },
            CLIENT_TIMEOUT_MS,
            goodChecks[i % goodChecks.length] ?? (() => 'no check'),
          );
        },
      }),
      startLoad(tally, {
        clients: 6,
        tag: 'malformed requests',
        send: async (i) => {
          const c = cases[i % cases.length];
          if (c === undefined) throw new Error('no case');
          return timed(c.name, () => send(c));
        },
      }),
      startLoad(tally, {
        clients: 2,
        tag: 'slow uploads',
        send: async (i) => {
          const kinds = [
            {
              name: 'slow upload: valid CSV, 2 bytes per 100 ms',
              body: Buffer.from('5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5\n'),
              chunkBytes: 2,
              check: goodChecks[0] ?? refused,
            },
            {
              name: 'slow upload: ragged JSON, 1 byte per 100 ms',
              body: Buffer.from('[[1,2,3,4],[1,2]]'),
              chunkBytes: 1,
              type: JSON_TYPE,
              check: refused,
            },
            {
              name: 'slow upload: 8 MB chunked, 256 KiB per 100 ms',
              body: Buffer.alloc(8 * 1024 * 1024, 0x31),
              chunkBytes: 256 * 1024,
              check: refused,
            },
          ];
          const k = kinds[i % kinds.length];
          if (k === undefined) throw new Error('no kind');
          return timed(k.name, () =>
            trickle(url, {
              headers: { 'Content-Type': k.type ?? CSV, Accept: JSON_TYPE },
              body: k.body,
              chunkBytes: k.chunkBytes,
              gapMs: 100,
              timeoutMs: CLIENT_TIMEOUT_MS + 10_000,
              check: k.check,
            }),
          );
        },
      }),
    ];
    // Stalled uploads, once each: half a body and then silence, or a body that
    // never ends (one byte a second). The model's deadline is 5 s; each waits 15 s.
    const stalled = Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const endless = i % 2 === 1;
        const name = endless
          ? 'stalled upload: chunked, 1 byte a second, never ends'
          : 'stalled upload: Content-Length 1000, stops after 100 bytes';
        const sentAt = Date.now();
        const verdict = await timed(name, () =>
          trickle(url, {
            headers: endless
              ? { 'Content-Type': CSV, Accept: JSON_TYPE }
              : { 'Content-Type': CSV, Accept: JSON_TYPE, 'Content-Length': '1000' },
            body: Buffer.from('5.1,3.5,1.4,0.2\n'.repeat(70)),
            chunkBytes: endless ? 1 : 100,
            gapMs: 1_000,
            ...(endless ? { endless: true } : { stallAfterBytes: 100 }),
            timeoutMs: CLIENT_TIMEOUT_MS,
            check: refused,
          }),
        );
        tally.add({ sentAt, answeredAt: Date.now(), verdict, tag: 'stalled uploads' });
      }),
    );

    // Health as a load balancer sees it.
    const health: { at: number; status: number; ms: number }[] = [];
    const probe = repeat(200, async () => {
      const at = Date.now();
      const status = await fetch(`${gateway.url}/health/ready`, {
        signal: AbortSignal.timeout(2_000),
      })
        .then((r) => r.status)
        .catch(() => 0);
      health.push({ at, status, ms: Date.now() - at });
    });

    await sleep(LOAD_MS);
    await Promise.all(loads.map((l) => l.stop()));
    await stalled;
    await probe.stop();
    const endedAt = Date.now();
    const goodCounts = tally.counts((s) => s.tag === 'good requests');
    // Cases in the order they were listed, then slow, then stalled uploads.
    const rank = (name: string): number => {
      const i = cases.findIndex((c) => c.name === name);
      if (i >= 0) return i;
      return cases.length + (name.startsWith('slow') ? 0 : 10);
    };
    // How the gateway logged and counted the uploads their clients gave up on.
    const unhandled = gateway
      .output()
      .split('\n')
      .filter((l) => l.includes('"msg":"unhandled error"'));
    const unhandledErrors = [
      ...new Set(unhandled.map((l) => String((JSON.parse(l) as { err?: unknown }).err))),
    ];
    const internalCount = await metric(
      gateway.url,
      /^switchyard_gateway_requests_total\{[^}]*code="INTERNAL"/,
    );

    const tags = ['good requests', 'malformed requests', 'slow uploads', 'stalled uploads'];
    const phases = tags.flatMap((tag) => phasesOf(tally, [[tag, 0, Infinity]], (t) => t === tag));
    const fiveHundreds = tally.samples.filter(
      (s) =>
        s.tag !== 'good requests' && s.verdict.kind !== 'ok' && /^5\d\d /.test(s.verdict.label),
    );
    const badHealth = health.filter((h) => h.status !== 200);
    const timings: Timing[] = [
      {
        name: 'slowest good answer',
        ms: tally.maxLatency((s) => s.tag === 'good requests'),
        meaning: `the longest a good request waited for its answer (deadline ${TIMEOUT_MS} ms)`,
      },
      {
        name: 'slowest health probe',
        ms: Math.max(0, ...health.map((h) => h.ms)),
        meaning: 'the longest GET /health/ready took',
      },
      {
        name: 'slowest refusal',
        ms: tally.maxLatency((s) => s.tag === 'malformed requests'),
        meaning: 'the longest a malformed request waited for its 4xx',
      },
    ];
    const resultChecks: Check[] = [
      {
        name: 'no 5xx for a malformed request',
        ok: fiveHundreds.length === 0,
        detail: `${fiveHundreds.length} answered 5xx`,
      },
      {
        name: 'gateway and worker still running',
        ok: gateway.child.exitCode === null && worker.child.exitCode === null,
        detail: `gateway exit ${String(gateway.child.exitCode)}, worker exit ${String(worker.child.exitCode)}`,
      },
      {
        name: 'healthy throughout',
        ok: badHealth.length === 0,
        detail: `${health.length - badHealth.length} of ${health.length} readiness probes answered 200`,
      },
      {
        name: 'every good request answered 200',
        ok: goodCounts.succeeded === goodCounts.sent,
        detail: `${goodCounts.succeeded} of ${goodCounts.sent}: ${JSON.stringify(tally.byOutcome((s) => s.tag === 'good requests'))}`,
      },
    ];
    await finishScenario(tally, endedAt, {
      scenario: 'malformed-inputs',
      title: 'Malformed inputs at load',
      steps: [
        `Redis (private), one iris-v2 worker (--threads 1), one gateway process with a queue variant, a ${TIMEOUT_MS / 1000} s deadline and the default 6 MB body limit.`,
        `For ${LOAD_MS / 1000} s: 4 clients send good requests (CSV, JSON, NPY; answers checked); 6 clients send the ${cases.length} malformed requests listed below in turn; 2 clients upload bodies slowly (valid CSV, ragged JSON, an 8 MB chunked body), each over a few seconds.`,
        `At the start, 6 stalled uploads: 3 announce Content-Length 1000 and stop after 100 bytes, 3 send a chunked body one byte a second and never end. Each waits ${CLIENT_TIMEOUT_MS / 1000} s for an answer.`,
        'GET /health/ready is probed every 200 ms.',
      ],
      setup: {
        model: 'iris-v2',
        workers: 1,
        ...loadSetup(
          '4 good + 6 malformed + 2 slow uploads (+ 6 stalled uploads)',
          TIMEOUT_MS,
          CLIENT_TIMEOUT_MS,
        ),
        maxBodyBytes: MAX_BODY,
      },
      phases,
      recovery: undefined,
      timings,
      checks: resultChecks,
      lostExamples: 10,
      notes: [
        `The gateway logged ${unhandled.length} "unhandled error" lines (${unhandledErrors.join('; ') || 'none'}) and counted ${internalCount ?? 0} requests as INTERNAL in switchyard_gateway_requests_total.`,
      ],
      cases: [...byCase.entries()]
        .sort(([x], [y]) => rank(x) - rank(y))
        .map(([name, seen]) => ({
          name,
          outcomes: seen.outcomes,
          slowestMs: seen.slowestMs,
          ...(alone.has(name) ? { aloneMs: alone.get(name) ?? 0 } : {}),
        })),
    });
  });
});
