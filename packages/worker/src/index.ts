// @switchyard/worker: model loading, onnxruntime-node, dynamic batching and the
// BullMQ consumer. It builds on @switchyard/handlers; its runtime lands with the
// worker issue, and until then the package only takes part in the build.
export {};
