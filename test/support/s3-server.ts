import { createHash, randomUUID } from 'node:crypto';
import { createServer, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

interface StoredObject {
  body: Buffer;
  contentType: string | undefined;
  etag: string;
  /** Byte sizes of the parts it was assembled from; `undefined` for a PutObject. */
  parts: number[] | undefined;
}

export interface S3Server {
  readonly url: string;
  /** Objects by `/bucket/key`. */
  readonly objects: Map<string, StoredObject>;
  /** Multipart uploads begun and neither completed nor aborted, by upload id. */
  readonly uploads: ReadonlyMap<string, { path: string }>;
  close(): Promise<void>;
}

interface PendingUpload {
  path: string;
  contentType: string | undefined;
  parts: Map<number, { body: Buffer; etag: string }>;
}

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const MIN_PART_SIZE = 5 * 1024 * 1024;

const md5 = (bytes: Buffer) => createHash('md5').update(bytes).digest();
const xmlText = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const xmlUnescape = (text: string) =>
  text
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

function sendXml(res: ServerResponse, status: number, body: string) {
  res.writeHead(status, { 'Content-Type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
}

function sendError(res: ServerResponse, status: number, code: string, message: string) {
  sendXml(res, status, `<Error><Code>${code}</Code><Message>${xmlText(message)}</Message></Error>`);
}

/** `/bucket/key` as its bucket and key. */
function split(path: string): { bucket: string; key: string } {
  const slash = path.indexOf('/', 1);
  return { bucket: path.slice(1, slash), key: path.slice(slash + 1) };
}

/** The `<Part>`s of a CompleteMultipartUpload body, in the order listed. */
function listedParts(xml: string): { partNumber: number; etag: string }[] {
  return [...xml.matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map((match) => {
    const part = match[1] ?? '';
    return {
      partNumber: Number(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(part)?.[1] ?? NaN),
      etag: xmlUnescape(/<ETag>([\s\S]*?)<\/ETag>/.exec(part)?.[1] ?? '').trim(),
    };
  });
}

/**
 * The slice of the S3 REST API an object store needs, path-style: PutObject,
 * GetObject, HeadObject, DeleteObject, with S3's XML error for a missing key; and
 * multipart uploads (CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
 * AbortMultipartUpload) with S3's checks on completion: parts listed in ascending
 * order, each uploaded with the ETag given, all but the last at least 5 MiB.
 */
export async function startS3Server(): Promise<S3Server> {
  const objects = new Map<string, StoredObject>();
  const uploads = new Map<string, PendingUpload>();
  const server: Server = createServer((req, res) => {
    const [rawPath = '', search = ''] = (req.url ?? '').split('?', 2);
    const path = decodeURIComponent(rawPath);
    const query = new URLSearchParams(search);
    const uploadId = query.get('uploadId');
    const upload = uploadId === null ? undefined : uploads.get(uploadId);
    const type = req.headers['content-type'];
    const contentType = typeof type === 'string' ? type : undefined;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const object = objects.get(path);
      const body = Buffer.concat(chunks);
      if (uploadId !== null && (upload === undefined || upload.path !== path)) {
        sendError(
          res,
          404,
          'NoSuchUpload',
          'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
        );
        return;
      }
      switch (req.method ?? '') {
        case 'POST': {
          if (query.has('uploads')) {
            const id = randomUUID();
            uploads.set(id, { path, contentType, parts: new Map() });
            const { bucket, key } = split(path);
            sendXml(
              res,
              200,
              `<InitiateMultipartUploadResult xmlns="${XMLNS}"><Bucket>${xmlText(bucket)}</Bucket><Key>${xmlText(key)}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`,
            );
            return;
          }
          if (upload === undefined || uploadId === null) break;
          const listed = listedParts(body.toString('utf8'));
          if (listed.length === 0) {
            sendError(res, 400, 'MalformedXML', 'The XML you provided was not well-formed.');
            return;
          }
          if (
            listed.some((part, i) => i > 0 && part.partNumber <= (listed[i - 1]?.partNumber ?? 0))
          ) {
            sendError(
              res,
              400,
              'InvalidPartOrder',
              'The list of parts was not in ascending order.',
            );
            return;
          }
          const parts = listed.map(({ partNumber, etag }) => {
            const part = upload.parts.get(partNumber);
            return part !== undefined && part.etag === etag ? part : undefined;
          });
          if (parts.includes(undefined)) {
            sendError(
              res,
              400,
              'InvalidPart',
              'One or more of the specified parts could not be found, or its entity tag did not match.',
            );
            return;
          }
          const found = parts.filter((part) => part !== undefined);
          if (found.slice(0, -1).some((part) => part.body.length < MIN_PART_SIZE)) {
            sendError(
              res,
              400,
              'EntityTooSmall',
              'Your proposed upload is smaller than the minimum allowed object size.',
            );
            return;
          }
          // S3's multipart ETag: the MD5 of the parts' MD5s, then "-" and the count.
          const digest = createHash('md5')
            .update(Buffer.concat(found.map((part) => md5(part.body))))
            .digest('hex');
          const etag = `"${digest}-${found.length}"`;
          objects.set(path, {
            body: Buffer.concat(found.map((part) => part.body)),
            contentType: upload.contentType,
            etag,
            parts: found.map((part) => part.body.length),
          });
          uploads.delete(uploadId);
          const { bucket, key } = split(path);
          sendXml(
            res,
            200,
            `<CompleteMultipartUploadResult xmlns="${XMLNS}"><Location>${xmlText(`http://${req.headers.host ?? ''}${rawPath}`)}</Location><Bucket>${xmlText(bucket)}</Bucket><Key>${xmlText(key)}</Key><ETag>${xmlText(etag)}</ETag></CompleteMultipartUploadResult>`,
          );
          return;
        }
        case 'PUT': {
          if (upload !== undefined) {
            const partNumber = Number(query.get('partNumber'));
            if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000) {
              sendError(
                res,
                400,
                'InvalidArgument',
                'Part number must be an integer between 1 and 10000, inclusive.',
              );
              return;
            }
            const etag = `"${md5(body).toString('hex')}"`;
            upload.parts.set(partNumber, { body, etag });
            res.writeHead(200, { ETag: etag });
            res.end();
            return;
          }
          const etag = `"${md5(body).toString('hex')}"`;
          objects.set(path, { body, contentType, etag, parts: undefined });
          res.writeHead(200, { ETag: etag });
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
            ETag: object.etag,
          });
          res.end(req.method === 'HEAD' ? undefined : object.body);
          return;
        }
        case 'DELETE':
          if (uploadId !== null) uploads.delete(uploadId);
          else objects.delete(path);
          res.writeHead(204);
          res.end();
          return;
      }
      res.writeHead(405);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    objects,
    uploads,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
}
