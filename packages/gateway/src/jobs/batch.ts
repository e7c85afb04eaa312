import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  InferenceError,
  negotiate,
  parseMediaType,
  type HandlerLogger,
  type InferenceErrorCode,
  type RecordOutcome,
} from '@switchyard/handlers';
import { z } from 'zod';
import { routable } from '../http/dispatch.js';
import { unknownModel } from '../http/errors.js';
import type { ModelRegistry, ModelState, VariantState } from '../http/model-registry.js';
import { chooseVariant } from '../routing/choose-variant.js';
import type { ObjectStore } from '@switchyard/worker';
import { splitLines, type InputChunk, type InputRecord } from './split.js';
import type { StateStore } from './state.js';
import { TaskInterrupted, type TaskQueue } from './tasks.js';

/** Types a line-split job may read and write: one record, or one answer, per line. */
const LINE_TYPES = ['application/jsonlines', 'application/json', 'text/csv'] as const;

/** A batch job's spec, as the API takes it (and the OpenAPI document shows it). */
export const batchJobRequestSchema = z.object({
  model: z.string().min(1),
  /** Pin the job to one variant; by default it is chosen by the model's weights. */
  variant: z.string().min(1).optional(),
  /** An object store URL to read the input from, instead of an uploaded body. */
  inputLocation: z
    .string()
    .min(1)
    .optional()
    .describe('Object store URL of the input (`file://`, `s3://`)'),
  /** `line`: every line a record (JSON Lines, CSV); `none`: the whole input one record. */
  splitType: z.enum(['line', 'none']).default('line'),
  /** Type of the input's records. */
  contentType: z.string().min(1),
  /** Type of the answers. @defaultValue the content type */
  accept: z.string().min(1).optional(),
  maxRecordsPerJob: z.number().int().positive().max(100_000).default(500),
  maxPayloadBytes: z
    .number()
    .int()
    .positive()
    .max(100 * 1024 * 1024)
    .default(6 * 1024 * 1024),
});

export type BatchJobRequest = z.input<typeof batchJobRequestSchema>;

type BatchState = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

/** A batch job as stored (JSON in the state store). */
interface BatchJob {
  readonly id: string;
  readonly model: string;
  readonly variant: string;
  readonly splitType: 'line' | 'none';
  readonly contentType: string;
  readonly accept: string;
  readonly maxRecordsPerJob: number;
  readonly maxPayloadBytes: number;
  readonly inputKey: string;
  readonly createdAt: number;
  readonly state: BatchState;
  readonly startedAt?: number;
  readonly finishedAt?: number;
  /** Totals, written when the job ends; while it runs they come from the chunks. */
  readonly records?: { done: number; failed: number; total: number };
  readonly reason?: string;
}

/** What a finished chunk left behind: its counts (its lines are in the store). */
interface ChunkCommit {
  readonly n: number;
  readonly done: number;
  readonly failed: number;
  readonly firstError?: string;
}

export interface BatchJobsOptions {
  readonly models: ModelRegistry;
  readonly store: ObjectStore;
  readonly state: StateStore;
  readonly tasks: TaskQueue;
  readonly logger: HandlerLogger;
  /** Chunks of one job in flight at once. @defaultValue 8 */
  readonly chunksInFlight?: number;
}

const TERMINAL: ReadonlySet<BatchState> = new Set(['completed', 'failed', 'cancelled']);
const jobKey = (id: string) => `batch:${id}`;
const chunksKey = (id: string) => `batch:${id}:chunks`;
const cancelKey = (id: string) => `batch:${id}:cancel`;
const INDEX = 'batch-jobs';
const objectKey = (id: string, name: string) => `batch/${id}/${name}`;
const partKey = (id: string, index: number, kind: 'out' | 'err') =>
  objectKey(id, `parts/${String(index).padStart(8, '0')}.${kind}`);

/** The record type a worker gets for a job type (JSON Lines records are JSON). */
const recordType = (type: string) =>
  parseMediaType(type)?.essence === 'application/jsonlines' ? 'application/json' : type;

/**
 * Batch jobs: an input cut into chunks that workers run through the model, with
 * output lines assembled in input order and failed records listed apart. State
 * lives in the state store and the object store, and the job runs as a task, so a
 * job whose gateway dies resumes elsewhere from its last finished chunk.
 */
export class BatchJobs {
  private readonly inFlight: number;

  constructor(private readonly options: BatchJobsOptions) {
    this.inFlight = options.chunksInFlight ?? 8;
  }

  /** Validate a job, store its input, and queue it. */
  async create(request: BatchJobRequest, upload: Readable | undefined): Promise<object> {
    const parsed = batchJobRequestSchema.safeParse(request);
    if (!parsed.success) {
      throw new InferenceError(
        'INVALID_INPUT',
        `invalid batch job: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
      );
    }
    const spec = parsed.data;
    const model = this.model(spec.model);
    const accept = spec.accept ?? spec.contentType;
    this.checkTypes(model, spec.splitType, spec.contentType, accept);
    if (spec.variant !== undefined && !model.variants.has(spec.variant)) {
      throw new InferenceError(
        'INVALID_INPUT',
        `model "${model.name}" has no variant "${spec.variant}"; it has ${[...model.variants.keys()].join(', ')}`,
      );
    }
    const id = randomUUID();
    let inputKey = objectKey(id, 'input');
    const { store } = this.options;
    if (spec.inputLocation !== undefined) {
      if (upload !== undefined) {
        throw new InferenceError('INVALID_INPUT', 'give an inputLocation or a body, not both');
      }
      const key = store.keyOf(spec.inputLocation);
      if (key === undefined || (await store.head(key)) === undefined) {
        throw new InferenceError(
          'INVALID_INPUT',
          `no input at ${spec.inputLocation}: inputs must be objects in this gateway's object store`,
        );
      }
      inputKey = key;
    } else if (upload === undefined) {
      throw new InferenceError('INVALID_INPUT', 'the batch job has no input');
    } else {
      await store.put(inputKey, upload, spec.contentType);
      if (((await store.head(inputKey))?.size ?? 0) === 0) {
        await store.delete(inputKey);
        throw new InferenceError('INVALID_INPUT', 'the batch job has no input: the body is empty');
      }
    }
    const job: BatchJob = {
      id,
      model: model.name,
      variant:
        spec.variant ?? chooseVariant(routable(model), { targetVariant: undefined, stickyKey: id }),
      splitType: spec.splitType,
      contentType: spec.contentType,
      accept,
      maxRecordsPerJob: spec.maxRecordsPerJob,
      maxPayloadBytes: spec.maxPayloadBytes,
      inputKey,
      createdAt: Date.now(),
      state: 'queued',
    };
    await this.save(job);
    await this.options.state.index(INDEX, id, job.createdAt);
    await this.options.tasks.add('batch', `batch-${id}`, { id }, { attempts: 20, backoffMs: 1000 });
    this.options.logger.info(
      { batchJob: id, model: job.model, variant: job.variant },
      'batch job created',
    );
    return this.describe(job);
  }

  /** State, record counts and throughput; NOT_FOUND for an unknown id. */
  async status(id: string): Promise<object> {
    return this.describe(await this.load(id));
  }

  /** The newest jobs first. */
  async list(limit = 50): Promise<object[]> {
    const ids = await this.options.state.latest(INDEX, limit);
    const jobs = await Promise.all(ids.map((id) => this.find(id)));
    return Promise.all(jobs.filter((j) => j !== undefined).map((j) => this.describe(j)));
  }

  /** The assembled output (or errors) of a finished job, as a stream. */
  async output(
    id: string,
    kind: 'output' | 'errors',
  ): Promise<{ body: Readable; contentType: string }> {
    const job = await this.load(id);
    if (job.state !== 'completed' && job.state !== 'failed') {
      throw new InferenceError(
        'CONFLICT',
        `batch job ${id} is ${job.state}: its ${kind} exists once it has completed or failed`,
      );
    }
    const body = await this.options.store.get(objectKey(id, kind));
    return {
      body,
      contentType: kind === 'errors' ? 'application/jsonlines' : job.accept,
    };
  }

  /** Ask a job to stop; CONFLICT when it has already ended. */
  async cancel(id: string): Promise<object> {
    const job = await this.load(id);
    if (TERMINAL.has(job.state)) {
      throw new InferenceError('CONFLICT', `batch job ${id} has already ${job.state}`);
    }
    await this.options.state.set(cancelKey(id), '1', 7 * 24 * 3600);
    return { ...(await this.describe(job)), cancelRequested: true };
  }

  /** The task that runs a job: resumable, since finished chunks are skipped. */
  async run(data: unknown, signal: AbortSignal): Promise<void> {
    const id = (data as { id?: unknown }).id;
    if (typeof id !== 'string') return;
    let job = await this.find(id);
    if (job === undefined || TERMINAL.has(job.state)) return;
    if (await this.cancelled(id)) {
      await this.finish(job, 'cancelled', undefined);
      return;
    }
    if (job.state === 'queued') {
      job = { ...job, state: 'running', startedAt: Date.now() };
      await this.save(job);
    }
    const model = this.options.models.get(job.model);
    const variant = model?.variants.get(job.variant);
    if (model === undefined || variant === undefined) {
      await this.finish(
        job,
        'failed',
        `model "${job.model}" variant "${job.variant}" is no longer configured`,
      );
      return;
    }
    const committed = await this.options.state.fields(chunksKey(id));
    const resumed = Object.keys(committed).length;
    if (resumed > 0) {
      this.options.logger.info({ batchJob: id, chunksDone: resumed }, 'batch job resumed');
    }
    const running = new Set<Promise<void>>();
    let failure: unknown;
    let chunks = 0;
    let cancelled = false;
    const input = await this.options.store.get(job.inputKey);
    try {
      for await (const chunk of this.chunks(job, input)) {
        chunks = chunk.index + 1;
        if (committed[String(chunk.index)] !== undefined) continue;
        if (signal.aborted) break;
        if (failure !== undefined) break;
        if (await this.cancelled(id)) {
          cancelled = true;
          break;
        }
        const current = job;
        const done: Promise<void> = this.runChunk(current, model, variant, chunk, signal)
          .catch((error: unknown) => {
            failure ??= error;
          })
          .finally(() => running.delete(done));
        running.add(done);
        if (running.size >= this.inFlight) await Promise.race(running);
      }
    } finally {
      input.destroy();
      await Promise.all(running);
    }
    if (signal.aborted) throw new TaskInterrupted();
    if (failure !== undefined) throw toError(failure);
    if (cancelled) {
      await this.finish(job, 'cancelled', undefined);
      return;
    }
    await this.assemble(job, chunks);
  }

  private chunks(job: BatchJob, input: Readable): AsyncIterable<InputChunk> {
    if (job.splitType === 'line') return splitLines(input, job);
    return wholeInput(input, job.maxPayloadBytes);
  }

  private async runChunk(
    job: BatchJob,
    model: ModelState,
    variant: VariantState,
    chunk: InputChunk,
    signal: AbortSignal,
  ): Promise<void> {
    const sendable = chunk.records.filter(
      (r): r is Extract<InputRecord, { body: Uint8Array }> => 'body' in r,
    );
    const outcomes =
      sendable.length === 0
        ? []
        : await variant.backend.runChunk(
            {
              batchId: job.id,
              index: chunk.index,
              model: job.model,
              variant: job.variant,
              contentType: recordType(job.contentType),
              accept: recordType(job.accept),
              records: sendable.map((r) => r.body),
              recordTimeoutMs: model.config.timeoutMs,
            },
            signal,
          );
    const lines: (string | Uint8Array)[] = [];
    const errors: string[] = [];
    let sent = 0;
    let done = 0;
    for (const record of chunk.records) {
      const outcome: RecordOutcome | undefined =
        'body' in record ? outcomes[sent++] : { ok: false, error: record.error };
      const answer = outcome === undefined ? noAnswer() : this.answer(job, outcome);
      if ('error' in answer) {
        errors.push(
          `${JSON.stringify({ line: record.line, code: answer.error.code, message: answer.error.message })}\n`,
        );
        if (job.splitType === 'line') lines.push('\n');
      } else {
        done++;
        lines.push(answer.line);
      }
    }
    const { store, state } = this.options;
    await store.put(partKey(job.id, chunk.index, 'out'), Buffer.concat(lines.map(bytesOf)));
    if (errors.length > 0)
      await store.put(partKey(job.id, chunk.index, 'err'), Buffer.from(errors.join('')));
    const commit: ChunkCommit = {
      n: chunk.records.length,
      done,
      failed: errors.length,
      ...(errors[0] === undefined ? {} : { firstError: errors[0].trim() }),
    };
    await state.setField(chunksKey(job.id), String(chunk.index), JSON.stringify(commit));
  }

  /** A record's answer as one output line (line split) or as is (no split). */
  private answer(
    job: BatchJob,
    outcome: RecordOutcome,
  ): { line: string | Uint8Array } | { error: { code: InferenceErrorCode; message: string } } {
    if (!outcome.ok) return { error: outcome.error };
    if (job.splitType === 'none') return { line: outcome.body };
    let text = Buffer.from(outcome.body)
      .toString('utf8')
      .replace(/\r?\n$/, '');
    if (text.includes('\n')) {
      // A JSON answer spread over lines still fits one; other formats cannot be joined.
      if (parseMediaType(outcome.contentType)?.essence !== 'application/json') {
        return {
          error: {
            code: 'MODEL_ERROR',
            message: `the answer spans ${text.split('\n').length} lines; a line-split job needs one line per record`,
          },
        };
      }
      text = JSON.stringify(JSON.parse(text));
    }
    return { line: `${text}\n` };
  }

  /** Concatenate the parts in input order into the output and errors objects. */
  private async assemble(job: BatchJob, chunks: number): Promise<void> {
    const { store, state } = this.options;
    const commits = new Map(
      Object.entries(await state.fields(chunksKey(job.id))).map(([i, v]) => [
        Number(i),
        JSON.parse(v) as ChunkCommit,
      ]),
    );
    const totals = { done: 0, failed: 0, total: 0 };
    let firstError: string | undefined;
    for (let i = 0; i < chunks; i++) {
      const commit = commits.get(i);
      if (commit === undefined) throw new Error(`chunk ${i} of batch job ${job.id} has no result`);
      totals.done += commit.done;
      totals.failed += commit.failed;
      totals.total += commit.n;
      firstError ??= commit.firstError;
    }
    const parts = async function* (kind: 'out' | 'err') {
      for (let i = 0; i < chunks; i++) {
        if (kind === 'err' && (commits.get(i)?.failed ?? 0) === 0) continue;
        yield* await store.get(partKey(job.id, i, kind));
      }
    };
    await store.put(objectKey(job.id, 'output'), Readable.from(parts('out')), job.accept);
    await store.put(
      objectKey(job.id, 'errors'),
      Readable.from(parts('err')),
      'application/jsonlines',
    );
    const allFailed = totals.done === 0 && totals.failed > 0;
    await this.finish(
      { ...job, records: totals },
      allFailed ? 'failed' : 'completed',
      allFailed ? `every record failed; the first: ${firstError ?? 'unknown'}` : undefined,
    );
    await Promise.all(
      Array.from({ length: chunks }, (_, i) =>
        Promise.all([
          store.delete(partKey(job.id, i, 'out')),
          store.delete(partKey(job.id, i, 'err')),
        ]).catch(() => undefined),
      ),
    );
    await state.delete(chunksKey(job.id));
  }

  private async finish(
    job: BatchJob,
    state: BatchState,
    reason: string | undefined,
  ): Promise<void> {
    await this.save({
      ...job,
      state,
      finishedAt: Date.now(),
      ...(reason === undefined ? {} : { reason }),
    });
    this.options.logger.info(
      { batchJob: job.id, model: job.model, state, records: job.records, reason },
      'batch job ended',
    );
  }

  private async describe(job: BatchJob): Promise<object> {
    let records = job.records;
    if (records === undefined) {
      const commits = Object.values(await this.options.state.fields(chunksKey(job.id))).map(
        (v) => JSON.parse(v) as ChunkCommit,
      );
      records = {
        done: commits.reduce((s, c) => s + c.done, 0),
        failed: commits.reduce((s, c) => s + c.failed, 0),
        total: Number.NaN,
      };
    }
    const finished = records.done + records.failed;
    const seconds =
      job.startedAt === undefined ? 0 : ((job.finishedAt ?? Date.now()) - job.startedAt) / 1000;
    const cancelling = !TERMINAL.has(job.state) && (await this.cancelled(job.id));
    const { store } = this.options;
    return {
      id: job.id,
      model: job.model,
      variant: job.variant,
      state: cancelling ? 'cancelling' : job.state,
      splitType: job.splitType,
      contentType: job.contentType,
      accept: job.accept,
      maxRecordsPerJob: job.maxRecordsPerJob,
      maxPayloadBytes: job.maxPayloadBytes,
      createdAt: new Date(job.createdAt).toISOString(),
      startedAt: job.startedAt === undefined ? null : new Date(job.startedAt).toISOString(),
      finishedAt: job.finishedAt === undefined ? null : new Date(job.finishedAt).toISOString(),
      records: {
        done: records.done,
        failed: records.failed,
        // Known once the whole input has been read.
        total: Number.isNaN(records.total) ? null : records.total,
      },
      recordsPerSecond: seconds > 0 ? Math.round((finished / seconds) * 10) / 10 : 0,
      reason: job.reason ?? null,
      inputLocation: store.locate(job.inputKey),
      outputLocation: store.locate(objectKey(job.id, 'output')),
      errorsLocation: store.locate(objectKey(job.id, 'errors')),
      links: {
        self: `/v1/batch-jobs/${job.id}`,
        output: `/v1/batch-jobs/${job.id}/output`,
        errors: `/v1/batch-jobs/${job.id}/errors`,
      },
    };
  }

  private model(name: string): ModelState {
    const model = this.options.models.get(name);
    if (model === undefined) {
      throw unknownModel(name, this.options.models.keys());
    }
    return model;
  }

  private checkTypes(
    model: ModelState,
    split: 'line' | 'none',
    contentType: string,
    accept: string,
  ): void {
    const essence = (t: string) => parseMediaType(t)?.essence;
    if (split === 'line') {
      for (const [what, type] of [
        ['contentType', contentType],
        ['accept', accept],
      ] as const) {
        if (!LINE_TYPES.some((t) => t === essence(type))) {
          throw new InferenceError(
            what === 'accept' ? 'NOT_ACCEPTABLE' : 'UNSUPPORTED_MEDIA_TYPE',
            `${what} ${JSON.stringify(type)} cannot be split by line; use ${LINE_TYPES.join(', ')}, or splitType "none"`,
          );
        }
      }
    }
    const input = recordType(contentType);
    if (!model.config.contentTypes.some((t) => essence(t) === essence(input))) {
      throw new InferenceError(
        'UNSUPPORTED_MEDIA_TYPE',
        `model "${model.name}" does not accept ${input}; supported: ${model.config.contentTypes.join(', ')}`,
      );
    }
    if (negotiate(recordType(accept), model.config.accepts) === undefined) {
      throw new InferenceError(
        'NOT_ACCEPTABLE',
        `model "${model.name}" cannot answer ${recordType(accept)}; supported: ${model.config.accepts.join(', ')}`,
      );
    }
  }

  private async cancelled(id: string): Promise<boolean> {
    return (await this.options.state.get(cancelKey(id))) !== undefined;
  }

  private async find(id: string): Promise<BatchJob | undefined> {
    const text = await this.options.state.get(jobKey(id));
    return text === undefined ? undefined : (JSON.parse(text) as BatchJob);
  }

  private async load(id: string): Promise<BatchJob> {
    const job = await this.find(id);
    if (job === undefined) throw new InferenceError('NOT_FOUND', `no batch job ${id}`);
    return job;
  }

  private async save(job: BatchJob): Promise<void> {
    await this.options.state.set(jobKey(job.id), JSON.stringify(job));
  }
}

/** The whole input as one record (split type `none`), read only if it fits. */
async function* wholeInput(input: Readable, maxBytes: number): AsyncGenerator<InputChunk> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const piece of input) {
    const buffer = Buffer.isBuffer(piece) ? piece : Buffer.from(piece as Uint8Array);
    size += buffer.byteLength;
    if (size > maxBytes) {
      input.destroy();
      yield {
        index: 0,
        records: [
          {
            line: 1,
            error: {
              code: 'PAYLOAD_TOO_LARGE',
              message: `the input is over the job's maxPayloadBytes of ${maxBytes}`,
            },
          },
        ],
      };
      return;
    }
    chunks.push(buffer);
  }
  yield { index: 0, records: [{ line: 1, body: Buffer.concat(chunks) }] };
}

const noAnswer = () => ({
  error: { code: 'INTERNAL' as const, message: 'the backend gave no answer for this record' },
});

const bytesOf = (piece: string | Uint8Array) =>
  typeof piece === 'string' ? Buffer.from(piece) : piece;

const toError = (error: unknown): Error =>
  error instanceof Error ? error : new Error(String(error));
