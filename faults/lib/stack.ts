import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGatewayProcess, type GatewayProcess } from '../../test/support/gateway-process.js';
import {
  MODELS,
  startWorkerProcess,
  type WorkerProcess,
} from '../../test/support/worker-process.js';

export { MODELS };

type Child = GatewayProcess | WorkerProcess;

/**
 * Gateway and worker processes of one scenario, in a temporary directory: every
 * process started through it is killed (SIGKILL if still running) by `close()`.
 */
export class Stack {
  private readonly children: Child[] = [];

  private constructor(readonly dir: string) {}

  static async create(): Promise<Stack> {
    return new Stack(await mkdtemp(join(tmpdir(), 'switchyard-faults-')));
  }

  async gateway(config: object): Promise<GatewayProcess> {
    const started = await startGatewayProcess(config, this.dir);
    this.children.push(started);
    return started;
  }

  async worker(args: string[], redisUrl: string): Promise<WorkerProcess> {
    const started = await startWorkerProcess(args, redisUrl);
    this.children.push(started);
    return started;
  }

  /** Processes of this stack that have not exited. */
  alive(): Child[] {
    return this.children.filter((c) => c.child.exitCode === null && c.child.signalCode === null);
  }

  async close(): Promise<void> {
    const alive = this.alive();
    for (const c of alive) c.child.kill('SIGKILL');
    await Promise.all(alive.map((c) => c.exited));
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A gateway's `/metrics` value for a series (first match), or undefined. */
export async function metric(gatewayUrl: string, pattern: RegExp): Promise<number | undefined> {
  const text = await (await fetch(`${gatewayUrl}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    if (pattern.test(line)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/** The JSON log lines of a process whose `msg` is `msg`. */
export function logLines(output: string, msg: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
