import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { extractModelArchive } from './archive.js';

export interface ModelSourceOptions {
  /**
   * Where archives are downloaded and unpacked.
   * @defaultValue `<os tmpdir>/switchyard-models`
   */
  cacheDir?: string;
  /** S3 endpoint for `s3://` sources (an S3-compatible store); the SDK's default otherwise. */
  s3Endpoint?: string;
  /** @defaultValue the SDK's region resolution, else `us-east-1` */
  s3Region?: string;
}

const ARCHIVE = /\.(tar\.gz|tgz|tar)$/;

/**
 * Turn a model source (a path, a `file://` URL or `s3://bucket/key`) into a
 * directory in SageMaker's layout: a directory is used
 * as it is; a `model.tar.gz` (local or `s3://bucket/key`) is downloaded and
 * unpacked safely into the cache, once per distinct archive.
 *
 * @example
 * ```ts
 * const dir = await resolveModelSource('s3://models/iris/model.tar.gz', { s3Endpoint: 'http://127.0.0.1:9000' });
 * ```
 */
export async function resolveModelSource(
  source: string,
  options: ModelSourceOptions = {},
): Promise<string> {
  const cacheDir = options.cacheDir ?? join(tmpdir(), 'switchyard-models');
  if (source.startsWith('s3://')) {
    // The downloaded file's name carries the object's ETag: a new upload unpacks anew.
    const archive = await downloadFromS3(source, cacheDir, options);
    return unpackOnce(archive, cacheDir, archive);
  }
  const path = source.startsWith('file://') ? fileURLToPath(source) : resolve(source);
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) throw new Error(`model source ${source} does not exist`);
  if (info.isDirectory()) return path;
  if (!ARCHIVE.test(path)) {
    throw new Error(`model source ${source} is neither a directory nor a .tar.gz archive`);
  }
  return unpackOnce(path, cacheDir, `${path}@${info.mtimeMs}:${info.size}`);
}

async function unpackOnce(archive: string, cacheDir: string, identity: string): Promise<string> {
  const target = join(cacheDir, createHash('sha256').update(identity).digest('hex').slice(0, 16));
  if (await stat(target).catch(() => undefined)) return target;
  // Unpack beside the target, then rename: a half-unpacked model is never used.
  const partial = `${target}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  try {
    await extractModelArchive(archive, partial);
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw error;
  }
  return target;
}

async function downloadFromS3(
  source: string,
  cacheDir: string,
  options: ModelSourceOptions,
): Promise<string> {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(source);
  if (match === null) throw new Error(`invalid S3 source ${source}: expected s3://bucket/key`);
  const [, bucket = '', key = ''] = match;
  const client = new S3Client({
    region: options.s3Region ?? process.env['AWS_REGION'] ?? 'us-east-1',
    ...(options.s3Endpoint === undefined
      ? {}
      : { endpoint: options.s3Endpoint, forcePathStyle: true }),
  });
  try {
    const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    if (object.Body === undefined) throw new Error(`S3 object ${source} has no body`);
    await mkdir(cacheDir, { recursive: true });
    const file = join(
      cacheDir,
      `${createHash('sha256')
        .update(`${source}@${object.ETag ?? ''}`)
        .digest('hex')
        .slice(0, 16)}.tar.gz`,
    );
    await pipeline(object.Body as Readable, createWriteStream(file));
    return file;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot fetch model ${source}: ${message}`, { cause: error });
  } finally {
    client.destroy();
  }
}
