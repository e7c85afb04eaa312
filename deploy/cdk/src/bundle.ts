import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The repository root, from this file in `src/` or `dist/`. */
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The Lambda handler inside a bundle (`dist/lambda.js`, export `handler`). */
export const BUNDLE_HANDLER = 'dist/lambda.handler';

/** Lambda's limit on a function's code, unzipped. */
export const LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024;

/** Processor architectures Lambda offers, as Node names them. */
export type BundleArch = 'x64' | 'arm64';

export interface BundleOptions {
  /** Directory to write; it must not exist, be empty, or hold an earlier bundle. */
  readonly outDir: string;
  /** The Lambda function's architecture. @defaultValue `x64` */
  readonly arch?: BundleArch;
  /** The pnpm executable. @defaultValue `pnpm` on the PATH */
  readonly pnpm?: string;
}

export interface GatewayBundle {
  readonly dir: string;
  /** Bytes of all files, as Lambda counts them against its unzipped limit. */
  readonly bytes: number;
  readonly handler: typeof BUNDLE_HANDLER;
}

async function walk(dir: string, visit: (path: string, isDir: boolean) => Promise<boolean>) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const descend = await visit(path, entry.isDirectory());
    if (descend && entry.isDirectory()) await walk(path, visit);
  }
}

async function clearOutDir(outDir: string): Promise<void> {
  if (!existsSync(outDir)) return;
  const entries = await readdir(outDir);
  if (entries.length > 0 && !existsSync(join(outDir, 'dist', 'lambda.js'))) {
    throw new Error(
      `${outDir} is not empty and does not hold an earlier gateway bundle; pick another directory`,
    );
  }
  await rm(outDir, { recursive: true, force: true });
}

/**
 * Drops what Lambda cannot use: `.bin` links, and onnxruntime-node's native
 * libraries for other systems (about 240 of its 290 MB). The gateway on Lambda
 * reaches models through SageMaker or queues; onnxruntime is loaded only for an
 * embedded (`local`) backend.
 */
async function prune(dir: string, arch: BundleArch): Promise<void> {
  await rm(join(dir, 'pnpm-lock.yaml'), { force: true });
  await rm(join(dir, 'pnpm-workspace.yaml'), { force: true });
  await walk(join(dir, 'node_modules'), async (path, isDir) => {
    if (!isDir) return false;
    if (path.endsWith('/.bin')) {
      await rm(path, { recursive: true, force: true });
      return false;
    }
    if (path.endsWith('/onnxruntime-node/bin')) {
      await walk(path, async (napi, napiIsDir) => {
        if (!napiIsDir) return false;
        for (const platform of await readdir(napi)) {
          const keep = platform === 'linux' && existsSync(join(napi, platform, arch));
          if (!keep) {
            await rm(join(napi, platform), { recursive: true, force: true });
            continue;
          }
          for (const cpu of await readdir(join(napi, platform))) {
            if (cpu !== arch) await rm(join(napi, platform, cpu), { recursive: true, force: true });
          }
        }
        return false;
      });
      return false;
    }
    return true;
  });
}

/** Total bytes of the files under `dir`; throws on a symbolic link (Lambda's zip keeps none). */
async function measure(dir: string): Promise<number> {
  let bytes = 0;
  await walk(dir, async (path, isDir) => {
    const stat = await lstat(path);
    if (stat.isSymbolicLink()) throw new Error(`the bundle holds a symbolic link: ${path}`);
    if (!isDir) bytes += stat.size;
    return isDir;
  });
  return bytes;
}

/**
 * Writes the gateway for Lambda: `dist/` (handler {@link BUNDLE_HANDLER}), its
 * production `node_modules` as plain directories (`pnpm deploy --prod` with a
 * hoisted layout, workspace packages copied in with their `dist/`) and the
 * `package.json` that makes `.js` files ES modules. Needs `pnpm build` first.
 */
export async function bundleGateway(options: BundleOptions): Promise<GatewayBundle> {
  const outDir = resolve(options.outDir);
  const arch = options.arch ?? 'x64';
  if (!existsSync(join(REPO_ROOT, 'packages', 'gateway', 'dist', 'lambda.js'))) {
    throw new Error('the gateway is not built: run `pnpm build` at the repository root first');
  }
  await clearOutDir(outDir);
  await run(
    options.pnpm ?? 'pnpm',
    ['--config.node-linker=hoisted', '--filter', '@switchyard/gateway', 'deploy', '--prod', outDir],
    {
      cwd: REPO_ROOT,
      // onnxruntime-node's install script only downloads CUDA libraries.
      env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  await prune(outDir, arch);
  const bytes = await measure(outDir);
  if (bytes > LAMBDA_UNZIPPED_LIMIT_BYTES) {
    const mb = (n: number) => (n / 1024 / 1024).toFixed(0);
    throw new Error(
      `the bundle is ${mb(bytes)} MB unzipped, over Lambda's ${mb(LAMBDA_UNZIPPED_LIMIT_BYTES)} MB`,
    );
  }
  return { dir: outDir, bytes, handler: BUNDLE_HANDLER };
}
