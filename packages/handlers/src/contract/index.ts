export type {
  HandlerContext,
  HandlerLogger,
  LoadContext,
  LogFn,
  PredictContext,
  RequestContext,
} from './context.js';
export { defineHandler } from './handler.js';
export type {
  ChainHandler,
  Handler,
  HandlerOutput,
  InputFn,
  MaybePromise,
  ModelFn,
  OutputFn,
  PredictFn,
  TransformFn,
  TransformHandler,
  WarmupFn,
} from './handler.js';
export {
  callHandlerFunction,
  decodeInputFn,
  encodeOutputFn,
  invokeHandler,
  resolveAccept,
  toEncoded,
} from './invoke.js';
export type { InvokeOptions, InvokeRequest } from './invoke.js';
export { HANDLER_FUNCTION_NAMES, HandlerDefinitionError, resolveHandler } from './resolve.js';
export type { HandlerDefaults, ResolveHandlerOptions, ResolvedHandler } from './resolve.js';
export type { InvocationRequest } from './request.js';
