import type { HandlerLogger } from '@switchyard/handlers';
import type { Backend } from '../backends/backend.js';
import { createLocalBackend } from '../backends/local.js';
import { createQueueBackend } from '../backends/queue.js';
import { createSageMakerBackend } from '../backends/sagemaker.js';
import { ReplyChannel } from '../backends/reply-channel.js';
import { CanaryGuard } from '../routing/canary-guard.js';
import { Shadow } from '../routing/shadow.js';
import type { GatewayConfig, ModelConfig } from '../config/schema.js';

export interface VariantState {
  readonly name: string;
  weight: number;
  readonly backend: Backend;
  readonly guard?: CanaryGuard;
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

/** Start every variant's backend; on any failure, close what started. */
export async function createModelRegistry(
  config: GatewayConfig,
  logger: HandlerLogger,
): Promise<ModelRegistry> {
  const registry: Map<string, ModelState> & { shared: { close(): Promise<void> }[] } =
    Object.assign(new Map<string, ModelState>(), { shared: [] as { close(): Promise<void> }[] });
  let replies: ReplyChannel | undefined;
  const replyChannel = (url: string): ReplyChannel => {
    if (replies === undefined) {
      replies = new ReplyChannel(url, logger);
      registry.shared.push(replies);
    }
    return replies;
  };
  try {
    for (const [name, model] of Object.entries(config.models)) {
      const variants = new Map<string, VariantState>();
      registry.set(name, { name, config: model, variants });
      for (const [variant, spec] of Object.entries(model.variants)) {
        const b = spec.backend;
        const backend =
          b.type === 'local'
            ? await createLocalBackend({
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
              : await createQueueBackend({
                  redisUrl: config.redis?.url ?? '',
                  queue: b.queue,
                  modelName: name,
                  variant,
                  maxWaiting: b.maxWaiting,
                  attempts: b.attempts,
                  replies: replyChannel(config.redis?.url ?? ''),
                  logger,
                });
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
