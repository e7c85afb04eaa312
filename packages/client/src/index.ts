export {
  csvDeserializer,
  csvSerializer,
  jsonDeserializer,
  jsonSerializer,
  npyDeserializer,
  npySerializer,
  Predictor,
  PredictorError,
  toTensor,
} from './predictor.js';
export type {
  Deserializer,
  NestedNumbers,
  PredictInput,
  Prediction,
  PredictOptions,
  PredictorOptions,
  Serializer,
} from './predictor.js';
