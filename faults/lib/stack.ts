import { randomUUID } from 'node:crypto';
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

  /** `n` workers with the same arguments, started together. */
  async workers(n: number, args: string[], redisUrl: string): Promise<WorkerProcess[]> {
    return Promise.all(Array.from({ length: n }, () => this.worker(args, redisUrl)));
  }

  /**
   * A model served through Redis: `workers` workers started together, then one
   * gateway whose model has them as its one queue variant (on a queue of its own).
   */
  async queueService(options: QueueService): Promise<{
    gateway: GatewayProcess;
    workers: WorkerProcess[];
    /** Start one more worker like them. */
    addWorker: () => Promise<WorkerProcess>;
  }> {
    const queue = queueName(options.model);
    const args = workerArgs(options.workerModel, queue, options.workerArgs);
    const workers = await this.workers(options.workers, args, options.redisUrl);
    const gateway = await this.gateway(queueGatewayConfig({ ...options, queue }));
    return { gateway, workers, addWorker: () => this.worker(args, options.redisUrl) };
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

/** Worker arguments: the example model `model` (a directory of MODELS) on `queue`, then `extra`. */
export function workerArgs(model: string, queue: string, extra: readonly string[] = []): string[] {
  return ['--model', join(MODELS, model), '--queue', queue, ...extra];
}

/** Worker options for 2 s job locks, checked every second: a dead worker's jobs come back in about 3 s. */
export const SHORT_LOCKS: readonly string[] = [
  '--lock-duration-ms',
  '2000',
  '--stalled-interval-ms',
  '1000',
];

/** A queue name of its own for one scenario. */
export const queueName = (prefix: string): string => `faults-${prefix}-${randomUUID()}`;

interface QueueModel {
  readonly redisUrl: string;
  readonly model: string;
  /** The model's one variant (weight 1), a queue backend on `queue`. */
  readonly variant: string;
  readonly queue: string;
  readonly timeoutMs: number;
  readonly maxBodyBytes?: number;
}

interface QueueService extends Omit<QueueModel, 'queue'> {
  readonly workers: number;
  /** The example model the workers run (a directory of MODELS), and their other options. */
  readonly workerModel: string;
  readonly workerArgs: readonly string[];
}

/**
 * The `heavy` example model (a 512-2048-2048-512-10 MLP) as variant "gpu", on two
 * workers that run batches of up to 16 on one thread; `extra` worker options.
 */
export function heavyService(
  redisUrl: string,
  timeoutMs: number,
  extra: readonly string[] = [],
): QueueService {
  return {
    redisUrl,
    model: 'heavy',
    variant: 'gpu',
    timeoutMs,
    workers: 2,
    workerModel: 'heavy',
    workerArgs: ['--max-batch-size', '16', '--threads', '1', ...extra],
  };
}

/** The `iris-v2` example model as variant "v2" of "iris", on `workers` workers of one thread. */
export function irisService(redisUrl: string, timeoutMs: number, workers: number): QueueService {
  return {
    redisUrl,
    model: 'iris',
    variant: 'v2',
    timeoutMs,
    workers,
    workerModel: 'iris-v2',
    workerArgs: ['--threads', '1'],
  };
}

/** A gateway config with one model, served through Redis by one queue variant. */
export function queueGatewayConfig(options: QueueModel) {
  const { redisUrl, model, variant, queue, timeoutMs, maxBodyBytes } = options;
  return {
    redis: { url: redisUrl },
    models: {
      [model]: {
        timeoutMs,
        ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }),
        variants: { [variant]: { weight: 1, backend: { type: 'queue', queue } } },
      },
    },
  };
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
