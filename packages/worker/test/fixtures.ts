import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HandlerLogger } from '@switchyard/handlers';
import type { RuntimeRequest } from '../src/runtime/types.js';

/** The example models `pnpm build` writes (examples/models/make-models.mjs). */
export const MODELS = fileURLToPath(new URL('../../../examples/models/', import.meta.url));

export const silentLogger: HandlerLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

let counter = 0;

/** A request with sensible defaults: 10 s deadline, enqueued now. */
export function request(
  body: string | Uint8Array,
  contentType: string,
  overrides: Partial<RuntimeRequest> = {},
): RuntimeRequest {
  return {
    requestId: `req-${++counter}`,
    body: typeof body === 'string' ? new TextEncoder().encode(body) : body,
    contentType,
    accept: undefined,
    customAttributes: undefined,
    deadline: Date.now() + 10_000,
    enqueuedAt: Date.now(),
    ...overrides,
  };
}

/** A temporary model directory holding only `code/inference.mjs` with the given source. */
export async function customModelDir(
  source: string,
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-model-'));
  await mkdir(join(dir, 'code'));
  await writeFile(join(dir, 'code', 'inference.mjs'), source);
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
