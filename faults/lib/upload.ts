import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { classify, type AnswerCheck, type Verdict } from './load.js';

export interface TrickleOptions {
  readonly headers: OutgoingHttpHeaders;
  /** The body, sent `chunkBytes` at a time with `gapMs` between pieces. */
  readonly body: Uint8Array;
  readonly chunkBytes: number;
  readonly gapMs: number;
  /** Stop sending after this many bytes and keep the connection open (a stalled upload). */
  readonly stallAfterBytes?: number;
  /** Send the body forever, one piece per gap (it never ends). */
  readonly endless?: boolean;
  readonly timeoutMs: number;
  readonly check: AnswerCheck;
}

/**
 * A client that uploads its body slowly over one plain HTTP/1.1 connection, and
 * classifies what the server answers (or that it answers nothing in time). An
 * answer that comes while the body is still going counts (a 413 or 408 does).
 */
export function trickle(url: string, options: TrickleOptions): Promise<Verdict> {
  return new Promise((resolve) => {
    let settled = false;
    let pump: NodeJS.Timeout | undefined;
    const settle = (verdict: Verdict): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(pump);
      req.destroy();
      resolve(verdict);
    };
    const target = new URL(url);
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: 'POST',
        headers: { ...options.headers, Connection: 'close' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', () => undefined);
        res.on('end', () => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (typeof value === 'string') headers.set(name, value);
          }
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 599) {
            settle({ kind: 'lost', label: `status ${status}`, detail: '' });
            return;
          }
          void classify(
            new Response(status === 204 ? null : Buffer.concat(chunks), { status, headers }),
            options.check,
          ).then(settle);
        });
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      settle({
        kind: 'lost',
        label: `no answer: ${error.code ?? error.name}`,
        detail: error.message,
      });
    });
    const timer = setTimeout(() => {
      settle({
        kind: 'lost',
        label: `no answer within ${options.timeoutMs} ms`,
        detail: 'upload held open',
      });
    }, options.timeoutMs);
    let sent = 0;
    const next = (): void => {
      if (settled) return;
      const limit = options.stallAfterBytes ?? Infinity;
      if (sent >= limit) return; // stalled: the connection stays open, nothing more comes
      if (sent >= options.body.length) {
        if (options.endless === true) sent = 0;
        else {
          req.end();
          return;
        }
      }
      const piece = options.body.subarray(sent, Math.min(sent + options.chunkBytes, limit));
      sent += piece.length;
      req.write(piece);
      pump = setTimeout(next, options.gapMs);
    };
    next();
  });
}
