import type { HandlerLogger } from '@switchyard/handlers';
import type { Backend } from '../backends/backend.js';
import { createLocalBackend } from '../backends/local.js';
import type { GatewayConfig, ModelConfig } from '../config/schema.js';

export interface VariantState {
  readonly name: string;
  weight: number;
  readonly backend: Backend;
}

export interface ModelState {
  readonly name: string;
  readonly config: ModelConfig;
  readonly variants: Map<string, VariantState>;
}

export type ModelRegistry = ReadonlyMap<string, ModelState>;

/** Start every variant's backend; on any failure, close what started. */
export async function createModelRegistry(
  config: GatewayConfig,
  logger: HandlerLogger,
): Promise<ModelRegistry> {
  const registry = new Map<string, ModelState>();
  try {
    for (const [name, model] of Object.entries(config.models)) {
      const variants = new Map<string, VariantState>();
      registry.set(name, { name, config: model, variants });
      for (const [variant, spec] of Object.entries(model.variants)) {
        const backend = await createLocalBackend({
          modelName: name,
          variant,
          model: spec.backend.model,
          maxBatchSize: spec.backend.maxBatchSize,
          maxDelayMs: spec.backend.maxDelayMs,
          logger,
        });
        variants.set(variant, { name: variant, weight: spec.weight, backend });
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
}
