// A forward-only SageMaker Runtime InvokeEndpoint emulator for the benchmarks:
// `POST /endpoints/{name}/invocations` goes to a model container's `/invocations`
// (any endpoint name), and the answer comes back with the headers the real service
// sends. The tests' emulator (test/support/sagemaker-emulator.ts) also plays
// throttling and errors; this one only forwards, over a keep-alive agent, so that it
// costs both measured paths the same small, steady amount.
import { Buffer } from 'node:buffer';
import { Agent, createServer, request } from 'node:http';

/** SageMaker passes these request headers on to the container. */
const FORWARDED = [
  'content-type',
  'accept',
  'x-amzn-sagemaker-custom-attributes',
  'x-amzn-sagemaker-inference-id',
];

function awsError(res, status, type, message) {
  const body = JSON.stringify({ message });
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    'x-amzn-ErrorType': type,
    'x-amzn-RequestId': 'emulated',
  });
  res.end(body);
}

/**
 * @param {{ to: string, variant?: string }} options `to`: the container's base URL
 *   (`http://host:port`); `variant`: the production variant it reports (AllTraffic).
 * @returns {Promise<{ url: string, calls: () => number, close: () => Promise<void> }>}
 */
export async function startSageMakerEmulator({ to, variant = 'AllTraffic' }) {
  const target = new URL('/invocations', to);
  const agent = new Agent({ keepAlive: true });
  let calls = 0;
  let requestIds = 0;

  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || !/^\/endpoints\/[^/?]+\/invocations$/.test(req.url ?? '')) {
        awsError(res, 404, 'UnknownOperationException', 'unknown operation');
        return;
      }
      calls++;
      const body = Buffer.concat(chunks);
      const headers = { 'content-length': body.byteLength };
      for (const name of FORWARDED) {
        const value = req.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      const upstream = request(target, { method: 'POST', agent, headers }, (answer) => {
        const parts = [];
        answer.on('data', (chunk) => parts.push(chunk));
        answer.on('end', () => {
          const payload = Buffer.concat(parts);
          const status = answer.statusCode ?? 500;
          if (status < 200 || status >= 300) {
            // What SageMaker does with a container's error status.
            awsError(
              res,
              424,
              'ModelError',
              `Received client error (${status}) from primary with message "${payload.toString()}"`,
            );
            return;
          }
          const out = {
            'Content-Type': answer.headers['content-type'] ?? 'application/octet-stream',
            'Content-Length': payload.byteLength,
            'x-Amzn-Invoked-Production-Variant': variant,
            'x-amzn-RequestId': `emulated-${++requestIds}`,
          };
          const attributes = answer.headers['x-amzn-sagemaker-custom-attributes'];
          if (typeof attributes === 'string') {
            out['X-Amzn-SageMaker-Custom-Attributes'] = attributes;
          }
          res.writeHead(200, out);
          res.end(payload);
        });
        answer.on('error', () => awsError(res, 500, 'InternalFailure', 'container reset'));
      });
      upstream.on('error', (error) => awsError(res, 500, 'InternalFailure', error.message));
      upstream.end(body);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    calls: () => calls,
    close: () =>
      new Promise((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
