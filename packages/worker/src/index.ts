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
