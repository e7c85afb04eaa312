export { deploy, DeployError } from './deploy.js';
export type { DeployBackend, DeployOptions } from './deploy.js';
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
export type { DeploymentState, ModelSettings } from '@switchyard/handlers';
