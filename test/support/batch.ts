/** Requests to a gateway by path: `app.request` in process, or `fetch` on a URL. */
export type GatewayFetch = (path: string, init?: RequestInit) => Promise<Response>;

export interface BatchStatus {
  readonly id: string;
  readonly state: string;
  readonly variant: string;
  readonly records: { done: number; failed: number; total: number | null };
  readonly recordsPerSecond: number;
  readonly reason: string | null;
}

/**
 * `count` iris-like rows cycling through `distinct` different ones, so every
 * output line can be checked against a synchronous answer for its row.
 */
export function irisRows(count: number, distinct = 150): number[][] {
  let seed = 7;
  const next = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const pool = Array.from({ length: distinct }, () => [
    Math.round((4.3 + next() * 3.6) * 10) / 10,
    Math.round((2 + next() * 2.4) * 10) / 10,
    Math.round((1 + next() * 5.9) * 10) / 10,
    Math.round((0.1 + next() * 2.4) * 10) / 10,
  ]);
  return Array.from({ length: count }, (_, i) => pool[(i * 7919) % distinct] ?? []);
}

/** The job's status document. */
export async function batchStatus(request: GatewayFetch, id: string): Promise<BatchStatus> {
  const response = await request(`/v1/batch-jobs/${id}`);
  if (response.status !== 200) {
    throw new Error(`GET /v1/batch-jobs/${id}: ${response.status} ${await response.text()}`);
  }
  return (await response.json()) as BatchStatus;
}

/** Poll a batch job until `until` holds (by default: it has ended), or fail after `timeoutMs`. */
export async function waitForBatch(
  request: GatewayFetch,
  id: string,
  timeoutMs: number,
  until: (status: BatchStatus) => boolean = (s) =>
    ['completed', 'failed', 'cancelled'].includes(s.state),
): Promise<BatchStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: BatchStatus | undefined;
  while (Date.now() < deadline) {
    try {
      last = await batchStatus(request, id);
      if (until(last)) return last;
    } catch {
      // A gateway restarting in the middle: ask again.
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(
    `batch job ${id} did not get there in ${timeoutMs} ms; last: ${JSON.stringify(last)}`,
  );
}

/** The synchronous answer for each distinct body, as one line without its newline. */
export async function syncAnswers(
  request: GatewayFetch,
  bodies: Iterable<string>,
  headers: Record<string, string>,
): Promise<Map<string, string>> {
  const answers = new Map<string, string>();
  for (const body of new Set(bodies)) {
    const response = await request('/v1/models/iris/invoke', {
      method: 'POST',
      body,
      headers,
    });
    if (response.status !== 200) throw new Error(`sync ${body}: ${response.status}`);
    answers.set(body, (await response.text()).replace(/\r?\n$/, ''));
  }
  return answers;
}
