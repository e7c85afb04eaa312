import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packModel } from '@switchyard/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { MODELS, startWorkerProcess, type WorkerProcess } from '../support/worker-process.js';

// A user's handler: plain JSON rows in, and an answer that says which code made it.
const INFERENCE = `
export function inputFn(body) {
  const rows = JSON.parse(new TextDecoder().decode(body));
  return { input: { dtype: 'float32', shape: [rows.length, 4], data: Float32Array.from(rows.flat()) } };
}
export function outputFn(prediction) {
  const n = prediction.shape[1];
  const rows = [];
  for (let i = 0; i < prediction.shape[0]; i++) {
    rows.push(Array.from(prediction.data.subarray(i * n, (i + 1) * n), (p) => Number(p.toFixed(4))));
  }
  return {
    body: new TextEncoder().encode(JSON.stringify({ packed: true, probabilities: rows })),
    contentType: 'application/json',
  };
}
`;

const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.3, 3.3, 6.0, 2.5],
];

interface Answer {
  readonly status: number;
  readonly variant: string | null;
  readonly body: string;
  readonly at: number;
}

describe('deploying a packed model as a new variant of a running gateway', () => {
  const redisUrl = inject('redisUrl');
  // A namespace of its own: deployments of other runs cannot leak in.
  const namespace = `deploy-${randomUUID().slice(0, 8)}`;
  const queue = `${namespace}-v1`;
  let dir: string;
  let gateway: GatewayProcess;
  /** A second replica: it hears of deployments through Redis. */
  let replica: GatewayProcess;
  let v1: WorkerProcess;
  let pool: WorkerProcess;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-deploy-'));
    [v1, pool] = await Promise.all([
      startWorkerProcess(['--model', join(MODELS, 'iris-v1'), '--queue', queue], redisUrl),
      // A multi-model worker: no model of its own until one is deployed to its pool.
      startWorkerProcess(['--namespace', namespace, '--pool', 'default'], redisUrl),
    ]);
    const config = {
      redis: { url: redisUrl, namespace },
      storage: { url: join(dir, 'storage') },
      models: { iris: { variants: { v1: { weight: 90, backend: { type: 'queue', queue } } } } },
    };
    [gateway, replica] = await Promise.all([
      startGatewayProcess(config, dir),
      startGatewayProcess(config, dir),
    ]);
  });
  afterAll(async () => {
    for (const p of [gateway, replica, v1, pool]) p.child.kill('SIGTERM');
    await Promise.all([gateway.exited, replica.exited, v1.exited, pool.exited]);
    await rm(dir, { recursive: true, force: true });
  });

  const admin = (path: string, init: RequestInit = {}) => fetch(`${gateway.url}${path}`, init);

  /** Four clients sending the same request until stopped. */
  const traffic = () => {
    const answers: Answer[] = [];
    let stop = false;
    const client = async () => {
      while (!stop) {
        const response = await fetch(`${gateway.url}/endpoints/iris/invocations`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
          body: JSON.stringify(ROWS),
        });
        answers.push({
          status: response.status,
          variant: response.headers.get('x-amzn-invoked-production-variant'),
          body: await response.text(),
          at: Date.now(),
        });
      }
    };
    const clients = Array.from({ length: 4 }, client);
    return {
      answers,
      async stop() {
        stop = true;
        await Promise.all(clients);
      },
    };
  };

  const upload = async (bytes: Uint8Array): Promise<string> => {
    const response = await admin('/v1/admin/artifacts', {
      method: 'POST',
      headers: { 'Content-Type': 'application/gzip' },
      body: bytes,
    });
    expect(response.status).toBe(201);
    return ((await response.json()) as { modelData: string }).modelData;
  };

  const variant = async (name: string) =>
    (await (await admin(`/v1/admin/models/iris/variants/${name}`)).json()) as {
      state: string;
      reason?: string;
      revision: number;
      servingRevision?: number;
    };

  const pack = async (model: string, name: string): Promise<Uint8Array> => {
    const code = join(dir, `src-${name}`);
    await mkdir(code, { recursive: true });
    await writeFile(join(code, 'inference.mjs'), INFERENCE);
    const archive = join(dir, `${name}.tar.gz`);
    await packModel({
      model: join(MODELS, model),
      entryPoint: join(code, 'inference.mjs'),
      output: archive,
    });
    return readFile(archive);
  };

  it('takes 10% of the traffic once warm, with no restart and no failed request', async () => {
    // Pack: the iris model and the handler above, in SageMaker's layout.
    const archive = await pack('iris-v2', 'v2');
    // Steady traffic from four clients for the whole change.
    const load = traffic();
    const { answers } = load;
    await expect.poll(() => answers.length, { timeout: 10_000 }).toBeGreaterThan(50);
    const modelData = await upload(archive);
    const deployed = await admin('/v1/admin/models/iris/variants/v2', {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ weight: 10, backend: { type: 'queue', pool: 'default' }, modelData }),
    });
    expect(deployed.status).toBe(202);
    const sentAt = Date.now();
    expect(((await deployed.json()) as { state: string }).state).toMatch(/Creating|Loading/);

    await expect
      .poll(
        async () =>
          (
            (await (await admin('/v1/admin/models/iris/variants/v2')).json()) as {
              state: string;
            }
          ).state,
        { timeout: 30_000, interval: 50 },
      )
      .toBe('InService');
    const inServiceAt = Date.now();
    // Enough traffic after the change to see the split.
    await expect
      .poll(() => answers.filter((a) => a.at > inServiceAt).length, { timeout: 30_000 })
      .toBeGreaterThan(1500);
    await load.stop();

    // No failed request before, during or after the change.
    const failed = answers.filter((a) => a.status !== 200);
    expect(failed.slice(0, 3)).toEqual([]);
    // The new variant took no traffic before it was deployed, and answers with its own code.
    const v2 = answers.filter((a) => a.variant === 'v2');
    expect(v2.length).toBeGreaterThan(0);
    expect(Math.min(...v2.map((a) => a.at))).toBeGreaterThan(sentAt);
    const parsed = JSON.parse(v2[0]?.body ?? '{}') as {
      packed: boolean;
      probabilities: number[][];
    };
    expect(parsed.packed).toBe(true);
    expect(parsed.probabilities).toHaveLength(2);
    for (const row of parsed.probabilities) {
      expect(row.reduce((s, p) => s + p, 0)).toBeCloseTo(1, 3);
    }
    expect(new Set(v2.map((a) => a.body)).size).toBe(1);
    // About a tenth of what came after it was in service.
    const after = answers.filter((a) => a.at > inServiceAt + 200);
    const share = after.filter((a) => a.variant === 'v2').length / after.length;
    expect(share).toBeGreaterThan(0.05);
    expect(share).toBeLessThan(0.16);
    // Nothing restarted: the gateway and both workers are the processes we started.
    for (const p of [gateway, v1, pool]) expect(p.child.exitCode).toBeNull();
    expect(gateway.output()).toContain('"msg":"variant in service"');
    // The other replica serves the new variant too, without a restart.
    const viaReplica = await fetch(`${replica.url}/endpoints/iris/invocations`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Amzn-SageMaker-Target-Variant': 'v2' },
      body: JSON.stringify(ROWS),
    });
    expect(viaReplica.status).toBe(200);
    expect(await viaReplica.text()).toBe(v2[0]?.body);
    const listed = (await (await fetch(`${replica.url}/v1/admin/deployments`)).json()) as {
      models: { name: string; variants: { name: string; state: string; weight: number }[] }[];
    };
    expect(listed.models.find((m) => m.name === 'iris')?.variants).toContainEqual(
      expect.objectContaining({ name: 'v2', state: 'InService', weight: 10 }),
    );
    expect(replica.child.exitCode).toBeNull();
    expect(pool.output()).toContain('"msg":"revision loaded"');
  }, 120_000);

  it('routes nothing to a variant whose model fails to load, and says why', async () => {
    const load = traffic();
    await expect.poll(() => load.answers.length, { timeout: 10_000 }).toBeGreaterThan(50);
    // A gzip stream, but no tar inside.
    const { gzipSync } = await import('node:zlib');
    const modelData = await upload(gzipSync(Buffer.from('not a tar archive')));
    const deployed = await admin('/v1/admin/models/iris/variants/broken', {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ weight: 50, modelData }),
    });
    expect(deployed.status).toBe(202);
    await expect
      .poll(async () => (await variant('broken')).state, { timeout: 30_000 })
      .toBe('Failed');
    expect((await variant('broken')).reason).toMatch(/./);
    const count = load.answers.length;
    await expect.poll(() => load.answers.length, { timeout: 10_000 }).toBeGreaterThan(count + 200);
    await load.stop();
    expect(load.answers.filter((a) => a.status !== 200).slice(0, 3)).toEqual([]);
    expect(load.answers.filter((a) => a.variant === 'broken')).toEqual([]);
    // Asked for by name, it answers 503 with the reason rather than hanging.
    const named = await fetch(`${gateway.url}/endpoints/iris/invocations`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Amzn-SageMaker-Target-Variant': 'broken' },
      body: JSON.stringify(ROWS),
    });
    expect(named.status).toBe(503);
    expect(await named.text()).toContain('failed to load');
    expect(
      (await admin('/v1/admin/models/iris/variants/broken', { method: 'DELETE' })).status,
    ).toBe(204);
    expect((await admin('/v1/admin/models/iris/variants/broken')).status).toBe(404);
  }, 60_000);

  it('replaces a variant: the old revision serves until the new one is in service', async () => {
    const before = await variant('v2');
    expect(before.state).toBe('InService');
    const oldAnswer = await (
      await fetch(`${gateway.url}/endpoints/iris/invocations`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Amzn-SageMaker-Target-Variant': 'v2' },
        body: JSON.stringify(ROWS),
      })
    ).text();
    const load = traffic();
    await expect.poll(() => load.answers.length, { timeout: 10_000 }).toBeGreaterThan(50);
    // The same handler on the other iris model: different numbers.
    const modelData = await upload(await pack('iris-v1', 'v2-next'));
    const replaced = await admin('/v1/admin/models/iris/variants/v2', {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ weight: 50, modelData }),
    });
    expect(replaced.status).toBe(202);
    const next = (await replaced.json()) as { revision: number; servingRevision?: number };
    expect(next.revision).toBeGreaterThan(before.revision);
    expect(next.servingRevision).toBe(before.revision);
    await expect
      .poll(async () => (await variant('v2')).servingRevision, { timeout: 30_000 })
      .toBe(next.revision);
    const switched = Date.now();
    await expect
      .poll(() => load.answers.filter((a) => a.at > switched + 200).length, { timeout: 30_000 })
      .toBeGreaterThan(400);
    await load.stop();
    expect(load.answers.filter((a) => a.status !== 200).slice(0, 3)).toEqual([]);
    const v2 = load.answers.filter((a) => a.variant === 'v2');
    const bodies = new Set(v2.map((a) => a.body));
    // Both revisions answered during the change, and only the new one after it.
    expect(bodies.has(oldAnswer)).toBe(true);
    expect(bodies.size).toBe(2);
    const late = v2.filter((a) => a.at > switched + 200);
    expect(late.length).toBeGreaterThan(0);
    expect(late.every((a) => a.body !== oldAnswer)).toBe(true);
  }, 60_000);
});
