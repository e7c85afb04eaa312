export type { Backend, BackendRequest, BackendResponse } from './backends/backend.js';
export { createLocalBackend } from './backends/local.js';
export {
  ConfigError,
  embeddedDefaultConfig,
  loadGatewayConfig,
  resolveGatewayConfig,
} from './config/load.js';
export { gatewayConfigSchema } from './config/schema.js';
export type { GatewayConfig, ModelConfig, VariantConfig } from './config/schema.js';
export { createApp } from './http/app.js';
export type { AppDeps } from './http/app.js';
export { closeRegistry, createModelRegistry } from './http/model-registry.js';
export { startJobs } from './jobs/index.js';
export { startPolicies } from './policy/index.js';
export type { Policies } from './policy/index.js';
export type { Jobs } from './jobs/index.js';
export type { ModelRegistry, ModelState, VariantState } from './http/model-registry.js';
export { chooseVariant } from './routing/choose-variant.js';
export type { ChooseOptions, WeightedVariant } from './routing/choose-variant.js';
export { startWeightSync } from './routing/weight-sync.js';
export type { WeightSync } from './routing/weight-sync.js';
export { createObjectStore } from '@switchyard/worker';
export type { ObjectStore, ObjectStoreOptions } from '@switchyard/worker';
export { Deployments } from './deploy/deployments.js';
export type { DeploymentsOptions, ModelView, VariantView } from './deploy/deployments.js';
export { Traffic } from './console/traffic.js';
export type { TrafficOptions } from './console/traffic.js';
