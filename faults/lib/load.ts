/**
 * Load for fault scenarios: closed-loop clients that send requests throughout a
 * fault and classify every outcome as succeeded, failed with a clear error, or
 * lost (no answer, a hang past the deadline, a reset, a 5xx without a JSON error
 * body, or a wrong answer).
 */

/** How one request ended. */
export type Verdict =
  | { readonly kind: 'ok' }
  | { readonly kind: 'clear'; readonly label: string }
  | { readonly kind: 'lost'; readonly label: string; readonly detail: string };

/** One request, as sent and answered. */
export interface Sample {
  readonly sentAt: number;
  readonly answeredAt: number;
  readonly verdict: Verdict;
  /** Which client class sent it ("good", "junk", ...). */
  readonly tag: string;
}

export interface Counts {
  sent: number;
  succeeded: number;
  failedClear: number;
  lost: number;
}

/** `(body, contentType) → undefined` when the answer is right, else what is wrong. */
export type AnswerCheck = (body: Uint8Array, contentType: string) => string | undefined;

/** An error body as the gateway writes it: `{"error": {"code", "message"}}`. */
function errorCode(text: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const error: unknown = (parsed as { error?: unknown }).error;
    if (typeof error !== 'object' || error === null) return undefined;
    const { code, message } = error as { code?: unknown; message?: unknown };
    return typeof code === 'string' && typeof message === 'string' && message !== ''
      ? code
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Classify an HTTP answer. 200 must pass `check`; 4xx/5xx must carry a JSON error
 * body with a code and a message (503 and 429 are labelled with whether they
 * carried Retry-After). A 4xx without one is still a clear refusal (Node's own
 * 400/408/413 have no body) and is labelled "bare"; a 5xx without one is lost.
 */
export async function classify(response: Response, check: AnswerCheck): Promise<Verdict> {
  const body = new Uint8Array(await response.arrayBuffer());
  if (response.status === 200) {
    const wrong = check(body, response.headers.get('content-type') ?? '');
    return wrong === undefined
      ? { kind: 'ok' }
      : { kind: 'lost', label: 'wrong answer', detail: wrong };
  }
  const text = Buffer.from(body).toString('utf8');
  const code = errorCode(text);
  if (response.status >= 400 && code !== undefined) {
    const retry =
      response.status === 503 || response.status === 429
        ? response.headers.get('retry-after') === null
          ? ' (no Retry-After)'
          : ' (Retry-After)'
        : '';
    return { kind: 'clear', label: `${response.status} ${code}${retry}` };
  }
  if (response.status >= 400 && response.status < 500) {
    return { kind: 'clear', label: `${response.status} bare (no JSON error body)` };
  }
  return {
    kind: 'lost',
    label: `${response.status} without a JSON error body`,
    detail: text.slice(0, 200),
  };
}

/** A fetch failure: no answer at all. */
export function failure(error: unknown, timeoutMs: number): Verdict {
  const err = error as { name?: string; message?: string; cause?: { code?: string } };
  if (err.name === 'TimeoutError' || err.name === 'AbortError') {
    return {
      kind: 'lost',
      label: `no answer within ${timeoutMs} ms`,
      detail: err.message ?? '',
    };
  }
  const code = err.cause?.code ?? err.name ?? 'Error';
  return { kind: 'lost', label: `no answer: ${code}`, detail: err.message ?? String(error) };
}

/** `fetch` with a client deadline, classified. */
export async function request(
  url: string,
  init: RequestInit,
  timeoutMs: number,
  check: AnswerCheck,
): Promise<Verdict> {
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    return await classify(response, check);
  } catch (error) {
    return failure(error, timeoutMs);
  }
}

/** Every outcome of a scenario, with its time. */
export class Tally {
  readonly samples: Sample[] = [];
  readonly t0 = Date.now();

  add(sample: Sample): void {
    this.samples.push(sample);
  }

  counts(filter: (s: Sample) => boolean = () => true): Counts {
    const counts: Counts = { sent: 0, succeeded: 0, failedClear: 0, lost: 0 };
    for (const s of this.samples) {
      if (!filter(s)) continue;
      counts.sent++;
      if (s.verdict.kind === 'ok') counts.succeeded++;
      else if (s.verdict.kind === 'clear') counts.failedClear++;
      else counts.lost++;
    }
    return counts;
  }

  /** Outcomes by label: "200 OK", "503 UNAVAILABLE (Retry-After)", "no answer: ECONNRESET"... */
  byOutcome(filter: (s: Sample) => boolean = () => true): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.samples) {
      if (!filter(s)) continue;
      const label = s.verdict.kind === 'ok' ? '200 OK (right answer)' : s.verdict.label;
      out[label] = (out[label] ?? 0) + 1;
    }
    return out;
  }

  /** Up to `limit` lost requests, for the record. */
  lostExamples(limit = 5): { tag: string; at: number; label: string; detail: string }[] {
    return this.samples
      .filter((s) => s.verdict.kind === 'lost')
      .slice(0, limit)
      .map((s) => ({
        tag: s.tag,
        at: s.sentAt - this.t0,
        label: s.verdict.kind === 'lost' ? s.verdict.label : '',
        detail: s.verdict.kind === 'lost' ? s.verdict.detail : '',
      }));
  }

  /** The slowest answer among requests matching `filter`, in ms. */
  maxLatency(filter: (s: Sample) => boolean = () => true): number {
    let max = 0;
    for (const s of this.samples) if (filter(s)) max = Math.max(max, s.answeredAt - s.sentAt);
    return max;
  }

  /** The requests sent before `at` and answered after it: those in flight at that moment. */
  inFlightAt(at: number): Sample[] {
    return this.samples.filter((s) => s.sentAt < at && s.answeredAt > at);
  }

  /** The first request sent at or after `from` that succeeded, or undefined. */
  firstSuccessSentAfter(from: number, tag?: string): Sample | undefined {
    return this.samples
      .filter(
        (s) => s.sentAt >= from && s.verdict.kind === 'ok' && (tag === undefined || s.tag === tag),
      )
      .sort((a, b) => a.answeredAt - b.answeredAt)[0];
  }
}

export interface LoadOptions {
  /** Concurrent clients, each sending one request after another. */
  readonly clients: number;
  /** Tag of these clients' samples. */
  readonly tag?: string;
  /** Pause between a client's requests. @defaultValue 0 */
  readonly pauseMs?: number;
  /** One request: `i` counts this load's requests. */
  readonly send: (i: number) => Promise<Verdict>;
}

export interface Load {
  /** Stop sending; resolves once every client's last request has ended. */
  stop(): Promise<void>;
}

/** Start closed-loop clients that record into `tally` until stopped. */
export function startLoad(tally: Tally, options: LoadOptions): Load {
  let running = true;
  let next = 0;
  const tag = options.tag ?? 'load';
  const client = async (): Promise<void> => {
    while (running) {
      const i = next++;
      const sentAt = Date.now();
      const verdict = await options.send(i);
      tally.add({ sentAt, answeredAt: Date.now(), verdict, tag });
      if (options.pauseMs !== undefined && options.pauseMs > 0) await sleep(options.pauseMs);
    }
  };
  const clients = Array.from({ length: options.clients }, client);
  return {
    async stop() {
      running = false;
      await Promise.all(clients);
    },
  };
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `probe` until it is true; the time it took, or throws after `timeoutMs`. */
export async function waitUntil(
  what: string,
  probe: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 50,
): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await probe()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

/** JSON numbers equal within a relative tolerance (batched and single runs may round apart). */
function sameNumbers(a: unknown, b: unknown, tolerance = 1e-4): boolean {
  if (typeof a === 'number' && typeof b === 'number') {
    return Math.abs(a - b) <= tolerance * Math.max(1, Math.abs(a), Math.abs(b));
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => sameNumbers(x, b[i], tolerance));
  }
  return false;
}

/** A check that the answer is JSON equal (within tolerance) to `expected`. */
export function jsonAnswer(expected: unknown): AnswerCheck {
  return (body) => {
    let got: unknown;
    try {
      got = JSON.parse(Buffer.from(body).toString('utf8'));
    } catch {
      return `not JSON: ${Buffer.from(body).toString('utf8').slice(0, 80)}`;
    }
    return sameNumbers(got, expected)
      ? undefined
      : `expected ${JSON.stringify(expected).slice(0, 80)}, got ${JSON.stringify(got).slice(0, 80)}`;
  };
}

/** Run `tick` every `intervalMs` (after it ends) until `stop()`, which awaits the last one. */
export function repeat(intervalMs: number, tick: () => Promise<void>): { stop(): Promise<void> } {
  const stopped = new AbortController();
  const loop = (async () => {
    while (!stopped.signal.aborted) {
      await tick();
      await sleep(intervalMs);
    }
  })();
  return {
    async stop() {
      stopped.abort();
      await loop;
    },
  };
}
