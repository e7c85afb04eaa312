export {
  DEFAULT_CODECS,
  createCodecRegistry,
  csvCodec,
  decode,
  encode,
  jsonCodec,
  npyCodec,
  npzCodec,
} from './codecs/index.js';
export type {
  Codec,
  CodecRegistry,
  Decoded,
  DecodeOptions,
  Encoded,
  EncodeOptions,
  ResolvedDecodeOptions,
} from './codecs/index.js';
export {
  HANDLER_FUNCTION_NAMES,
  HandlerDefinitionError,
  callHandlerFunction,
  decodeInputFn,
  defineHandler,
  encodeOutputFn,
  invokeHandler,
  resolveAccept,
  resolveHandler,
  toEncoded,
} from './contract/index.js';
export type {
  ChainHandler,
  Handler,
  HandlerContext,
  HandlerDefaults,
  HandlerLogger,
  HandlerOutput,
  InputFn,
  InvokeOptions,
  InvokeRequest,
  LoadContext,
  LogFn,
  MaybePromise,
  ModelFn,
  OutputFn,
  PredictContext,
  PredictFn,
  RequestContext,
  ResolvedHandler,
  ResolveHandlerOptions,
  TransformFn,
  TransformHandler,
  WarmupFn,
} from './contract/index.js';
export {
  HTTP_STATUS_BY_CODE,
  INFERENCE_ERROR_CODES,
  InferenceError,
  RETRYABLE_CODES,
  isInferenceErrorCode,
  toInferenceError,
} from './errors/index.js';
export type {
  InferenceErrorCode,
  InferenceErrorDetails,
  InferenceErrorJSON,
  InferenceErrorOptions,
  InferenceErrorStatus,
} from './errors/index.js';
export {
  negotiate,
  negotiateOrThrow,
  parseContentType,
  parseMediaType,
} from './media-type/index.js';
export type { MediaType, NegotiateOptions } from './media-type/index.js';
export {
  DTYPES,
  TYPED_ARRAY_BY_DTYPE,
  bytesPerElement,
  canStack,
  createTensor,
  elementCount,
  formatShape,
  halfToNumber,
  isBigIntDType,
  isDType,
  isTensor,
  namedTensors,
  numberToHalf,
  split,
  stack,
} from './tensor/index.js';
export type {
  AnyTensor,
  DataTypeMap,
  DType,
  NamedTensors,
  NumericDType,
  Tensor,
  TypedData,
} from './tensor/index.js';
export {
  WIRE_VERSION,
  decodeJobRequest,
  decodeJobResult,
  encodeJobRequest,
  encodeJobResult,
  jobRequestSchema,
  jobResultSchema,
} from './wire/index.js';
export type { JobRequest, JobRequestWire, JobResult, JobResultWire } from './wire/index.js';
