// A closed-loop load generator: `clients` connections, each sending its next
// request as soon as the previous answer arrived, for a fixed time. node:http with
// keep-alive costs far less CPU per request than fetch(), so on a 2-core machine
// the figure is the server's rather than the generator's; latencies are kept with
// microsecond resolution (autocannon rounds them to whole milliseconds).
import { Agent, request } from 'node:http';

function send(agent, target, body, headers) {
  return new Promise((resolve) => {
    const req = request(
      {
        agent,
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: { ...headers, 'content-length': body.byteLength },
      },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(-1));
      },
    );
    req.on('error', () => resolve(-1));
    req.end(body);
  });
}

export function percentile(sorted, q) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];
}

/**
 * Runs `clients` closed loops against `url` for `warmupSeconds` (not counted) then
 * `seconds`; `body` is a Buffer or a function of the request number.
 */
export async function closedLoop({ url, body, headers = {}, clients, seconds, warmupSeconds = 1 }) {
  const target = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const bodyOf = typeof body === 'function' ? body : () => body;
  const latencies = [];
  const statuses = new Map();
  let n = 0;
  const start = performance.now();
  const measureFrom = start + warmupSeconds * 1000;
  const end = measureFrom + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (;;) {
        const sent = performance.now();
        if (sent >= end) return;
        const status = await send(agent, target, bodyOf(n++), headers);
        const done = performance.now();
        if (sent >= measureFrom && done <= end) {
          latencies.push(done - sent);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
      }
    }),
  );
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const ok = statuses.get(200) ?? 0;
  const round = (v) => Math.round(v * 1000) / 1000;
  return {
    clients,
    seconds,
    requests: latencies.length,
    requestsPerSecond: Math.round(ok / seconds),
    p50Ms: round(percentile(latencies, 0.5)),
    p90Ms: round(percentile(latencies, 0.9)),
    p99Ms: round(percentile(latencies, 0.99)),
    errors: latencies.length - ok,
    statuses: Object.fromEntries(statuses),
  };
}
