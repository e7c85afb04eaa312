// Renders docs/benchmarks.md and its SVG charts from docs/benchmarks/results.json.
//   node bench/render.mjs   (pnpm bench runs it after the benchmarks)
// The prose of bench/analysis.md (what the figures say, goals missed and why) is
// copied in after the tables.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { lineChart } from './lib/chart.mjs';
import { ROOT } from './lib/stack.mjs';

const DOCS = join(ROOT, 'docs');
const n = (v, digits = 0) =>
  v === undefined || v === null || Number.isNaN(v)
    ? '–'
    : Number(v).toLocaleString('en-US', {
        minimumFractionDigits: digits,
        maximumFractionDigits: digits,
      });
const ms = (v) => (v === undefined ? '–' : `${n(v, v < 10 ? 2 : 1)} ms`);
const ratio = (a, b) => (a > 0 && b > 0 ? a / b : undefined);
const table = (head, rows) =>
  [
    `| ${head.map((h) => h.replace(/^[<>]/, '')).join(' | ')} |`,
    `| ${head.map((h) => (h.startsWith('>') ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
const verdict = (met) => (met === undefined ? 'not measured' : met ? '**met**' : '**missed**');

function goals(r) {
  const rows = [];
  const heavy = r.heavy;
  if (heavy !== undefined) {
    const e2e = ratio(
      heavy.batchingOn.itemsPerSecond ?? heavy.batchingOn.requestsPerSecond,
      heavy.inProcess.itemsPerSecond,
    );
    rows.push([
      'Heavy model end to end (64 clients, batching on) ÷ onnxruntime alone at its best batch',
      '≥ 0.8',
      n(e2e, 2),
      verdict(e2e === undefined ? undefined : e2e >= 0.8),
    ]);
    const gain = ratio(heavy.batchingOn.requestsPerSecond, heavy.batchingOff.requestsPerSecond);
    rows.push([
      'Batching gain end to end (heavy, 64 clients): on ÷ off',
      '≥ 4×',
      `${n(gain, 1)}×`,
      verdict(gain === undefined ? undefined : gain >= 4),
    ]);
  }
  const at = (clients) => r.light?.levels.find((l) => l.clients === clients);
  if (at(64) !== undefined) {
    const x = ratio(at(64).switchyard.requestsPerSecond, at(64).naive.requestsPerSecond);
    rows.push([
      'iris requests/s at 64 clients ÷ naive BullMQ baseline',
      '≥ 2×',
      `${n(x, 1)}×`,
      verdict(x === undefined ? undefined : x >= 2),
    ]);
  }
  if (at(1) !== undefined) {
    const added = at(1).switchyard.p50Ms - at(1).naive.p50Ms;
    rows.push([
      'iris p50 at 1 client − naive baseline p50',
      '≤ 1 ms',
      ms(added),
      verdict(added <= 1),
    ]);
  }
  if (r.overhead !== undefined) {
    rows.push([
      'Gateway overhead, SageMaker format, p50 (1 client)',
      '≤ 1 ms',
      ms(r.overhead.sequential.addedP50Ms),
      verdict(r.overhead.sequential.addedP50Ms <= 1),
    ]);
  }
  for (const mode of r.batchJobs?.modes ?? []) {
    rows.push([
      `Batch job records/s ÷ synchronous requests/s, ${mode.name}`,
      '≥ 10×',
      `${n(mode.ratio, 1)}×`,
      verdict(mode.ratio >= 10),
    ]);
  }
  if (r.memory !== undefined) {
    for (const side of ['gateway', 'worker']) {
      const g = r.memory[side].growthAfterWarmupPct;
      rows.push([
        `${side === 'gateway' ? 'Gateway' : 'Worker'} RSS growth after warm-up, ${n(r.memory.settings.requests)} requests`,
        '≤ 10%',
        `${n(g, 1)}%`,
        verdict(g <= 10),
      ]);
    }
  }
  return table(['goal', 'target', '>measured', 'verdict'], rows);
}

function light(r) {
  const levels = r.light.levels;
  const rows = levels.map((l) => [
    n(l.clients),
    n(l.switchyard.requestsPerSecond),
    ms(l.switchyard.p50Ms),
    ms(l.switchyard.p99Ms),
    n(l.naive.requestsPerSecond),
    ms(l.naive.p50Ms),
    ms(l.naive.p99Ms),
    `${n(ratio(l.switchyard.requestsPerSecond, l.naive.requestsPerSecond), 1)}×`,
    n(l.switchyard.errors + l.naive.errors),
  ]);
  return table(
    [
      '>clients',
      '>Switchyard req/s',
      '>p50',
      '>p99',
      '>naive req/s',
      '>p50',
      '>p99',
      '>ratio',
      '>errors',
    ],
    rows,
  );
}

function heavy(r) {
  const h = r.heavy;
  const rows = [
    [
      `onnxruntime alone, batch ${h.inProcess.batch}`,
      n(h.inProcess.itemsPerSecond),
      '–',
      '–',
      '1.00',
    ],
    ...[
      ['gateway → Redis → worker, 1-row requests, batching off', h.batchingOff],
      ['gateway → Redis → worker, 1-row requests, batching on', h.batchingOn],
      ['gateway → Redis → worker, 32-row requests, batching on', h.largeRequests],
    ]
      .filter(([, run]) => run !== undefined)
      .map(([name, run]) => [
        name,
        n(run.itemsPerSecond ?? run.requestsPerSecond),
        ms(run.p50Ms),
        ms(run.p99Ms),
        n(ratio(run.itemsPerSecond ?? run.requestsPerSecond, h.inProcess.itemsPerSecond), 2),
      ]),
  ];
  return table(['path', '>items/s', '>p50', '>p99', '>÷ onnxruntime alone'], rows);
}

function overhead(r) {
  const o = r.overhead;
  const rows = [o.sequential, o.concurrent].flatMap((c) => [
    [
      `${c.clients} client${c.clients === 1 ? '' : 's'}, SDK → emulator`,
      n(c.direct.requestsPerSecond),
      ms(c.direct.p50Ms),
      ms(c.direct.p99Ms),
    ],
    [
      `${c.clients} client${c.clients === 1 ? '' : 's'}, SDK → gateway → emulator`,
      n(c.gateway.requestsPerSecond),
      ms(c.gateway.p50Ms),
      ms(c.gateway.p99Ms),
    ],
    [
      `${c.clients} client${c.clients === 1 ? '' : 's'}, added`,
      '',
      ms(c.addedP50Ms),
      ms(c.addedP99Ms),
    ],
  ]);
  return table(['path', '>req/s', '>p50', '>p99'], rows);
}

function batchJobs(r) {
  const b = r.batchJobs;
  return table(
    ['mode', '>sync req/s (64 clients)', '>batch records/s (job)', '>upload to done', '>ratio'],
    b.modes.map((m) => [
      m.name,
      n(m.syncRequestsPerSecond),
      n(m.batchRecordsPerSecond),
      n(m.batchRecordsPerSecondWall),
      `${n(m.ratio, 1)}×`,
    ]),
  );
}

function memory(r) {
  const m = r.memory;
  const heap = m.gateway.heapAfterFullGc;
  const heapRow =
    heap?.heapAfterFirstFullGcAfterWarmupMb === undefined
      ? []
      : [
          [
            'gateway, V8 heap after each full GC',
            `${n(heap.heapAfterFirstFullGcAfterWarmupMb, 1)} MB`,
            `${n(heap.heapAfterLastFullGcMb, 1)} MB`,
            '–',
            `${n(heap.growthPct, 1)}%`,
            `${heap.fullGcsAfterWarmup} full GCs`,
          ],
        ];
  return table(
    ['process', '>RSS after warm-up', '>RSS at end', '>peak', '>growth', '>trend per 10k requests'],
    ['gateway', 'worker']
      .map((side) => [
        side,
        `${n(m[side].rssAfterWarmupMb, 1)} MB`,
        `${n(m[side].rssEndMb, 1)} MB`,
        `${n(m[side].rssPeakMb, 1)} MB`,
        `${n(m[side].growthAfterWarmupPct, 1)}%`,
        `${n(m[side].slopeMbPer10kRequests, 2)} MB`,
      ])
      .concat(heapRow),
  );
}

async function charts(r) {
  const written = [];
  if (r.light !== undefined) {
    const categories = r.light.levels.map((l) => l.clients);
    // One chart per figure: Switchyard against the naive gateway, level by level.
    const against = (file, title, description, yLabel, figure) =>
      writeFile(
        join(DOCS, `benchmarks/${file}.svg`),
        lineChart({
          title,
          description: `${description} at ${categories.join(', ')} concurrent clients, Switchyard against a naive BullMQ gateway.`,
          xLabel: 'concurrent clients',
          yLabel,
          categories,
          series: [
            {
              name: 'Switchyard',
              color: '#1f6feb',
              values: r.light.levels.map((l) => figure(l.switchyard)),
            },
            {
              name: 'naive BullMQ',
              color: '#b35900',
              dashed: true,
              values: r.light.levels.map((l) => figure(l.naive)),
            },
          ],
        }),
      );
    await against(
      'throughput',
      'iris through the queue: requests/s against concurrency',
      'Requests per second',
      'requests/s',
      (run) => run.requestsPerSecond,
    );
    await against(
      'latency',
      'iris through the queue: p50 latency against concurrency',
      'Median latency in milliseconds',
      'p50 latency (ms)',
      (run) => run.p50Ms,
    );
    written.push('throughput', 'latency');
  }
  if (r.memory?.series !== undefined) {
    const step = Math.max(1, Math.ceil(r.memory.series.length / 12));
    const picked = r.memory.series.filter(
      (_, i) => i % step === 0 || i === r.memory.series.length - 1,
    );
    await writeFile(
      join(DOCS, 'benchmarks/memory.svg'),
      lineChart({
        title: 'Resident memory under sustained load',
        description: 'Gateway and worker RSS in MB against requests answered.',
        xLabel: 'requests answered (thousands)',
        yLabel: 'RSS (MB)',
        categories: picked.map((s) => Math.round(s[1] / 1000)),
        series: [
          { name: 'gateway', color: '#1f6feb', values: picked.map((s) => s[2]) },
          { name: 'worker', color: '#2da44e', dashed: true, values: picked.map((s) => s[3]) },
        ],
      }),
    );
    written.push('memory');
  }
  return written;
}

export async function render(r) {
  const svgs = await charts(r);
  const runs = Object.entries(r.runs ?? {})
    .map(([k, v]) => `${k} ${v.at.slice(0, 16).replace('T', ' ')} UTC (${v.seconds} s)`)
    .join('; ');
  const analysis = existsSync(join(ROOT, 'bench/analysis.md'))
    ? await readFile(join(ROOT, 'bench/analysis.md'), 'utf8')
    : '';
  const sections = [
    '# Benchmarks',
    '',
    '<!-- Rendered by bench/render.mjs from docs/benchmarks/results.json; edit bench/analysis.md for the prose. -->',
    '',
    `Measured by \`pnpm bench\` (\`node bench/run.mjs\`) on ${r.machine.cores} cores (${r.machine.cpu}), ` +
      `${r.machine.memoryGiB} GiB, Node ${r.machine.node}, everything on one machine: load generator, ` +
      'gateway, Redis, workers. Runs: ' +
      `${runs}.` +
      (r.quick ? ' **Quick run (BENCH_QUICK=1): short, for checking the harness only.**' : ''),
    '',
    'Raw results: [`docs/benchmarks/results.json`](benchmarks/results.json). One benchmark at a time;',
    'the machine is shared and slow (a loop of 10⁸ additions takes 1.5–2.6 s), so compare',
    'figures of one run with each other, not with other machines.',
    '',
    '## Goals',
    '',
    goals(r),
  ];
  if (r.light !== undefined) {
    sections.push(
      '',
      '## Light model through the queue (`bench/queue.mjs light`)',
      '',
      `\`iris-v1\`, one-row JSON requests to \`/v1/models/iris/invoke\`, closed-loop clients on keep-alive ` +
        `connections; after 3 s of warm-up at 64 clients each, every level runs twice per system in A B B A order (${r.light.seconds} s each, after 1 s not counted), and the table gives the means. ` +
        'Switchyard: the gateway process → a private redis-server → one worker process (defaults). ' +
        'Naive: an HTTP server that adds one BullMQ job per request and awaits `job.waitUntilFinished` ' +
        '(`bench/lib/naive-gateway.mjs`), the same worker with batching off (`--max-batch-size 1 --concurrency 64`).',
      '',
      light(r),
      '',
      ...svgs.filter((s) => s !== 'memory').map((s) => `![${s}](benchmarks/${s}.svg)`),
    );
  }
  if (r.heavy !== undefined) {
    sections.push(
      '',
      '## Heavy model: physical limit against end to end (`bench/queue.mjs heavy`)',
      '',
      `The 512-2048-2048-512-10 MLP of \`examples/models/heavy\` (6.3 M weights). onnxruntime-node alone in one ` +
        `process at its best batch size (tried ${r.heavy.inProcess.tried.map((t) => t.batch).join(', ')}), against ` +
        `${r.heavy.clients} clients sending one-row NPY requests through gateway → Redis → worker, ` +
        "with the worker's batching off (`--max-batch-size 1`) and on (`--max-batch-size 64`), and 32-row " +
        'requests with batching on (`--max-batch-size 256`). Latencies are per request.',
      '',
      heavy(r),
    );
  }
  if (r.overhead !== undefined) {
    sections.push(
      '',
      '## Gateway overhead on the SageMaker path (`bench/sagemaker-overhead.mjs`)',
      '',
      'The AWS SDK (`InvokeEndpointCommand`) calling an InvokeEndpoint emulator directly, against the same SDK ' +
        "calling the gateway's SageMaker-format route, whose `sagemaker` backend calls the emulator; the emulator " +
        `forwards to a model container (\`iris-v1\`). ${r.overhead.settings.rounds} alternating rounds of ` +
        `${n(r.overhead.settings.requestsPerRoundPerPath)} requests per path.`,
      '',
      overhead(r),
    );
  }
  if (r.batchJobs !== undefined) {
    sections.push(
      '',
      '## Batch jobs against the synchronous path (`bench/batch-jobs.mjs`)',
      '',
      `\`iris-v1\`: requests/s of one-row JSON requests at ${r.batchJobs.syncClients} connections (autocannon, ` +
        `${r.batchJobs.syncSeconds} s), against records/s of one batch job of ${n(r.batchJobs.records)} JSON Lines ` +
        'records of the same rows, on the same gateway. Embedded: the `local` backend in the gateway process; ' +
        'distributed: the gateway, a private redis-server and one worker process.',
      '',
      batchJobs(r),
    );
  }
  if (r.memory !== undefined) {
    sections.push(
      '',
      '## Memory under sustained load (`bench/memory.mjs`)',
      '',
      `${n(r.memory.settings.requests)} one-row JSON requests at ${r.memory.settings.connections} connections through ` +
        'the gateway process → Redis → worker process; RSS of both processes sampled every ' +
        `${r.memory.settings.sampleEveryMs} ms; warm-up is the first ${n(r.memory.settings.warmupRequests)} requests. ` +
        `${n(r.memory.requests.answered)} answered, ${n(r.memory.requests.non2xx + r.memory.requests.errors)} errors, ` +
        `${n(r.memory.requests.perSecond)} requests/s.`,
      '',
      memory(r),
      '',
      ...(svgs.includes('memory') ? ['![memory](benchmarks/memory.svg)'] : []),
    );
  }
  if (analysis !== '') sections.push('', analysis.trim());
  sections.push(
    '',
    '## Micro-benchmarks',
    '',
    "Codec costs, the worker's batching without Redis and the gateway in front of an in-process",
    'model are in [`docs/micro-benchmarks.md`](micro-benchmarks.md) (`pnpm bench:micro`).',
    '',
  );
  await writeFile(join(DOCS, 'benchmarks.md'), sections.join('\n'));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await render(JSON.parse(await readFile(join(DOCS, 'benchmarks/results.json'), 'utf8')));
}
