import { cp, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HANDLER_FUNCTION_NAMES, resolveHandler } from '@switchyard/handlers';
import * as tar from 'tar';
import { extractModelArchive } from '../model-source/archive.js';

export interface PackOptions {
  /** A model directory, a `.onnx` file, or an existing `model.tar.gz` to repack. */
  readonly model: string;
  /** The handler module (`.mjs` or `.js`); it goes in as `code/inference.<ext>`. */
  readonly entryPoint: string;
  /** More code for `code/` (modules the entry point imports, `package.json`). */
  readonly sourceDir?: string;
  /** The archive to write. */
  readonly output: string;
}

/** A package that cannot be built as asked; says what is wrong. */
export class PackError extends Error {
  override readonly name = 'PackError';
}

const KNOWN_EXPORTS = new Set<string>([...HANDLER_FUNCTION_NAMES, 'default']);

async function kind(path: string): Promise<'dir' | 'file' | undefined> {
  try {
    return (await stat(path)).isDirectory() ? 'dir' : 'file';
  } catch {
    return undefined;
  }
}

/** Copies the model's files to the top of `staging`, leaving any old `code/` out. */
async function placeModel(model: string, staging: string): Promise<void> {
  const found = await kind(model);
  if (found === undefined) throw new PackError(`--model ${model} does not exist`);
  if (found === 'file' && /\.(tar\.gz|tgz|tar)$/.test(model)) {
    // Repacking, as SageMaker's SDK does: the model files stay, the code is replaced.
    await extractModelArchive(model, staging);
  } else if (found === 'file') {
    await cp(model, join(staging, basename(model)));
  } else {
    await cp(model, staging, { recursive: true });
  }
  await rm(join(staging, 'code'), { recursive: true, force: true });
}

async function checkEntryPoint(file: string): Promise<void> {
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new PackError(
      `the entry point ${file} does not load: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const unknown = Object.keys(module).filter((name) => !KNOWN_EXPORTS.has(name));
  if (unknown.length > 0) {
    throw new PackError(
      `the entry point exports ${unknown.map((n) => `"${n}"`).join(', ')}, which no handler reads; ` +
        `it may export ${HANDLER_FUNCTION_NAMES.join(', ')} (or a defineHandler() default)`,
    );
  }
  try {
    resolveHandler(module, {
      source: file,
      // The worker supplies these defaults; here only the module's own shape is checked.
      defaults: {
        modelFn: () => undefined,
        inputFn: () => undefined,
        predictFn: () => undefined,
        outputFn: () => ({ body: new Uint8Array(), contentType: 'application/octet-stream' }),
      },
    });
  } catch (error) {
    throw new PackError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * Builds a `model.tar.gz` in SageMaker's layout: the model's files at the top, the
 * entry point as `code/inference.mjs` (or `.js`) with `sourceDir`'s files beside it
 * (its `package.json` too, whose dependencies the worker installs at load). The
 * archive must hold an ONNX file, and the entry point must load and export only
 * handler functions, with `transformFn` never beside the chain. Given an existing
 * archive as `model`, its code is replaced and its model files kept.
 *
 * @example
 * ```ts
 * await packModel({ model: 'models/iris', entryPoint: 'src/inference.mjs', output: 'model.tar.gz' });
 * ```
 */
export async function packModel(options: PackOptions): Promise<{ files: string[] }> {
  const ext = extname(options.entryPoint);
  if (ext !== '.mjs' && ext !== '.js') {
    throw new PackError(
      `the entry point must be JavaScript (.mjs or .js), not ${options.entryPoint}; build TypeScript first`,
    );
  }
  if ((await kind(options.entryPoint)) !== 'file') {
    throw new PackError(`--entry-point ${options.entryPoint} is not a file`);
  }
  const staging = await mkdtemp(join(tmpdir(), 'switchyard-pack-'));
  try {
    await placeModel(resolve(options.model), staging);
    const top = await readdir(staging);
    if (!top.some((name) => name.endsWith('.onnx'))) {
      throw new PackError(`no .onnx file at the top of ${options.model}`);
    }
    const code = join(staging, 'code');
    await mkdir(code, { recursive: true });
    if (options.sourceDir !== undefined) {
      if ((await kind(options.sourceDir)) !== 'dir') {
        throw new PackError(`--source-dir ${options.sourceDir} is not a directory`);
      }
      await cp(options.sourceDir, code, {
        recursive: true,
        filter: (source) => !source.split(/[\\/]/).includes('node_modules'),
      });
    }
    const entry = join(code, `inference${ext}`);
    await cp(options.entryPoint, entry);
    await checkEntryPoint(entry);
    const files = (await readdir(staging, { recursive: true })).sort();
    await tar.c(
      { gzip: true, file: resolve(options.output), cwd: staging, portable: true },
      await readdir(staging),
    );
    return { files };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
