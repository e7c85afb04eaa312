// `pnpm bench`: every benchmark in one run on this machine, one after another,
// raw results to docs/benchmarks/results.json, then docs/benchmarks.md rendered
// from them (bench/render.mjs).
//   BENCH_ONLY=light,heavy   run some of them (the others keep their last results)
//   BENCH_QUICK=1            short runs, to check the harness (figures not comparable)
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { render } from './render.mjs';
import { log, machine, ROOT } from './lib/stack.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const RESULTS = join(ROOT, 'docs/benchmarks/results.json');

const BENCHMARKS = [
  { key: 'light', script: 'queue.mjs', args: ['light'] },
  { key: 'heavy', script: 'queue.mjs', args: ['heavy'] },
  { key: 'overhead', script: 'sagemaker-overhead.mjs', args: [] },
  { key: 'batchJobs', script: 'batch-jobs.mjs', args: [] },
  { key: 'memory', script: 'memory.mjs', args: [] },
];

/** Runs one script; its last stdout line is its JSON result. */
function runOne({ script, args }) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(HERE, script), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code !== 0) {
        reject(new Error(`${script} ${args.join(' ')} ended with ${code ?? signal}`));
        return;
      }
      const last = stdout.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(last));
      } catch {
        reject(new Error(`${script} printed no JSON result: ${last.slice(0, 200)}`));
      }
    });
  });
}

const only = process.env['BENCH_ONLY']?.split(',');
const quick = process.env['BENCH_QUICK'] === '1';
const previous = existsSync(RESULTS) ? JSON.parse(await readFile(RESULTS, 'utf8')) : {};
const results = { ...previous, machine: await machine(), quick };
results.runs = { ...previous.runs };
let failed = false;
for (const benchmark of BENCHMARKS) {
  if (only !== undefined && !only.includes(benchmark.key)) continue;
  log(`\n== ${benchmark.key}: node bench/${benchmark.script} ${benchmark.args.join(' ')}`);
  const started = new Date();
  try {
    const result = await runOne(benchmark);
    results[benchmark.key] = result[benchmark.key] ?? result;
    results.runs[benchmark.key] = {
      at: started.toISOString(),
      seconds: Math.round((Date.now() - started.getTime()) / 1000),
    };
  } catch (error) {
    failed = true;
    log(`${benchmark.key} failed: ${error.message}`);
  }
}
await mkdir(join(ROOT, 'docs/benchmarks'), { recursive: true });
await writeFile(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
await render(results);
log(`\nwrote docs/benchmarks/results.json and docs/benchmarks.md`);
if (failed) process.exitCode = 1;
