import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  closeRegistry,
  createApp,
  createModelRegistry,
  resolveGatewayConfig,
  startJobs,
  type Jobs,
  type ModelRegistry,
} from '@switchyard/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  batchStatus,
  irisRows,
  syncAnswers,
  waitForBatch,
  type GatewayFetch,
} from '../support/batch.js';
import { startS3Server, type S3Server } from '../support/s3-server.js';
import { MODELS } from '../support/worker-process.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

// The embedded mode: local backend, state and tasks in this process, files on disk.
describe('batch jobs in the embedded gateway', () => {
  let dir: string;
  let models: ModelRegistry;
  let jobs: Jobs;
  let request: GatewayFetch;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-batch-'));
    const config = resolveGatewayConfig({
      storage: { url: join(dir, 'store') },
      models: {
        iris: {
          variants: {
            v1: { weight: 1, backend: { type: 'local', model: join(MODELS, 'iris-v1') } },
          },
        },
      },
    });
    models = await createModelRegistry(config, silent);
    jobs = startJobs(config, models, silent);
    const app = createApp({ models, logger: silent, jobs });
    request = async (path, init) => app.request(path, init);
  });
  afterAll(async () => {
    await jobs.close();
    await closeRegistry(models);
    await rm(dir, { recursive: true, force: true });
  });

  const submit = (query: string, body: string, contentType: string) =>
    request(`/v1/batch-jobs?${query}`, {
      method: 'POST',
      body,
      headers: { 'Content-Type': contentType },
    });
  const created = async (response: Response): Promise<string> => {
    expect(response.status, await response.clone().text()).toBe(201);
    expect(response.headers.get('location')).toMatch(/^\/v1\/batch-jobs\//);
    return ((await response.json()) as { id: string }).id;
  };
  const lines = async (path: string) => {
    const response = await request(path);
    expect(response.status).toBe(200);
    const text = await response.text();
    return { type: response.headers.get('content-type'), lines: text.split('\n').slice(0, -1) };
  };

  it('runs 100,000 JSON Lines records; output line i is the synchronous answer for input line i', async () => {
    const inputs = irisRows(100_000).map((row) => JSON.stringify([row]));
    const id = await created(
      await submit(
        'model=iris&accept=application/json',
        `${inputs.join('\n')}\n`,
        'application/jsonlines',
      ),
    );
    const status = await waitForBatch(request, id, 120_000);
    expect(status.state).toBe('completed');
    expect(status.records).toEqual({ done: 100_000, failed: 0, total: 100_000 });
    expect(status.recordsPerSecond).toBeGreaterThan(0);

    const answers = await syncAnswers(request, inputs, {
      'Content-Type': 'application/json',
      Accept: 'application/json',
    });
    const output = await lines(`/v1/batch-jobs/${id}/output`);
    expect(output.type).toBe('application/json');
    expect(output.lines).toHaveLength(100_000);
    const mismatches = output.lines.filter((line, i) => line !== answers.get(inputs[i] ?? ''));
    expect(mismatches).toEqual([]);
    expect((await lines(`/v1/batch-jobs/${id}/errors`)).lines).toEqual([]);
  }, 180_000);

  it('runs 100,000 CSV records into CSV answers, in input order', async () => {
    const inputs = irisRows(100_000, 97).map((row) => row.join(','));
    const id = await created(
      await submit('model=iris&maxRecordsPerJob=1000', `${inputs.join('\n')}\n`, 'text/csv'),
    );
    const status = await waitForBatch(request, id, 120_000);
    expect(status.state).toBe('completed');
    expect(status.records).toEqual({ done: 100_000, failed: 0, total: 100_000 });
    const answers = await syncAnswers(request, inputs, {
      'Content-Type': 'text/csv',
      Accept: 'text/csv',
    });
    const output = await lines(`/v1/batch-jobs/${id}/output`);
    expect(output.type).toBe('text/csv');
    expect(output.lines).toHaveLength(100_000);
    expect(output.lines.filter((line, i) => line !== answers.get(inputs[i] ?? ''))).toEqual([]);
  }, 180_000);

  it('reports bad records with their line numbers and answers the rest', async () => {
    const inputs = irisRows(1000).map((row) => JSON.stringify([row]));
    inputs[9] = '[[1, 2]]'; // three features short
    inputs[499] = 'not json';
    inputs[500] = '';
    inputs[999] = '[["a", "b", "c", "d"]]';
    const id = await created(
      await submit(
        'model=iris&maxRecordsPerJob=64',
        `${inputs.join('\n')}\n`,
        'application/jsonlines',
      ),
    );
    const status = await waitForBatch(request, id, 60_000);
    expect(status.state).toBe('completed');
    expect(status.records).toEqual({ done: 996, failed: 4, total: 1000 });

    const errors = (await lines(`/v1/batch-jobs/${id}/errors`)).lines.map(
      (l) => JSON.parse(l) as { line: number; code: string; message: string },
    );
    expect(errors.map((e) => [e.line, e.code])).toEqual([
      [10, 'INVALID_INPUT'],
      [500, 'INVALID_INPUT'],
      [501, 'INVALID_INPUT'],
      [1000, 'INVALID_INPUT'],
    ]);
    expect(errors[2]?.message).toMatch(/empty/);
    for (const e of errors) expect(e.message.length).toBeGreaterThan(0);

    // A failed record leaves its output line empty: line i still answers input i.
    const answers = await syncAnswers(
      request,
      inputs.filter((_, i) => ![9, 499, 500, 999].includes(i)),
      { 'Content-Type': 'application/json' },
    );
    const output = (await lines(`/v1/batch-jobs/${id}/output`)).lines;
    expect(output).toHaveLength(1000);
    output.forEach((line, i) => {
      expect(line).toBe([9, 499, 500, 999].includes(i) ? '' : answers.get(inputs[i] ?? ''));
    });
  });

  it('ends a job whose every record fails as failed, with the reason', async () => {
    const id = await created(await submit('model=iris', 'x\ny\n', 'application/jsonlines'));
    const status = await waitForBatch(request, id, 30_000);
    expect(status.state).toBe('failed');
    expect(status.records).toEqual({ done: 0, failed: 2, total: 2 });
    expect(status.reason).toMatch(/every record failed; the first: .*"line":1.*INVALID_INPUT/);
  });

  it('sends the whole input as one request with split type none', async () => {
    const body = JSON.stringify(irisRows(5));
    const id = await created(
      await submit('model=iris&splitType=none&accept=application/json', body, 'application/json'),
    );
    expect((await waitForBatch(request, id, 30_000)).records).toEqual({
      done: 1,
      failed: 0,
      total: 1,
    });
    const [answer] = (
      await syncAnswers(request, [body], { 'Content-Type': 'application/json' })
    ).values();
    expect((await (await request(`/v1/batch-jobs/${id}/output`)).text()).trim()).toBe(answer);
  });

  it('reads its input from the object store when given an inputLocation', async () => {
    const input = join(dir, 'store', 'uploads', 'rows.csv');
    await mkdir(join(dir, 'store', 'uploads'), { recursive: true });
    await writeFile(input, '5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5\n');
    const response = await request('/v1/batch-jobs', {
      method: 'POST',
      body: JSON.stringify({
        model: 'iris',
        contentType: 'text/csv',
        inputLocation: pathToFileURL(input).href,
      }),
      headers: { 'Content-Type': 'application/json' },
    });
    const id = await created(response);
    expect((await waitForBatch(request, id, 30_000)).records.done).toBe(2);
    const output = (await lines(`/v1/batch-jobs/${id}/output`)).lines.map((l) =>
      l.split(',').map(Number),
    );
    // Setosa, then virginica.
    expect(output.map((r) => r.indexOf(Math.max(...r)))).toEqual([0, 2]);
  });

  it('cancels a running job, and refuses to cancel it twice', async () => {
    const inputs = irisRows(100_000).map((row) => row.join(','));
    const id = await created(
      await submit('model=iris&maxRecordsPerJob=100', `${inputs.join('\n')}\n`, 'text/csv'),
    );
    await waitForBatch(request, id, 30_000, (s) => s.records.done > 0);
    const cancel = await request(`/v1/batch-jobs/${id}`, { method: 'DELETE' });
    expect(cancel.status).toBe(202);
    const status = await waitForBatch(request, id, 30_000);
    expect(status.state).toBe('cancelled');
    expect(status.records.done).toBeLessThan(100_000);
    const again = await request(`/v1/batch-jobs/${id}`, { method: 'DELETE' });
    expect(again.status).toBe(409);
    const output = await request(`/v1/batch-jobs/${id}/output`);
    expect(output.status).toBe(409);
    expect(((await output.json()) as { error: { code: string } }).error.code).toBe('CONFLICT');
  });

  it('lists jobs newest first', async () => {
    const id = await created(await submit('model=iris', '5.1,3.5,1.4,0.2\n', 'text/csv'));
    const list = (await (await request('/v1/batch-jobs?limit=3')).json()) as {
      jobs: { id: string }[];
    };
    expect(list.jobs[0]?.id).toBe(id);
    expect(list.jobs.length).toBeLessThanOrEqual(3);
  });

  it.each([
    ['an unknown model', 'model=nope', 'text/csv', '1,2,3,4\n', 404, 'NOT_FOUND'],
    [
      'a binary type split by line',
      'model=iris',
      'application/x-npy',
      'x',
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    [
      'an answer type the model lacks',
      'model=iris&accept=image/png',
      'text/csv',
      '1,2,3,4\n',
      406,
      'NOT_ACCEPTABLE',
    ],
    ['no input', 'model=iris', 'text/csv', '', 400, 'INVALID_INPUT'],
    [
      'a bad maxRecordsPerJob',
      'model=iris&maxRecordsPerJob=0',
      'text/csv',
      '1,2,3,4\n',
      400,
      'INVALID_INPUT',
    ],
    [
      'a non-numeric maxPayloadBytes',
      'model=iris&maxPayloadBytes=lots',
      'text/csv',
      '1\n',
      400,
      'INVALID_INPUT',
    ],
    ['an unknown variant', 'model=iris&variant=v9', 'text/csv', '1,2,3,4\n', 400, 'INVALID_INPUT'],
    [
      'an unknown split type',
      'model=iris&splitType=RecordIO',
      'text/csv',
      '1\n',
      400,
      'INVALID_INPUT',
    ],
  ])('refuses %s', async (_what, query, type, body, status, code) => {
    const response = await submit(query, body, type);
    expect(response.status).toBe(status);
    const error = ((await response.json()) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe(code);
    expect(error.message.length).toBeGreaterThan(10);
  });

  it('refuses an inputLocation outside its store, and a spec that is not JSON', async () => {
    const outside = await request('/v1/batch-jobs', {
      method: 'POST',
      body: JSON.stringify({
        model: 'iris',
        contentType: 'text/csv',
        inputLocation: 'file:///etc/passwd',
      }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(outside.status).toBe(400);
    expect(await outside.text()).toMatch(/object store/);
    const text = await request('/v1/batch-jobs', {
      method: 'POST',
      body: 'model=iris',
      headers: { 'Content-Type': 'text/plain' },
    });
    expect(text.status).toBe(415);
  });

  it('answers 404 for an unknown job, and 409 for the output of one still running', async () => {
    expect((await request('/v1/batch-jobs/no-such-job')).status).toBe(404);
    const inputs = irisRows(50_000).map((row) => row.join(','));
    const id = await created(await submit('model=iris', `${inputs.join('\n')}\n`, 'text/csv'));
    // 50,000 records take seconds; the output is asked for at once.
    const early = await request(`/v1/batch-jobs/${id}/output`);
    expect(early.status).toBe(409);
    expect((await batchStatus(request, id)).state).not.toBe('completed');
    await request(`/v1/batch-jobs/${id}`, { method: 'DELETE' });
    await waitForBatch(request, id, 30_000);
  });
});

// The same code path with the object store on S3 (a local S3-compatible server).
describe('batch jobs and async inference with S3 storage', () => {
  let s3: S3Server;
  let models: ModelRegistry;
  let jobs: Jobs;
  let request: GatewayFetch;

  beforeAll(async () => {
    process.env['AWS_ACCESS_KEY_ID'] ??= 'test';
    process.env['AWS_SECRET_ACCESS_KEY'] ??= 'test';
    s3 = await startS3Server();
    const config = resolveGatewayConfig({
      storage: { url: 's3://jobs/switchyard', s3Endpoint: s3.url },
      models: {
        iris: {
          variants: {
            v1: { weight: 1, backend: { type: 'local', model: join(MODELS, 'iris-v1') } },
          },
        },
      },
    });
    models = await createModelRegistry(config, silent);
    jobs = startJobs(config, models, silent);
    const app = createApp({ models, logger: silent, jobs });
    request = async (path, init) => app.request(path, init);
  });
  afterAll(async () => {
    await jobs.close();
    await closeRegistry(models);
    await s3.close();
  });

  it('keeps input, output and errors in the bucket, and answers line by line', async () => {
    const inputs = irisRows(5000).map((row) => row.join(','));
    inputs[41] = 'a,b,c,d';
    const created = await request('/v1/batch-jobs?model=iris', {
      method: 'POST',
      body: `${inputs.join('\n')}\n`,
      headers: { 'Content-Type': 'text/csv' },
    });
    expect(created.status).toBe(201);
    const job = (await created.json()) as { id: string; inputLocation: string };
    expect(job.inputLocation).toBe(`s3://jobs/switchyard/batch/${job.id}/input`);
    const status = await waitForBatch(request, job.id, 60_000);
    expect(status.records).toEqual({ done: 4999, failed: 1, total: 5000 });

    const stored = s3.objects.get(`/jobs/switchyard/batch/${job.id}/output`);
    expect(stored).toBeDefined();
    const output = (await (await request(`/v1/batch-jobs/${job.id}/output`)).text()).split('\n');
    expect(Buffer.from(output.join('\n')).equals(stored?.body ?? Buffer.alloc(0))).toBe(true);
    const answers = await syncAnswers(
      request,
      inputs.filter((_, i) => i !== 41),
      { 'Content-Type': 'text/csv', Accept: 'text/csv' },
    );
    expect(
      output
        .slice(0, -1)
        .filter((line, i) => line !== (i === 41 ? '' : answers.get(inputs[i] ?? ''))),
    ).toEqual([]);
    const errors = await (await request(`/v1/batch-jobs/${job.id}/errors`)).text();
    expect(JSON.parse(errors)).toMatchObject({ line: 42, code: 'INVALID_INPUT' });
    // The chunk parts were removed once the output was assembled.
    expect([...s3.objects.keys()].filter((k) => k.includes(`${job.id}/parts/`))).toEqual([]);
  });

  it('stores an async answer at its s3:// output location', async () => {
    const submitted = await request('/v1/models/iris/async', {
      method: 'POST',
      body: '5.1,3.5,1.4,0.2\n',
      headers: { 'Content-Type': 'text/csv', Accept: 'text/csv' },
    });
    expect(submitted.status).toBe(202);
    const { inferenceId, outputLocation } = (await submitted.json()) as {
      inferenceId: string;
      outputLocation: string;
    };
    expect(outputLocation).toBe(`s3://jobs/switchyard/async/${inferenceId}/output`);
    let answer = await request(`/v1/inferences/${inferenceId}`);
    for (let i = 0; i < 100 && answer.status === 202; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      answer = await request(`/v1/inferences/${inferenceId}`);
    }
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('text/csv');
    const text = await answer.text();
    expect(s3.objects.get(`/jobs/switchyard/async/${inferenceId}/output`)?.body.toString()).toBe(
      text,
    );
  });
});
