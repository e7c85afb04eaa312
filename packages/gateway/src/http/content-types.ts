import { InferenceError, negotiate, parseMediaType } from '@switchyard/handlers';
import type { ModelState } from './model-registry.js';

/**
 * Check a request's Content-Type against the model's and negotiate its Accept:
 * the answer type, or UNSUPPORTED_MEDIA_TYPE / NOT_ACCEPTABLE naming what is.
 */
export function checkTypes(
  model: ModelState,
  contentType: string,
  acceptHeader: string | undefined,
): string {
  const parsed = parseMediaType(contentType);
  const allowed = model.config.contentTypes;
  if (parsed === undefined || !allowed.some((t) => parseMediaType(t)?.essence === parsed.essence)) {
    throw new InferenceError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Content-Type ${JSON.stringify(contentType)} is not accepted by model "${model.name}"; supported: ${allowed.join(', ')}`,
    );
  }
  const accept = negotiate(acceptHeader, model.config.accepts);
  if (accept === undefined) {
    throw new InferenceError(
      'NOT_ACCEPTABLE',
      `cannot answer Accept ${JSON.stringify(acceptHeader ?? '')} for model "${model.name}"; supported: ${model.config.accepts.join(', ')}`,
    );
  }
  return accept;
}
