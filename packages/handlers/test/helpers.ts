// Test helpers shared by the handlers package's tests.
import { InferenceError } from '../src/errors/inference-error.js';
import { parseMediaType, type MediaType } from '../src/media-type/parse.js';

/** The InferenceError `fn` throws; fails the test if it returns or throws anything else. */
export function errorOf(fn: () => unknown): InferenceError {
  try {
    fn();
  } catch (error) {
    if (error instanceof InferenceError) return error;
    throw error;
  }
  throw new Error('expected an InferenceError');
}

/** Whether `fn` either returns or throws an InferenceError with a message (for fuzzing). */
export function throwsOnlyInferenceErrors(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (error) {
    return error instanceof InferenceError && error.message.length > 0;
  }
}

/** A parsed media type, for calling a codec directly. */
export function mediaType(header: string): MediaType {
  const parsed = parseMediaType(header);
  if (parsed === undefined) throw new Error(`bad media type ${header}`);
  return parsed;
}
