import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTarGz, type RawEntry } from '../../test/tar-writer.js';
import { UnsafeArchiveError, extractModelArchive } from './archive.js';
import { resolveModelSource } from './resolve-source.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'switchyard-source-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

async function archive(name: string, entries: RawEntry[]): Promise<string> {
  const file = join(work, name);
  await writeFile(file, makeTarGz(entries));
  return file;
}

describe('model.tar.gz extraction', () => {
  it('unpacks a SageMaker layout', async () => {
    const file = await archive('good.tar.gz', [
      { path: 'model.onnx', content: 'onnx bytes' },
      { path: 'code/', type: 'dir' },
      { path: 'code/inference.mjs', content: 'export const x = 1;' },
      { path: 'code/lib', type: 'symlink', link: '../model.onnx' },
    ]);
    const target = join(work, 'good');
    await extractModelArchive(file, target);
    expect(await readFile(join(target, 'code/inference.mjs'), 'utf8')).toBe('export const x = 1;');
    expect(await readFile(join(target, 'code/lib'), 'utf8')).toBe('onnx bytes');
  });

  it.each([
    ['traversal', [{ path: '../evil.txt', content: 'x' }], '"../evil.txt" climbs out with ".."'],
    ['nested traversal', [{ path: 'code/../../evil.txt', content: 'x' }], 'climbs out'],
    [
      'absolute path',
      [{ path: '/tmp/evil.txt', content: 'x' }],
      '"/tmp/evil.txt" is an absolute path',
    ],
    [
      'escaping symlink',
      [{ path: 'up', type: 'symlink', link: '../../etc' }],
      '"up" links to "../../etc", outside',
    ],
    [
      'absolute symlink',
      [{ path: 'passwd', type: 'symlink', link: '/etc/passwd' }],
      'outside the model directory',
    ],
    [
      'escaping hard link',
      [{ path: 'h', type: 'hardlink', link: '../outside' }],
      '"h" links to "../outside"',
    ],
  ] satisfies [string, RawEntry[], string][])(
    'refuses %s, writing nothing',
    async (name, entries, message) => {
      const file = await archive(`${name.replace(/ /g, '-')}.tar.gz`, [
        { path: 'model.onnx', content: 'ok' },
        ...entries,
      ]);
      const target = join(work, `bad-${name.replace(/ /g, '-')}`);
      const failure = extractModelArchive(file, target);
      await expect(failure).rejects.toBeInstanceOf(UnsafeArchiveError);
      await expect(failure).rejects.toThrow(message);
      expect(await readdir(target)).toEqual([]);
    },
  );
});

describe('resolveModelSource', () => {
  let s3: Server;
  let endpoint: string;
  const objects = new Map<string, Uint8Array>();
  const requests: string[] = [];

  beforeAll(async () => {
    // The slice of the S3 REST API a GetObject needs, path-style: GET /bucket/key.
    s3 = createServer((req, res) => {
      requests.push(`${req.method ?? ''} ${req.url ?? ''}`);
      const body = objects.get(decodeURIComponent((req.url ?? '').split('?')[0] ?? ''));
      if (req.method !== 'GET' || body === undefined) {
        res.writeHead(404, { 'Content-Type': 'application/xml' });
        res.end(
          '<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>',
        );
        return;
      }
      res.writeHead(200, {
        'Content-Type': 'application/gzip',
        'Content-Length': body.length,
        ETag: '"v1"',
      });
      res.end(body);
    });
    await new Promise<void>((r) => s3.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(s3.address() as AddressInfo).port}`;
    process.env['AWS_ACCESS_KEY_ID'] ??= 'test';
    process.env['AWS_SECRET_ACCESS_KEY'] ??= 'test';
  });
  afterAll(
    () =>
      new Promise<void>((r) => {
        s3.close(() => {
          r();
        });
      }),
  );

  it('uses a directory as it is', async () => {
    expect(await resolveModelSource(work)).toBe(work);
  });

  it('unpacks a local archive once into the cache', async () => {
    const file = await archive('cached.tar.gz', [{ path: 'model.onnx', content: 'v1' }]);
    const cacheDir = join(work, 'cache-local');
    const dir = await resolveModelSource(file, { cacheDir });
    expect(await readFile(join(dir, 'model.onnx'), 'utf8')).toBe('v1');
    expect(await resolveModelSource(file, { cacheDir })).toBe(dir);
  });

  it('downloads s3://bucket/key through the AWS SDK from a configured endpoint', async () => {
    objects.set(
      '/models/iris/model.tar.gz',
      makeTarGz([{ path: 'model.onnx', content: 'from s3' }]),
    );
    const dir = await resolveModelSource('s3://models/iris/model.tar.gz', {
      cacheDir: join(work, 'cache-s3'),
      s3Endpoint: endpoint,
    });
    expect(await readFile(join(dir, 'model.onnx'), 'utf8')).toBe('from s3');
    expect(requests).toContain('GET /models/iris/model.tar.gz?x-id=GetObject');
  });

  it('says which S3 object could not be fetched', async () => {
    await expect(
      resolveModelSource('s3://models/missing.tar.gz', {
        cacheDir: join(work, 'cache-s3'),
        s3Endpoint: endpoint,
      }),
    ).rejects.toThrow(
      /cannot fetch model s3:\/\/models\/missing.tar.gz: .*(NoSuchKey|does not exist)/,
    );
  });

  it('refuses a source that is neither a directory nor an archive', async () => {
    const file = join(work, 'model.zip');
    await writeFile(file, 'x');
    await expect(resolveModelSource(file)).rejects.toThrow(
      'neither a directory nor a .tar.gz archive',
    );
    await expect(resolveModelSource(join(work, 'nope'))).rejects.toThrow('does not exist');
  });
});
