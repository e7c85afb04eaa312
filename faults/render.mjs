// Render docs/reliability.md from faults/results/*.json (written by `pnpm faults`).
// Plain Node, no dependencies: `node faults/render.mjs`.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';

/** @typedef {import('./lib/results.js').ScenarioResult} Result */
/** @typedef {import('./lib/results.js').Phase} Phase */

const RESULTS = fileURLToPath(new URL('results/', import.meta.url));
const PAGE = fileURLToPath(new URL('../docs/reliability.md', import.meta.url));

/** The scenarios, in the order of the page, with their file. */
const SCENARIOS = [
  ['worker-kill-9', 'worker-kill.fault.ts'],
  ['worker-sigterm', 'worker-sigterm.fault.ts'],
  ['redis-restart', 'redis-restart.fault.ts'],
  ['sagemaker-storm', 'sagemaker-storm.fault.ts'],
  ['gateway-restart-batch', 'gateway-restart-batch.fault.ts'],
  ['malformed-inputs', 'malformed-inputs.fault.ts'],
];

/** @param {string} name @returns {Result | undefined} */
function load(name) {
  const file = `${RESULTS}${name}.json`;
  if (!existsSync(file)) return undefined;
  /** @type {unknown} */
  const parsed = JSON.parse(readFileSync(file, 'utf8'));
  return /** @type {Result} */ (parsed);
}

/** @param {number} n */
const num = (n) => n.toLocaleString('en-US');

/** @param {number} ms */
const dur = (ms) =>
  ms < 0 ? 'n/a' : ms < 10_000 ? `${num(Math.round(ms))} ms` : `${(ms / 1000).toFixed(1)} s`;

/** @param {Record<string, number>} outcomes */
const outcomeList = (outcomes) =>
  Object.entries(outcomes)
    .sort(([, a], [, b]) => b - a)
    .map(([label, n]) => `${num(n)} × ${label}`)
    .join('; ');

/** @param {string} text */
const cell = (text) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** @param {Result} r */
const passed = (r) => r.totals.lost === 0 && r.checks.every((c) => c.ok);

/** @param {Result} r @param {string} name */
const timing = (r, name) => r.timings.find((t) => t.name === name)?.ms ?? -1;

/** @param {Result} r @param {string} prefix @returns {Phase | undefined} */
const phase = (r, prefix) => r.phases.find((p) => p.name.startsWith(prefix));

/**
 * What the figures of each scenario mean, from the code that produced them.
 * @type {Record<string, (r: Result) => string[]>}
 */
const EXPLAIN = {
  'worker-kill-9': (r) => [
    `Every request was answered: ${num(r.totals.succeeded)} of ${num(r.totals.sent)} with the right answer${r.totals.lost === 0 ? ', none lost' : `, ${num(r.totals.lost)} lost`}. The requests in flight on the killed worker were not answered by it: their jobs (a job carries one request, or a group of those that arrived together) stayed *active* in Redis under the dead worker's lock. The lock lasts \`--lock-duration-ms\` (2 s here); the surviving worker's stalled-job check (every \`--stalled-interval-ms\`, 1 s here) then moved them back to *waiting*, it ran them, and pushed each result onto the gateway's reply list, where the waiting request picked it up. That is the ${dur(timing(r, 'in-flight requests answered'))} of "in-flight requests answered": lock expiry plus one check interval plus the re-run, well inside the 10 s deadline.`,
    "The worker defaults are a 30 s lock and a 30 s check interval, so with them a killed worker's jobs come back only after 30–60 s. A model whose `timeoutMs` is shorter than that answers those requests 504 TIMEOUT (a clear error, not a re-run answer); keep `timeoutMs` above lock + interval, or shorten the lock, when a crash must not cost answers.",
  ],
  'worker-sigterm': (r) => [
    `SIGTERM makes the worker stop taking jobs and wait for those it holds (\`worker.close()\` of BullMQ), reply to each, and exit 0; that took ${dur(timing(r, 'worker stop'))}. ${r.totals.lost === 0 ? 'No request saw an error' : `${num(r.totals.lost)} requests were lost`}: the requests in flight at the SIGTERM were answered by the stopping worker, the rest by the other one. The restarted worker took its share again after ${dur(timing(r, 'worker restart'))} (most of it loading the model).`,
  ],
  'redis-restart': (r) => {
    const down = phase(r, 'Redis down');
    const after = phase(r, 'after the restart');
    return [
      `While Redis was down the gateway refused at once: the queue backend's connection has no offline queue, so it knows Redis is gone and answers 503 UNAVAILABLE with \`Retry-After: 1\` instead of holding requests until their deadline (first refusal ${dur(timing(r, 'first 503'))} after the stop), and \`/health/ready\` answered 503 for ${dur(timing(r, 'readiness false'))}, so a load balancer would have stopped sending.`,
      `Requests already queued when Redis stopped were not lost: their jobs were in Redis (and in its AOF), the workers finished them once they reconnected, and the gateway's reply list read (a blocking pop on a connection that retries forever) resumed and delivered the answers${down === undefined ? '' : ` — the ${num(down.succeeded)} successes in the "Redis down" phase are those`}. Service was back ${dur(timing(r, 'service back'))} after Redis answered PING${after !== undefined && after.failedClear > 0 ? `; the ${num(after.failedClear)} refusals of the last phase came in the moment between Redis answering and the gateway's connection being ready again` : ''}.`,
      'Redis was stopped with SIGTERM, which writes out the AOF. A crash of Redis with `appendfsync everysec` (the setting of the compose and Kubernetes manifests) may lose up to a second of writes; that case is not run here.',
    ];
  },
  'sagemaker-storm': (r) => {
    const both = phase(r, 'both throttle');
    const stall = phase(r, 'prod stalls');
    const failing = phase(r, 'prod 503');
    const labels = Object.keys(r.outcomes);
    const bare429 = labels.some((l) => l.startsWith('429') && l.includes('no Retry-After'));
    const last =
      failing === undefined
        ? []
        : Object.keys(failing.outcomes).filter((l) => !l.startsWith('200'));
    return [
      "Each row of the phase table counts the requests sent during that phase; a request in flight when the emulator switched meets the next phase's behaviour, which is why a phase can show a few outcomes of its neighbour.",
      `With prod throttling, the gateway moved each request on to \`backup\` (its \`fallback\`) within the deadline: the SDK's own retries are off (\`maxAttempts: 1\`), so one ThrottlingException costs one call and the router retries elsewhere. With both endpoints throttling there is nothing left to try, and the client gets 429 TOO_MANY_REQUESTS${both === undefined ? '' : ` (${num(both.failedClear)} times)`}, a clear error${bare429 ? " — but without a `Retry-After` header, unlike the gateway's own rate limits and the queue backend's 503s" : ''}.`,
      `When prod throttled only after 600 ms, the fallback still had time within the 1 s deadline and answered. When prod stalled past the deadline, the SDK call was aborted at the deadline and the client got 504 TIMEOUT${stall === undefined ? '' : ` (${num(stall.failedClear)} times)`}: the whole deadline was spent on prod, so no time was left for the fallback. With prod answering 503 and backup 500, the client got the last variant's error: ${last.join(', ') || 'none'}, with a JSON body.`,
      `When both endpoints answered again, the first request sent afterwards succeeded ${dur(timing(r, 'service back'))} later: the gateway keeps no state about a failing endpoint (no guard was configured), so recovery is immediate.`,
    ];
  },
  'gateway-restart-batch': (r) => [
    'A batch job runs as a task in a BullMQ queue that all gateway replicas consume. Each finished chunk is committed to Redis and its output lines to the store, so a replica that takes the task over reads what is committed and starts at the first unfinished chunk; a chunk already queued for the workers is found by its job id and not sent twice.',
    `After kill -9 of the replica running the job, the task's lock (tasks.lockDurationMs, 2 s here; 30 s by default) had to expire before another replica's stalled check took it: ${dur(timing(r, 'job resumed after kill -9'))}. After SIGTERM the task is handed back at once (moved to *delayed* with no delay): ${dur(timing(r, 'job handed over after SIGTERM'))}. The checks below show the output had exactly one right line per input line, in order: nothing lost, nothing duplicated.`,
    `Real-time requests: while A was dead the clients sent only to B — requests in flight on a process that is killed with SIGKILL cannot be answered by anyone, and a load balancer finds the dead replica by its failed health checks. In the rolling restart each replica was taken out of rotation 300 ms before its SIGTERM (as a Kubernetes preStop pause does); the gateway then answered what it held and exited 0 within ${dur(timing(r, 'graceful stops'))}.`,
  ],
  'malformed-inputs': (r) => {
    const malformed = phase(r, 'malformed requests');
    const stalled = phase(r, 'stalled uploads');
    const good = phase(r, 'good requests');
    const bomb = r.cases?.find((c) => c.name.startsWith('NPZ bomb'));
    const internal = r.notes.find((n) => n.includes('unhandled error'));
    /** @param {Record<string, number>} outcomes @param {RegExp} label */
    const count = (outcomes, label) =>
      Object.entries(outcomes)
        .filter(([l]) => label.test(l))
        .reduce((sum, [, n]) => sum + n, 0);
    const refused = malformed === undefined ? 0 : count(malformed.outcomes, /^4\d\d /);
    const timedOut = malformed === undefined ? 0 : count(malformed.outcomes, /^5\d\d /);
    const healthy = r.checks.find((c) => c.name === 'healthy throughout')?.ok === true;
    const running = r.checks.find((c) => c.name.startsWith('gateway and worker'))?.ok === true;
    const out = [
      `Of the ${num(malformed?.sent ?? 0)} malformed requests sent at load, ${num(refused)} were answered with a 4xx and a JSON error naming the problem (the table of cases shows which error each kind got)${timedOut > 0 ? `, and ${num(timedOut)} with 504 TIMEOUT: they waited on the worker behind an NPZ bomb (below) until their deadline` : ''}. The 200s among them are the one valid file of the list, an NPY whose header is padded to 5 MB: numpy's own \`np.load\` refuses headers over 10,000 bytes, the gateway accepts them up to the body limit. Decoding happens in the worker, so most refusals travel the whole way: gateway, Redis, worker, reply list. Content types, Accept, empty bodies and the body limit are refused by the gateway itself, in milliseconds. ${running ? 'The gateway and the worker kept running' : 'A process died (see the checks)'}${healthy ? ' and `/health/ready` answered 200 throughout' : ''}.`,
      'Uploads that trickle in and then end were answered like the same body sent at once: the valid CSV with the right answer, the ragged JSON with 400, and the 8 MB chunked body with 413 as soon as it passed the 6 MB limit, without waiting for the rest.',
    ];
    if (stalled !== undefined && stalled.lost > 0) {
      out.push(
        `**Lost: the ${num(stalled.lost)} stalled uploads.** None of them was answered within ${String(r.setup['clientTimeoutMs'] ?? '?')} ms, three times the model's ${String(r.setup['deadlineMs'] ?? '?')} ms deadline. The gateway reads the whole body (\`c.req.arrayBuffer()\` in the invoke handler of \`createApp\`, packages/gateway/src/http/app.ts) before the deadline starts (\`dispatch\` sets it from \`timeoutMs\`), and its HTTP server is \`serve()\` of @hono/node-server with Node's default timeouts (packages/gateway/src/main.ts): \`requestTimeout\` is 300 s. So a client that stops in the middle of its body, or sends a byte a second, holds a connection and its buffered body for up to 5 minutes, and then gets Node's bare 408 without a JSON body; a graceful stop (\`server.close()\`) also waits for it. The figure is the number of stalled uploads this scenario sends; the point is that none was answered. They did not hold up other clients.`,
      );
    }
    if (bomb !== undefined) {
      const alone = bomb.aloneMs ?? -1;
      const failed = good === undefined ? 0 : good.sent - good.succeeded;
      out.push(
        `**The NPZ bomb costs a worker seconds.** A 1 MiB archive holding 1 GiB of zeros, whose zip directory declares 1 KiB, is refused with 400, but only after ${dur(alone)} of decoding with nothing else running. \`decodeNpz\` (packages/handlers/src/codecs/npz.ts) checks the sizes the archive *declares* before inflating and the real sizes only after fflate's \`unzipSync\` has inflated every entry, so a lying directory passes the first check and the model thread spends CPU on every inflated byte, computing nothing else meanwhile. Everything queued on that worker waits: the slowest good answer of this run took ${dur(timing(r, 'slowest good answer'))} of the ${String(r.setup['deadlineMs'] ?? '?')} ms deadline${failed > 0 ? `, and ${num(failed)} good requests reached it (${good === undefined ? '' : outcomeList(good.outcomes)})` : ''}. The time grows with the inflated size: a body at the 6 MB limit can hold about 6 GiB of zeros, some ${dur(alone * 6)} of one model thread at this rate, longer than the default 60 s deadline once a few are queued.`,
      );
    }
    if (internal !== undefined && !/logged 0 /.test(internal)) {
      out.push(
        `${internal} These are the stalled uploads the client gave up on: the aborted body read reaches \`app.onError\` as an "unhandled error", is answered 500 to a closed connection and is counted as INTERNAL in the metrics, although nothing failed inside the gateway.`,
      );
    }
    return out;
  },
};

/** @param {Result} r @param {number} index @param {string} file */
function section(r, index, file) {
  const lines = [`## ${index}. ${r.title}`, ''];
  lines.push(
    `${passed(r) ? '**Passed.**' : '**Failed.**'} ${num(r.totals.sent)} requests sent: ${num(r.totals.succeeded)} succeeded, ${num(r.totals.failedClear)} failed with a clear error, **${num(r.totals.lost)} lost**. Run ${r.startedAt.replace('T', ' ').slice(0, 16)} UTC, ${dur(r.durationMs)} of load. Scenario: [\`faults/${file}\`](../faults/${file}).`,
    '',
    'What was done:',
    '',
    ...r.steps.map((s, i) => `${i + 1}. ${s}`),
    '',
    '| phase | sent | succeeded | failed, clear | lost | outcomes |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
    ...r.phases.map(
      (p) =>
        `| ${cell(p.name)} | ${num(p.sent)} | ${num(p.succeeded)} | ${num(p.failedClear)} | ${num(p.lost)} | ${cell(outcomeList(p.outcomes))}${
          p.served === undefined
            ? ''
            : `; answered by: ${cell(
                Object.entries(p.served)
                  .map(([v, n]) => `${v} ${num(n)}`)
                  .join(', '),
              )}`
        } |`,
    ),
    `| **all** | **${num(r.totals.sent)}** | **${num(r.totals.succeeded)}** | **${num(r.totals.failedClear)}** | **${num(r.totals.lost)}** | ${cell(outcomeList(r.outcomes))} |`,
    '',
    '| timing | measured | what it is |',
    '| --- | ---: | --- |',
    ...r.timings.map((t) => `| ${cell(t.name)} | ${dur(t.ms)} | ${cell(t.meaning)} |`),
    '',
  );
  if (r.cases !== undefined) {
    lines.push(
      '| request | outcomes under load | slowest under load | alone |',
      '| --- | --- | ---: | ---: |',
      ...r.cases.map(
        (c) =>
          `| ${cell(c.name)} | ${cell(outcomeList(c.outcomes))} | ${dur(c.slowestMs)} | ${c.aloneMs === undefined ? '' : dur(c.aloneMs)} |`,
      ),
      '',
    );
  }
  lines.push(
    'Checks:',
    '',
    ...r.checks.map((c) => `- ${c.ok ? '✓' : '✗'} ${c.name}: ${c.detail}`),
    '',
  );
  if (r.lostExamples.length > 0) {
    lines.push(
      'Lost requests (first few):',
      '',
      ...r.lostExamples.map(
        (l) =>
          `- ${l.tag}, sent at ${dur(l.at)}: ${l.label}${l.detail === '' ? '' : ` (${l.detail})`}`,
      ),
      '',
    );
  }
  const explain = EXPLAIN[r.scenario];
  if (explain !== undefined) lines.push(...explain(r).flatMap((p) => [p, '']));
  const notes = r.notes.filter((n) => !n.includes('unhandled error'));
  if (notes.length > 0) lines.push(...notes.map((n) => `- ${n}`), '');
  return lines;
}

const results = SCENARIOS.map(([name, file]) => ({ name, file, result: load(name ?? '') }));
const ran = results.flatMap((x) => (x.result === undefined ? [] : [x.result]));
const machine = ran[0]?.machine;

const page = [
  '# Reliability under faults',
  '',
  '<!-- Rendered by faults/render.mjs from faults/results/*.json; run `pnpm faults` to measure again. -->',
  '',
  'Each scenario below breaks one part of a running Switchyard — a worker, Redis, a SageMaker endpoint, a gateway, or the input itself — while clients keep sending requests, and counts what became of every request. All parts are real: `redis-server` on a free port, BullMQ, worker and gateway processes started from the built CLIs, the ONNX models of `examples/models`, and the SageMaker emulator of `test/support`.',
  '',
  'Every request ends in exactly one of these:',
  '',
  '- **succeeded**: 200, and the answer equals the answer the same body got before the fault (numbers within 1e-4);',
  '- **failed, clear**: a 4xx or 5xx whose body is the gateway\'s JSON error (`{"error": {"code", "message"}}`) naming the problem — 503 UNAVAILABLE, 504 TIMEOUT, 429, 400 … — or, for a 4xx only, a bare status from the HTTP server;',
  "- **lost**: no answer at all (connection refused or reset, no answer before the client gave up — the model's deadline plus a few seconds), a 5xx without a JSON error body, or a 200 with a wrong answer.",
  '',
  'Lost must be 0. A client that gets a clear error can retry or give up knowingly; a lost request leaves it guessing.',
  '',
  machine === undefined
    ? 'No results yet: run `pnpm faults`.'
    : `Machine: ${machine.cpus} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, ${machine.platform}, Node ${machine.node}, Redis ${machine.redis}. Load generator, gateways, workers and Redis share these cores, so absolute throughput here says little; the counts and recovery times are the point. Code measured: commit ${machine.code.commit}${machine.code.uncommitted ? ' with uncommitted changes under packages/ or examples/' : ''}.`,
  '',
  'Reproduce (needs `redis-server` on PATH; about 4 minutes):',
  '',
  '```sh',
  'pnpm faults',
  '# one scenario:',
  'pnpm build && pnpm exec vitest run --config faults/vitest.config.ts faults/worker-kill.fault.ts && node faults/render.mjs',
  '```',
  '',
  '## Summary',
  '',
  '| # | scenario | sent | succeeded | failed, clear | lost | recovery | result |',
  '| ---: | --- | ---: | ---: | ---: | ---: | --- | --- |',
  ...results.map(({ name, result }, i) =>
    result === undefined
      ? `| ${i + 1} | ${name ?? ''} | | | | | | not run |`
      : `| ${i + 1} | [${result.title}](#${i + 1}-${result.title
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, '')
          .replace(
            / /g,
            '-',
          )}) | ${num(result.totals.sent)} | ${num(result.totals.succeeded)} | ${num(result.totals.failedClear)} | ${num(result.totals.lost)} | ${result.recovery === undefined ? '—' : `${dur(result.recovery.ms)} (${cell(result.recovery.name)})`} | ${passed(result) ? 'passed' : '**failed**'} |`,
  ),
  '',
  ...results.flatMap(({ result, file }, i) =>
    result === undefined ? [] : section(result, i + 1, file ?? ''),
  ),
];

// Written as Prettier writes it, so that `pnpm lint` passes on the rendered page.
const markdown = `${page
  .join('\n')
  .replace(/\n{3,}/g, '\n\n')
  .trimEnd()}\n`;
writeFileSync(PAGE, await format(markdown, { ...(await resolveConfig(PAGE)), filepath: PAGE }));
console.log(`wrote ${PAGE} (${ran.length} of ${SCENARIOS.length} scenarios)`);
