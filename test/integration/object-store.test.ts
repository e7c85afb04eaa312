import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createObjectStore, type ObjectStore } from '@switchyard/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3Server, type S3Server } from '../support/s3-server.js';

let dir: string;
let s3: S3Server;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-store-'));
  s3 = await startS3Server();
  process.env['AWS_ACCESS_KEY_ID'] ??= 'test';
  process.env['AWS_SECRET_ACCESS_KEY'] ??= 'test';
});
afterAll(async () => {
  await s3.close();
  await rm(dir, { recursive: true, force: true });
});

// One suite, two stores: the same code path above the store for both.
describe.each([
  ['filesystem', () => createObjectStore(dir)],
  [
    'S3 (local S3-compatible server)',
    () => createObjectStore('s3://jobs/switchyard', { s3Endpoint: s3.url }),
  ],
])('object store: %s', (kind, make: () => ObjectStore) => {
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

  it('writes, reads, describes and deletes objects', async () => {
    const store = make();
    await store.put('async/a1/output', new TextEncoder().encode('[[1, 2]]'), 'application/json');
    expect(text(await store.getBytes('async/a1/output'))).toBe('[[1, 2]]');
    expect(await store.head('async/a1/output')).toEqual({
      size: 8,
      contentType: 'application/json',
    });
    await store.delete('async/a1/output');
    expect(await store.head('async/a1/output')).toBeUndefined();
  });

  it('takes a stream and gives one back', async () => {
    const store = make();
    const lines = Array.from({ length: 1000 }, (_, i) => `{"i": ${i}}\n`);
    await store.put('batch/b1/input.jsonl', Readable.from(lines), 'application/jsonlines');
    const back = Buffer.concat(
      await (await store.get('batch/b1/input.jsonl')).toArray(),
    ).toString();
    expect(back).toBe(lines.join(''));
  });

  it('answers NOT_FOUND for a missing object and refuses keys that climb out', async () => {
    const store = make();
    await expect(store.getBytes('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(store.get('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(store.put('../escape', new Uint8Array())).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
    await expect(store.put('/abs', new Uint8Array())).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
  });

  it('says where an object is', () => {
    const where = make().locate('batch/b1/output.jsonl');
    expect(where).toBe(
      kind === 'filesystem'
        ? `file://${join(dir, 'batch/b1/output.jsonl')}`
        : 's3://jobs/switchyard/batch/b1/output.jsonl',
    );
  });
});

describe('object store: S3, large streams', () => {
  const MiB = 1024 * 1024;
  const store = () => createObjectStore('s3://jobs/switchyard', { s3Endpoint: s3.url });

  /** `total` random bytes in uneven chunks, hashed as they are made. */
  function generated(total: number, fail?: Error) {
    const hash = createHash('sha256');
    function* chunks() {
      for (let sent = 0; sent < total;) {
        const chunk = randomBytes(Math.min(64 * 1024 + 7, total - sent));
        hash.update(chunk);
        sent += chunk.length;
        yield chunk;
      }
      if (fail !== undefined) throw fail;
    }
    return { stream: Readable.from(chunks()), sha256: () => hash.digest('hex') };
  }

  it('uploads a 20 MiB stream in parts and gives back the same bytes', async () => {
    const body = generated(20 * MiB);
    await store().put('batch/big/input.jsonl', body.stream, 'application/jsonlines');

    const back = createHash('sha256');
    for await (const chunk of await store().get('batch/big/input.jsonl'))
      back.update(chunk as Buffer);
    expect(back.digest('hex')).toBe(body.sha256());
    expect(await store().head('batch/big/input.jsonl')).toEqual({
      size: 20 * MiB,
      contentType: 'application/jsonlines',
    });

    // It went up as a multipart upload, in parts far smaller than the body.
    const parts = s3.objects.get('/jobs/switchyard/batch/big/input.jsonl')?.parts ?? [];
    expect(parts.length).toBeGreaterThan(1);
    expect(Math.max(...parts)).toBeLessThanOrEqual(8 * MiB);
    expect(s3.uploads.size).toBe(0);
  });

  it('leaves no object and no open upload when the stream fails part way', async () => {
    const body = generated(12 * MiB, new Error('source went away'));
    await expect(store().put('batch/broken/input.jsonl', body.stream)).rejects.toThrow(
      'source went away',
    );
    expect(await store().head('batch/broken/input.jsonl')).toBeUndefined();
    expect(s3.uploads.size).toBe(0);
  });
});
