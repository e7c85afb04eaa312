import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../packages/gateway/dist/main.js', import.meta.url));

export interface GatewayProcess {
  readonly child: ChildProcess;
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** Everything the process printed so far (JSON log lines). */
  readonly output: () => string;
  /** Resolves with the exit code (or the signal's name). */
  readonly exited: Promise<number | string>;
}

/**
 * Start `switchyard-gateway` (the built entry point) as its own process with a
 * configuration written to `dir`, on a port the system picks, and wait until it
 * logs that it is ready.
 */
export async function startGatewayProcess(config: object, dir: string): Promise<GatewayProcess> {
  const file = join(dir, `gateway-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, JSON.stringify({ ...config, server: { port: 0 } }));
  const child = spawn(process.execPath, [MAIN, '--config', file], {
    cwd: dir,
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (chunk: Buffer): void => {
    output += chunk.toString();
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve(code ?? signal ?? 'unknown');
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    const check = (): void => {
      const found = /"port":(\d+)[^\n]*"msg":"gateway ready"/.exec(output);
      if (found !== null) resolve(Number(found[1]));
    };
    child.stdout.on('data', check);
    void exited.then((code) => {
      reject(new Error(`gateway exited (${String(code)}) before it was ready:\n${output}`));
    });
  });
  return { child, url: `http://127.0.0.1:${port}`, output: () => output, exited };
}
