export { negotiate, negotiateOrThrow } from './negotiate.js';
export type { NegotiateOptions } from './negotiate.js';
export { parseContentType, parseMediaType } from './parse.js';
export type { MediaType } from './parse.js';
