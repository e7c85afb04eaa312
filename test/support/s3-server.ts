import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface S3Server {
  readonly url: string;
  /** Objects by `/bucket/key`. */
  readonly objects: Map<string, { body: Buffer; contentType: string | undefined }>;
  close(): Promise<void>;
}

/**
 * The slice of the S3 REST API an object store needs, path-style: PutObject,
 * GetObject, HeadObject, DeleteObject, with S3's XML error for a missing key.
 */
export async function startS3Server(): Promise<S3Server> {
  const objects = new Map<string, { body: Buffer; contentType: string | undefined }>();
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '').split('?')[0] ?? '');
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const object = objects.get(path);
      const etag = (body: Buffer) => `"${createHash('md5').update(body).digest('hex')}"`;
      switch (req.method ?? '') {
        case 'PUT': {
          const body = Buffer.concat(chunks);
          const type = req.headers['content-type'];
          objects.set(path, { body, contentType: typeof type === 'string' ? type : undefined });
          res.writeHead(200, { ETag: etag(body) });
          res.end();
          return;
        }
        case 'GET':
        case 'HEAD': {
          if (object === undefined) {
            res.writeHead(404, { 'Content-Type': 'application/xml' });
            res.end(
              req.method === 'HEAD'
                ? undefined
                : '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>',
            );
            return;
          }
          res.writeHead(200, {
            'Content-Length': object.body.length,
            'Content-Type': object.contentType ?? 'binary/octet-stream',
            ETag: etag(object.body),
          });
          res.end(req.method === 'HEAD' ? undefined : object.body);
          return;
        }
        case 'DELETE':
          objects.delete(path);
          res.writeHead(204);
          res.end();
          return;
        default:
          res.writeHead(405);
          res.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    objects,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
}
