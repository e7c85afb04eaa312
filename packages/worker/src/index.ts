export { DynamicBatcher } from './batching/dynamic-batcher.js';
export type { BatchItem, DynamicBatcherOptions } from './batching/dynamic-batcher.js';
export { castTensor } from './onnx/cast.js';
export type { OnnxModel, TensorSpec } from './onnx/onnx-model.js';
export { findOnnxFile, openSession } from './onnx/session.js';
export type {
  ExecutionProvider,
  GraphOptimizationLevel,
  OnnxSessionOptions,
  OpenedSession,
} from './onnx/session.js';
export { startModelHost } from './runtime/model-host.js';
export type { ModelHost } from './runtime/model-host.js';
export { createModelRuntime } from './runtime/model-runtime.js';
export type { ModelRuntime, ModelRuntimeOptions } from './runtime/model-runtime.js';
export type {
  RuntimeInfo,
  RuntimeRequest,
  RuntimeResult,
  RuntimeTimings,
} from './runtime/types.js';
export { ConfigError, DEFAULT_WORKER_CONFIG, resolveWorkerConfig } from './config.js';
export type { ResolvedWorkerConfig, WorkerOptions } from './config.js';
export { startQueueConsumer } from './queue/consumer.js';
export { runChunk } from './queue/chunk.js';
export type { QueueConsumer, QueueConsumerOptions } from './queue/consumer.js';
export { createWorkerMetrics, instrument } from './metrics.js';
export type { WorkerMetrics } from './metrics.js';
export {
  createOpsApp,
  createSageMakerApp,
  listen,
  serveSageMaker,
} from './server/sagemaker-server.js';
export type { SageMakerServer } from './server/sagemaker-server.js';
export { resolveModelSource } from './model-source/resolve-source.js';
export type { ModelSourceOptions } from './model-source/resolve-source.js';
export { UnsafeArchiveError, extractModelArchive } from './model-source/archive.js';
export { createObjectStore } from './storage/object-store.js';
export type { ObjectStore, ObjectStoreOptions } from './storage/object-store.js';
export { startTracing } from './tracing.js';
export { PackError, packModel } from './packaging/pack.js';
export type { PackOptions } from './packaging/pack.js';
export { memoryDeploymentStore, redisDeploymentStore } from './registry/deployment-store.js';
export type { DeploymentStore } from './registry/deployment-store.js';
export { modelBytes, startMultiModelWorker } from './registry/multi-model.js';
export type { MultiModelWorker, MultiModelWorkerOptions } from './registry/multi-model.js';
export { ModelCache } from './runtime/model-cache.js';
export { coalesced } from './registry/coalesced.js';
export type { Coalesced } from './registry/coalesced.js';
