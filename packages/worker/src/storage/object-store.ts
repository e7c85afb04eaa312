import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  NotFound,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { InferenceError } from '@switchyard/handlers';

/**
 * Where async and batch inputs and outputs live. Callers see keys like
 * `batch/<id>/output.jsonl`; the store decides where the bytes go.
 */
export interface ObjectStore {
  /** Write an object whole (bytes, or a stream of known or unknown length). */
  put(key: string, body: Uint8Array | Readable, contentType?: string): Promise<void>;
  /** The object's bytes as a stream; NOT_FOUND when it does not exist. */
  get(key: string): Promise<Readable>;
  getBytes(key: string): Promise<Uint8Array>;
  /** Size and type, or `undefined` when the object does not exist. */
  head(key: string): Promise<{ size: number; contentType: string | undefined } | undefined>;
  delete(key: string): Promise<void>;
  /** Where a client can be told the object is (`file://…` or `s3://bucket/key`). */
  locate(key: string): string;
  /** The key of a location `locate` gives, or `undefined` for one outside this store. */
  keyOf(location: string): string | undefined;
}

/** `key` if it is a valid key, else `undefined`. */
function validKey(key: string): string | undefined {
  try {
    return checkKey(key);
  } catch {
    return undefined;
  }
}

export interface ObjectStoreOptions {
  /** Endpoint of an S3-compatible store (path-style addressing). */
  s3Endpoint?: string | undefined;
  /** @defaultValue `AWS_REGION`, else `us-east-1` */
  s3Region?: string | undefined;
}

function checkKey(key: string): string {
  if (
    key === '' ||
    key.startsWith('/') ||
    key.split('/').some((part) => part === '..' || part === '')
  ) {
    throw new InferenceError('INVALID_INPUT', `invalid object key "${key}"`);
  }
  return key;
}

/** A stream's chunks (bytes or text) as one buffer. */
async function gather(stream: Readable): Promise<Buffer> {
  const chunks = (await stream.toArray()) as (Uint8Array | string)[];
  return Buffer.concat(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)));
}

const notFound = (where: string) => new InferenceError('NOT_FOUND', `no object at ${where}`);

/** Objects as files under a root directory; writes land whole (temp file, then rename). */
function filesystemStore(root: string): ObjectStore {
  const path = (key: string) => {
    const full = resolve(root, checkKey(key));
    if (!full.startsWith(resolve(root) + sep))
      throw new InferenceError('INVALID_INPUT', `invalid object key "${key}"`);
    return full;
  };
  const typeFile = (file: string) => `${file}.content-type`;
  return {
    async put(key, body, contentType) {
      const file = path(key);
      await mkdir(dirname(file), { recursive: true });
      const partial = `${file}.partial-${process.pid}-${Date.now()}`;
      try {
        if (body instanceof Readable) await pipeline(body, createWriteStream(partial));
        else await writeFile(partial, body);
      } catch (error) {
        // A failed upload (too large, cut off) leaves nothing behind.
        await rm(partial, { force: true });
        throw error;
      }
      if (contentType !== undefined) await writeFile(typeFile(file), contentType);
      await rename(partial, file);
    },
    async get(key) {
      const file = path(key);
      if ((await stat(file).catch(() => undefined))?.isFile() !== true) {
        throw notFound(this.locate(key));
      }
      return createReadStream(file);
    },
    async getBytes(key) {
      try {
        return new Uint8Array(await readFile(path(key)));
      } catch {
        throw notFound(this.locate(key));
      }
    },
    async head(key) {
      const file = path(key);
      const info = await stat(file).catch(() => undefined);
      // A folder of the store is not an object.
      if (info === undefined || !info.isFile()) return undefined;
      const contentType = await readFile(typeFile(file), 'utf8').catch(() => undefined);
      return { size: info.size, contentType };
    },
    async delete(key) {
      const file = path(key);
      await rm(file, { force: true });
      await rm(typeFile(file), { force: true });
    },
    locate: (key) => pathToFileURL(path(key)).href,
    keyOf(location) {
      if (!location.startsWith('file://')) return undefined;
      const base = resolve(root) + sep;
      const full = resolve(fileURLToPath(location));
      return full.startsWith(base)
        ? validKey(full.slice(base.length).split(sep).join('/'))
        : undefined;
    },
  };
}

/** Objects in an S3 bucket under a prefix, through `@aws-sdk/client-s3`. */
function s3Store(bucket: string, prefix: string, options: ObjectStoreOptions): ObjectStore {
  const client = new S3Client({
    region: options.s3Region ?? process.env['AWS_REGION'] ?? 'us-east-1',
    // Plain bodies with a content length: what every S3-compatible store accepts
    // (the SDK's default trailing checksums use aws-chunked encoding).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(options.s3Endpoint === undefined
      ? {}
      : { endpoint: options.s3Endpoint, forcePathStyle: true }),
  });
  const keyOf = (key: string) => (prefix === '' ? checkKey(key) : `${prefix}/${checkKey(key)}`);
  const missing = (error: unknown) => error instanceof NoSuchKey || error instanceof NotFound;
  return {
    async put(key, body, contentType) {
      const params = {
        Bucket: bucket,
        Key: keyOf(key),
        ...(contentType === undefined ? {} : { ContentType: contentType }),
      };
      if (!(body instanceof Readable)) {
        await client.send(
          new PutObjectCommand({ ...params, Body: body, ContentLength: body.byteLength }),
        );
        return;
      }
      // A stream of unknown length goes up in 8 MiB parts (a multipart upload; one
      // PutObject when it ends within the first part), so at most about
      // queueSize + 1 parts are held in memory, not the whole body. On failure the
      // upload is aborted: no object, no orphaned parts.
      await new Upload({
        client,
        params: { ...params, Body: body },
        partSize: 8 * 1024 * 1024,
        queueSize: 2,
      }).done();
    },
    async get(key) {
      try {
        const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: keyOf(key) }));
        return object.Body as Readable;
      } catch (error) {
        if (missing(error)) throw notFound(this.locate(key));
        throw error;
      }
    },
    async getBytes(key) {
      return new Uint8Array(await gather(await this.get(key)));
    },
    async head(key) {
      try {
        const object = await client.send(
          new HeadObjectCommand({ Bucket: bucket, Key: keyOf(key) }),
        );
        return { size: object.ContentLength ?? 0, contentType: object.ContentType };
      } catch (error) {
        if (missing(error)) return undefined;
        throw error;
      }
    },
    async delete(key) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: keyOf(key) }));
    },
    locate: (key) => `s3://${bucket}/${keyOf(key)}`,
    keyOf(location) {
      const base = `s3://${bucket}/${prefix === '' ? '' : `${prefix}/`}`;
      return location.startsWith(base) ? validKey(location.slice(base.length)) : undefined;
    },
  };
}

/**
 * An object store from a URL: `s3://bucket/prefix` for S3 (or an S3-compatible
 * endpoint), `file:///dir` or a plain path for the local filesystem.
 *
 * @example
 * ```ts
 * const store = createObjectStore(process.env.SWITCHYARD_STORAGE ?? './data');
 * await store.put('async/abc/output', body, 'application/json');
 * ```
 */
export function createObjectStore(url: string, options: ObjectStoreOptions = {}): ObjectStore {
  const s3 = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (s3 !== null) return s3Store(s3[1] ?? '', (s3[2] ?? '').replace(/\/+$/, ''), options);
  return filesystemStore(url.startsWith('file://') ? fileURLToPath(url) : resolve(url));
}
