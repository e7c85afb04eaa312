export {
  JOB_GROUP_NAME,
  MAX_GROUP_REQUESTS,
  WIRE_VERSION,
  decodeJobGroup,
  decodeJobRequest,
  decodeJobResult,
  encodeJobGroup,
  encodeJobRequest,
  encodeJobResult,
  jobGroupSchema,
  jobRequestSchema,
  jobResultSchema,
} from './job.js';
export type { JobGroupWire, JobRequest, JobRequestWire, JobResult, JobResultWire } from './job.js';
export {
  decodeChunkRequest,
  decodeChunkResult,
  encodeChunkRequest,
  encodeChunkResult,
} from './chunk.js';
export type { ChunkRequest, RecordOutcome } from './chunk.js';
export {
  BATCHING_DEFAULTS,
  DEPLOYMENT_WIRE_VERSION,
  QUEUE_VARIANT_DEFAULTS,
  NAME_PATTERN,
  batchingSchema,
  decodeDeploymentRecord,
  decodeLoaderReports,
  deploymentBackendSchema,
  deploymentKeys,
  deploymentQueue,
  deploymentRecordSchema,
  loaderReportSchema,
  modelSettingsSchema,
  revisionStatus,
  variantDeploymentSchema,
} from './deployments.js';
export type {
  DeploymentBackend,
  DeploymentRecord,
  DeploymentState,
  LoaderReport,
  ModelSettings,
  RevisionStatus,
  VariantDeployment,
  VariantRevision,
} from './deployments.js';
