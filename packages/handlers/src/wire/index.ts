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
