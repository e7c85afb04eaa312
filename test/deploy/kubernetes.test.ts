import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { resolveGatewayConfig } from '@switchyard/gateway';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';

const DIR = fileURLToPath(new URL('../../deploy/k8s/', import.meta.url));

// Each kind the manifests use, validated against the Kubernetes (and KEDA) JSON schemas.
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
};

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  file: string;
}

async function manifests(): Promise<Manifest[]> {
  const out: Manifest[] = [];
  for (const file of (await readdir(DIR)).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(await readFile(DIR + file, 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map(String).join('; ')}`);
      out.push({ ...(doc.toJS() as Omit<Manifest, 'file'>), file });
    }
  }
  return out;
}

type PodSpec = {
  terminationGracePeriodSeconds?: number;
  containers: {
    args?: string[];
    env?: { name: string; value?: string }[];
    resources?: { limits?: Record<string, unknown> };
  }[];
};
const podSpec = (m: Manifest) => (m.spec as { template: { spec: PodSpec } }).template.spec;

describe('Kubernetes manifests', () => {
  it('parse and pass the Kubernetes and KEDA schemas', async () => {
    const all = await manifests();
    expect(all.length).toBeGreaterThanOrEqual(10);
    for (const m of all) {
      const Model = MODELS[`${m.apiVersion}/${m.kind}`];
      expect(Model, `${m.file}: no schema for ${m.apiVersion} ${m.kind}`).toBeDefined();
      const { file: _, ...data } = m;
      expect(() => {
        new (Model as new (data: unknown) => { validate(): void })(data).validate();
      }, `${m.file}: ${m.kind} ${m.metadata.name}`).not.toThrow();
    }
  });

  it('give the gateway a Service, autoscaling, a disruption budget and a valid configuration', async () => {
    const all = await manifests();
    const named = (kind: string) => all.filter((m) => m.kind === kind).map((m) => m.metadata.name);
    expect(named('Deployment')).toContain('switchyard-gateway');
    expect(named('Service')).toContain('switchyard-gateway');
    expect(named('HorizontalPodAutoscaler')).toContain('switchyard-gateway');
    expect(named('PodDisruptionBudget')).toContain('switchyard-gateway');
    const config = all.find((m) => m.kind === 'ConfigMap')?.data?.['gateway.yaml'] ?? '';
    const resolved = resolveGatewayConfig(parse(config), 'gateway ConfigMap');
    expect(resolved.redis?.url).toBe('redis://switchyard-redis:6379');
    expect(resolved.storage.url).toMatch(/^s3:\/\//);
  });

  it('run CPU and GPU workers with a grace period longer than a batch can take', async () => {
    const all = await manifests();
    const gateway = resolveGatewayConfig(
      parse(all.find((m) => m.kind === 'ConfigMap')?.data?.['gateway.yaml'] ?? ''),
    );
    const queues = Object.values(gateway.models).flatMap((model) =>
      Object.values(model.variants).map((v) => ({
        queue: v.backend.type === 'queue' ? v.backend.queue : undefined,
        timeoutMs: model.timeoutMs,
      })),
    );
    const workers = all.filter(
      (m) => m.kind === 'Deployment' && m.metadata.name.startsWith('switchyard-worker-'),
    );
    expect(workers.map((w) => w.metadata.name).sort()).toEqual([
      'switchyard-worker-cpu',
      'switchyard-worker-gpu',
    ]);
    for (const worker of workers) {
      const spec = podSpec(worker);
      const args = spec.containers[0]?.args ?? [];
      const queue = args[args.indexOf('--queue') + 1];
      const served = queues.find((q) => q.queue === queue);
      expect(served, `${worker.metadata.name} consumes a queue the gateway sends to`).toBeDefined();
      expect(spec.terminationGracePeriodSeconds ?? 30).toBeGreaterThan(
        (served?.timeoutMs ?? 0) / 1000,
      );
    }
    const gpu = podSpec(workers.find((w) => w.metadata.name.endsWith('gpu')) as Manifest);
    expect(gpu.containers[0]?.resources?.limits?.['nvidia.com/gpu']).toBe(1);
    expect(gpu.containers[0]?.env).toContainEqual({ name: 'SWITCHYARD_DEVICE', value: 'cuda' });
  });

  it('scale each worker with KEDA on its whole queue depth, not the wait list alone', async () => {
    const all = await manifests();
    const scaled = all.filter((m) => m.kind === 'ScaledObject');
    expect(
      scaled
        .map((s) => (s.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name)
        .sort(),
    ).toEqual(['switchyard-worker-cpu', 'switchyard-worker-gpu']);
    for (const s of scaled) {
      const triggers = (
        s.spec as { triggers: { type: string; metadata: Record<string, string> }[] }
      ).triggers;
      for (const t of triggers) {
        // Not KEDA's redis list scaler, which reads only the wait list.
        expect(t.type).not.toBe('redis');
        expect(t.metadata['query']).toMatch(/switchyard_gateway_queue_depth/);
        // Summed over the states (waiting, prioritized, active), never filtered to one.
        expect(t.metadata['query']).toMatch(/sum\(/);
        expect(t.metadata['query']).not.toMatch(/state=/);
      }
    }
  });

  it('keep Redis durable and eviction-free, as BullMQ requires', async () => {
    const redis = (await manifests()).find((m) => m.kind === 'StatefulSet') as Manifest;
    const args = podSpec(redis).containers[0]?.args ?? [];
    expect(args.join(' ')).toMatch(/--appendonly yes/);
    expect(args.join(' ')).toMatch(/--maxmemory-policy noeviction/);
  });
});
