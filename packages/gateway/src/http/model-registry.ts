import { deploymentQueue, type DeploymentState, type HandlerLogger } from '@switchyard/handlers';
import type { Backend } from '../backends/backend.js';
import { createLocalBackend } from '../backends/local.js';
import { createQueueBackend } from '../backends/queue.js';
import { createSageMakerBackend } from '../backends/sagemaker.js';
import { ReplyChannel } from '../backends/reply-channel.js';
import { CanaryGuard } from '../routing/canary-guard.js';
import { Shadow } from '../routing/shadow.js';
import type { GatewayConfig, ModelConfig, VariantConfig } from '../config/schema.js';

/** Where a variant registered through the admin API stands. */
interface VariantDeploymentState {
  /** The newest revision. */
  readonly revision: number;
  /** The revision requests go to: the newest one in service, if any. */
  readonly serving: number | undefined;
  /** The newest revision's state. */
  readonly state: DeploymentState;
  readonly reason?: string | undefined;
}

export interface VariantState {
  readonly name: string;
  weight: number;
  readonly backend: Backend;
  readonly guard?: CanaryGuard;
  /** Set for variants registered at runtime: routed to only while one revision serves. */
  readonly deployment?: VariantDeploymentState;
}

/**
 * A variant's state as operators see it: a registered variant's is its newest
 * revision's; a configured one is in service while its backend is healthy.
 */
export function variantState(v: VariantState): {
  state: DeploymentState;
  reason: string | undefined;
} {
  if (v.deployment !== undefined) return { state: v.deployment.state, reason: v.deployment.reason };
  return v.backend.healthy()
    ? { state: 'InService', reason: undefined }
    : { state: 'Failed', reason: 'the backend is unreachable' };
}

export interface ModelState {
  readonly name: string;
  readonly config: ModelConfig;
  readonly variants: Map<string, VariantState>;
  /** Set when the model copies traffic to a shadow variant. */
  shadow?: Shadow;
}

export type ModelRegistry = ReadonlyMap<string, ModelState> & {
  /** Resources the backends share (the reply channel), closed with the registry. */
  readonly shared?: { close(): Promise<void> }[];
};

/** A backend as a variant describes it, plus what registered variants add. */
type BackendSpec =
  | VariantConfig['backend']
  | {
      readonly type: 'queue';
      /** A registered queue variant: its queue's name comes from the namespace. */
      readonly registered: true;
      readonly maxWaiting: number;
      readonly attempts: number;
      readonly multiModel: boolean;
    };

/** A registry whose models and variants change at runtime (admin API). */
export type MutableModelRegistry = Map<string, ModelState> & {
  readonly shared: { close(): Promise<void> }[];
  /** Start a backend for one variant (closed by whoever replaces or removes it). */
  makeBackend(model: string, variant: string, spec: BackendSpec): Promise<Backend>;
};

/** Start every variant's backend; on any failure, close what started. */
export async function createModelRegistry(
  config: GatewayConfig,
  logger: HandlerLogger,
): Promise<MutableModelRegistry> {
  const shared: { close(): Promise<void> }[] = [];
  let replies: ReplyChannel | undefined;
  const replyChannel = (url: string): ReplyChannel => {
    if (replies === undefined) {
      replies = new ReplyChannel(url, logger);
      shared.push(replies);
    }
    return replies;
  };
  const makeBackend = async (name: string, variant: string, b: BackendSpec): Promise<Backend> =>
    b.type === 'local'
      ? createLocalBackend({
          modelName: name,
          variant,
          model: b.model,
          maxBatchSize: b.maxBatchSize,
          maxDelayMs: b.maxDelayMs,
          logger,
        })
      : b.type === 'sagemaker'
        ? createSageMakerBackend({
            endpointName: b.endpointName,
            region: b.region,
            endpoint: b.endpoint,
            targetVariant: b.targetVariant,
            targetModel: b.targetModel,
            logger,
          })
        : createQueueBackend({
            redisUrl: config.redis?.url ?? '',
            queue:
              'registered' in b
                ? deploymentQueue(config.redis?.namespace ?? 'switchyard', name, variant)
                : b.queue,
            modelName: name,
            variant,
            maxWaiting: b.maxWaiting,
            attempts: b.attempts,
            replies: replyChannel(config.redis?.url ?? ''),
            logger,
            multiModel: 'registered' in b && b.multiModel,
          });
  const registry: MutableModelRegistry = Object.assign(new Map<string, ModelState>(), {
    shared,
    makeBackend,
  });
  try {
    for (const [name, model] of Object.entries(config.models)) {
      const variants = new Map<string, VariantState>();
      registry.set(name, { name, config: model, variants });
      for (const [variant, spec] of Object.entries(model.variants)) {
        const backend = await makeBackend(name, variant, spec.backend);
        const guard =
          spec.guard === undefined
            ? undefined
            : new CanaryGuard(spec.guard, (why) => {
                logger.warn(
                  { model: name, variant, why },
                  'canary guard took the variant out of rotation',
                );
              });
        variants.set(variant, {
          name: variant,
          weight: spec.weight,
          backend,
          ...(guard === undefined ? {} : { guard }),
        });
      }
      const shadowed = model.shadow === undefined ? undefined : variants.get(model.shadow.variant);
      const state = registry.get(name);
      if (state !== undefined && model.shadow !== undefined && shadowed !== undefined) {
        state.shadow = new Shadow(model.shadow.variant, model.shadow.sampleRate, shadowed.backend);
      }
    }
  } catch (error) {
    await closeRegistry(registry);
    throw error;
  }
  return registry;
}

export async function closeRegistry(registry: ModelRegistry): Promise<void> {
  await Promise.all(
    [...registry.values()].flatMap((m) => [...m.variants.values()].map((v) => v.backend.close())),
  );
  await Promise.all((registry.shared ?? []).map((s) => s.close()));
}
