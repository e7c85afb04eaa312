// The naive baseline of the queue benchmarks: an HTTP server that turns each
// request into one BullMQ job and awaits it with `job.waitUntilFinished` (BullMQ's
// QueueEvents stream), as a first queue-backed gateway would. The same worker
// process consumes the jobs (it keeps each result as the job's return value).
//   REDIS_URL=… QUEUE=… node bench/lib/naive-gateway.mjs   → prints `listening <port>`
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { decodeJobResult, encodeJobRequest } from '@switchyard/handlers';
import { Queue, QueueEvents } from 'bullmq';

const connection = { url: process.env['REDIS_URL'] };
const name = process.env['QUEUE'];
const queue = new Queue(name, { connection });
const events = new QueueEvents(name, { connection });
await events.waitUntilReady();

const server = createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const requestId = randomUUID();
  try {
    const job = await queue.add(
      'invoke',
      encodeJobRequest({
        requestId,
        model: 'iris',
        contentType: req.headers['content-type'] ?? 'application/octet-stream',
        ...(req.headers.accept === undefined ? {} : { accept: req.headers.accept }),
        body: new Uint8Array(Buffer.concat(chunks)),
        deadline: Date.now() + 30_000,
        enqueuedAt: Date.now(),
      }),
      { jobId: requestId, removeOnComplete: { age: 60 }, removeOnFail: { age: 60 } },
    );
    const result = decodeJobResult(await job.waitUntilFinished(events, 30_000));
    if (result.ok) {
      res.writeHead(200, { 'Content-Type': result.contentType });
      res.end(result.body);
    } else {
      res.writeHead(result.error.status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: result.error.toJSON() }));
    }
  } catch (error) {
    res.writeHead(503, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'UNAVAILABLE', message: error.message } }));
  }
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.once('SIGTERM', () => {
  server.close();
  void Promise.all([queue.close(), events.close()]).then(() => process.exit(0));
});
