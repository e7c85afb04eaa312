import { execFile } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { HandlerLogger } from '@switchyard/handlers';

const run = promisify(execFile);

/** Dependencies declared by `code/package.json` that `code/node_modules` lacks. */
async function missingDependencies(codeDir: string): Promise<string[]> {
  let manifest: { dependencies?: Record<string, string> };
  try {
    manifest = JSON.parse(await readFile(join(codeDir, 'package.json'), 'utf8')) as typeof manifest;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`code/package.json is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const missing: string[] = [];
  for (const name of Object.keys(manifest.dependencies ?? {})) {
    try {
      await access(join(codeDir, 'node_modules', name, 'package.json'));
    } catch {
      missing.push(name);
    }
  }
  return missing;
}

/**
 * Install what `code/package.json` declares and `code/node_modules` lacks, as
 * SageMaker installs `code/requirements.txt` at start-up. With `install` false a
 * missing dependency is an error naming it, not a crash at the first import.
 */
export async function ensureCodeDependencies(
  modelDir: string,
  options: { install: boolean; logger: HandlerLogger },
): Promise<void> {
  const codeDir = join(modelDir, 'code');
  const missing = await missingDependencies(codeDir);
  if (missing.length === 0) return;
  if (!options.install) {
    throw new Error(
      `code/package.json declares ${missing.join(', ')}, which ${missing.length === 1 ? 'is' : 'are'} not installed in code/node_modules; ` +
        'install them into the model (npm install in code/) or allow installing at load',
    );
  }
  options.logger.info({ missing }, 'installing code/package.json dependencies');
  try {
    await run('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', '--no-package-lock'], {
      cwd: codeDir,
      timeout: 300_000,
    });
  } catch (error) {
    const { stderr = '', message } = error as { stderr?: string; message: string };
    const tail = stderr.trim().split('\n').slice(-5).join('\n') || message;
    throw new Error(`npm install in the model's code/ failed:\n${tail}`, { cause: error });
  }
  const stillMissing = await missingDependencies(codeDir);
  if (stillMissing.length > 0)
    throw new Error(`npm install did not install ${stillMissing.join(', ')}`);
}
