export {
  WIRE_VERSION,
  decodeJobRequest,
  decodeJobResult,
  encodeJobRequest,
  encodeJobResult,
  jobRequestSchema,
  jobResultSchema,
} from './job.js';
export type { JobRequest, JobRequestWire, JobResult, JobResultWire } from './job.js';
export {
  decodeChunkRequest,
  decodeChunkResult,
  encodeChunkRequest,
  encodeChunkResult,
} from './chunk.js';
export type { ChunkRequest, RecordOutcome } from './chunk.js';
