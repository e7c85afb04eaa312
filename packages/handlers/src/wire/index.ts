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
