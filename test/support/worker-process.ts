import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../packages/worker/dist/cli.js', import.meta.url));
export const MODELS = fileURLToPath(new URL('../../examples/models/', import.meta.url));

export interface WorkerProcess {
  readonly child: ChildProcess;
  /** Everything the process printed so far (JSON log lines). */
  readonly output: () => string;
  /** Resolves with the exit code (or the signal's name). */
  readonly exited: Promise<number | string>;
  /** Where its /health and /metrics listen. */
  readonly metricsPort: number;
}

/**
 * Start `switchyard-worker` (the built CLI) as its own process and wait until it
 * logs that it is consuming.
 */
export async function startWorkerProcess(args: string[], redisUrl: string): Promise<WorkerProcess> {
  // A free port for /metrics, so workers side by side do not collide.
  const child = spawn(process.execPath, [CLI, '--metrics-port', '0', ...args], {
    env: { ...process.env, REDIS_URL: redisUrl, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve(code ?? signal ?? 'unknown');
    });
  });
  const ready = new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (output.includes('"msg":"consuming"')) resolve();
    };
    child.stdout.on('data', check);
    void exited.then((code) => {
      reject(new Error(`worker exited (${String(code)}) before consuming:\n${output}`));
    });
  });
  await ready;
  const port = /"metricsPort":(\d+)/.exec(output)?.[1];
  return { child, output: () => output, exited, metricsPort: Number(port) };
}
