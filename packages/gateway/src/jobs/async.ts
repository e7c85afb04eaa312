import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  InferenceError,
  toInferenceError,
  type HandlerLogger,
  type InferenceErrorCode,
} from '@switchyard/handlers';
import { dispatch } from '../http/dispatch.js';
import { unknownModel } from '../http/errors.js';
import type { ModelRegistry } from '../http/model-registry.js';
import type { ObjectStore } from '@switchyard/worker';
import type { StateStore } from './state.js';
import type { TaskQueue } from './tasks.js';

export interface AsyncSubmission {
  readonly model: string;
  readonly contentType: string;
  /** The negotiated answer type. */
  readonly accept: string;
  readonly customAttributes?: string | undefined;
  readonly targetVariant?: string | undefined;
  readonly stickyKey?: string | undefined;
  /** The client's id for the inference; one is made up without it. */
  readonly inferenceId?: string | undefined;
  /** How long it may wait before it starts. */
  readonly ttlSeconds: number;
  /** How long it may run once started. */
  readonly timeoutSeconds: number;
  /** Told of the outcome with a POST, retried with backoff. */
  readonly webhookUrl?: string | undefined;
  /** The body as it streams in, or where it already is in the store. */
  readonly input: { readonly upload: Readable } | { readonly location: string };
}

type Status = 'queued' | 'running' | 'completed' | 'failed' | 'expired';

interface AsyncRecord {
  readonly id: string;
  readonly model: string;
  readonly status: Status;
  readonly contentType: string;
  readonly accept: string;
  readonly customAttributes?: string;
  readonly targetVariant?: string;
  readonly stickyKey?: string;
  readonly inputKey: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly timeoutMs: number;
  readonly webhookUrl?: string;
  readonly startedAt?: number;
  readonly finishedAt?: number;
  readonly variant?: string;
  readonly result?: { readonly contentType: string; readonly bytes: number };
  readonly error?: { readonly code: InferenceErrorCode; readonly message: string };
  readonly webhook?: {
    readonly status: 'pending' | 'delivered' | 'failed';
    readonly attempts: number;
    readonly lastError?: string;
  };
}

export interface AsyncInferencesOptions {
  readonly models: ModelRegistry;
  readonly store: ObjectStore;
  readonly state: StateStore;
  readonly tasks: TaskQueue;
  readonly logger: HandlerLogger;
  /** How long records and results are kept. @defaultValue 86400 */
  readonly recordTtlSeconds?: number;
  /** Webhook delivery: attempts, first backoff (doubling), per-call timeout. */
  readonly webhook?: { attempts: number; backoffMs: number; timeoutMs: number };
  /** Whether queue workers read the same store: large inputs then reach them by location. */
  readonly storeSharedWithWorkers?: boolean;
  /** Runs of an inference that failed in a retryable way (a worker down) before it fails. */
  readonly attempts?: number;
}

/**
 * Failures worth another run later: a backend down or throttling. A timeout is
 * not: the request already had its whole invocation timeout.
 */
const AGAIN: ReadonlySet<InferenceErrorCode> = new Set(['UNAVAILABLE', 'TOO_MANY_REQUESTS']);
const INFERENCE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const recordKey = (id: string) => `async:${id}`;
const objectKey = (id: string, name: string) => `async/${id}/${name}`;
const FINISHED: ReadonlySet<Status> = new Set(['completed', 'failed', 'expired']);

/**
 * Async inference: the request is stored and answered with an id at once; a task
 * runs it through the same routing as real-time requests, stores the answer (or
 * the error) in the object store, and tells a webhook when asked.
 */
export class AsyncInferences {
  private readonly ttl: number;
  private readonly webhook: { attempts: number; backoffMs: number; timeoutMs: number };

  constructor(private readonly options: AsyncInferencesOptions) {
    this.ttl = options.recordTtlSeconds ?? 86_400;
    this.webhook = options.webhook ?? { attempts: 5, backoffMs: 1000, timeoutMs: 5000 };
  }

  /** Store the request and queue it; the status document of the new inference. */
  async submit(request: AsyncSubmission): Promise<ReturnType<AsyncInferences['describe']>> {
    if (!this.options.models.has(request.model)) {
      throw unknownModel(request.model, this.options.models.keys());
    }
    if (request.inferenceId !== undefined && !INFERENCE_ID.test(request.inferenceId)) {
      throw new InferenceError(
        'INVALID_INPUT',
        'an inference id is 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit',
      );
    }
    const id = request.inferenceId ?? randomUUID();
    const { store, state } = this.options;
    // Each submission writes its own input key: a request that loses the race for an
    // inference id must not overwrite the input of the one that won it.
    let inputKey = objectKey(id, `input-${randomUUID()}`);
    if ('location' in request.input) {
      const key = store.keyOf(request.input.location);
      if (key === undefined || (await store.head(key)) === undefined) {
        throw new InferenceError(
          'INVALID_INPUT',
          `no input at ${request.input.location}: inputs must be objects in this gateway's object store`,
        );
      }
      inputKey = key;
    } else {
      if ((await state.get(recordKey(id))) !== undefined) throw this.taken(id);
      await store.put(inputKey, request.input.upload, request.contentType);
      if (((await store.head(inputKey))?.size ?? 0) === 0) {
        await store.delete(inputKey);
        throw new InferenceError('INVALID_INPUT', 'the request has no body and no input location');
      }
    }
    const now = Date.now();
    const record: AsyncRecord = {
      id,
      model: request.model,
      status: 'queued',
      contentType: request.contentType,
      accept: request.accept,
      ...(request.customAttributes === undefined
        ? {}
        : { customAttributes: request.customAttributes }),
      ...(request.targetVariant === undefined ? {} : { targetVariant: request.targetVariant }),
      ...(request.stickyKey === undefined ? {} : { stickyKey: request.stickyKey }),
      ...(request.webhookUrl === undefined ? {} : { webhookUrl: request.webhookUrl }),
      inputKey,
      createdAt: now,
      expiresAt: now + request.ttlSeconds * 1000,
      timeoutMs: request.timeoutSeconds * 1000,
    };
    if (!(await state.create(recordKey(id), JSON.stringify(record), this.ttl))) {
      if (!('location' in request.input)) await store.delete(inputKey);
      throw this.taken(id);
    }
    await this.options.tasks.add(
      'async',
      `async-${id}`,
      { id },
      {
        attempts: this.options.attempts ?? 5,
        backoffMs: 1000,
      },
    );
    return this.describe(record);
  }

  /** The status document; NOT_FOUND for an unknown (or forgotten) id. */
  async status(id: string): Promise<ReturnType<AsyncInferences['describe']>> {
    return this.describe(await this.load(id));
  }

  /**
   * The outcome: the answer's bytes and type when completed, the stored error when
   * failed or expired, `undefined` while it waits or runs.
   */
  async result(
    id: string,
  ): Promise<
    | { status: 'completed'; body: Readable; contentType: string }
    | { status: 'failed' | 'expired'; error: InferenceError }
    | undefined
  > {
    const record = await this.load(id);
    if (record.status === 'completed') {
      return {
        status: 'completed',
        body: await this.options.store.get(objectKey(id, 'output')),
        contentType: record.result?.contentType ?? 'application/octet-stream',
      };
    }
    if (record.status === 'failed' || record.status === 'expired') {
      const error = record.error ?? { code: 'INTERNAL', message: 'failed' };
      return { status: record.status, error: new InferenceError(error.code, error.message) };
    }
    return undefined;
  }

  /** The task that runs one inference. */
  async run(data: unknown, attempt: number): Promise<void> {
    const id = (data as { id?: unknown }).id;
    if (typeof id !== 'string') return;
    const found = await this.find(id);
    if (found === undefined || FINISHED.has(found.status)) return;
    let record = found;
    if (Date.now() > record.expiresAt) {
      const seconds = Math.round((record.expiresAt - record.createdAt) / 1000);
      await this.finish(record, 'expired', {
        code: 'TIMEOUT',
        message: `the request waited longer than its TTL of ${seconds} s before it could run`,
      });
      return;
    }
    const model = this.options.models.get(record.model);
    if (model === undefined) {
      await this.finish(record, 'failed', {
        code: 'NOT_FOUND',
        message: `model "${record.model}" is no longer configured`,
      });
      return;
    }
    record = { ...record, status: 'running', startedAt: record.startedAt ?? Date.now() };
    await this.save(record);
    try {
      const body = await this.options.store.getBytes(record.inputKey);
      const { variant, response } = await dispatch(
        model,
        {
          requestId: id,
          logId: id,
          body,
          contentType: record.contentType,
          accept: record.accept,
          customAttributes: record.customAttributes,
          targetModel: undefined,
          targetVariant: record.targetVariant,
          stickyKey: record.stickyKey,
          timeoutMs: record.timeoutMs,
          bodyLocation:
            this.options.storeSharedWithWorkers === true
              ? this.options.store.locate(record.inputKey)
              : undefined,
        },
        this.options.logger,
      );
      record = { ...record, variant };
      if (response.ok) {
        await this.options.store.put(objectKey(id, 'output'), response.body, response.contentType);
        await this.finish(
          {
            ...record,
            result: { contentType: response.contentType, bytes: response.body.byteLength },
          },
          'completed',
          undefined,
        );
        return;
      }
      const retryable = AGAIN.has(response.error.code);
      if (retryable && attempt < (this.options.attempts ?? 5)) {
        throw new InferenceError(response.error.code, response.error.message);
      }
      await this.finish(record, 'failed', {
        code: response.error.code,
        message: response.error.message,
      });
    } catch (error) {
      const inference = toInferenceError(error);
      // Only what may pass is tried again (a backend down, a store unreachable);
      // a missing input fails the same way every time.
      if (AGAIN.has(inference.code) && attempt < (this.options.attempts ?? 5)) {
        await this.save({ ...record, status: 'queued' });
        throw error;
      }
      await this.finish(record, 'failed', { code: inference.code, message: inference.message });
    }
  }

  /** The task that tells a webhook of an outcome; a non-2xx answer is retried. */
  async deliver(data: unknown, attempt: number): Promise<void> {
    const id = (data as { id?: unknown }).id;
    if (typeof id !== 'string') return;
    const record = await this.find(id);
    if (record?.webhookUrl === undefined) return;
    let failure: string | undefined;
    try {
      const response = await fetch(record.webhookUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'User-Agent': 'switchyard-gateway' },
        body: JSON.stringify(this.notification(record)),
        signal: AbortSignal.timeout(this.webhook.timeoutMs),
        redirect: 'manual',
      });
      await response.body?.cancel();
      if (!response.ok) failure = `the webhook answered ${response.status}`;
    } catch (error) {
      failure = `the webhook is unreachable: ${(error as Error).message}`;
    }
    const last = attempt >= this.webhook.attempts;
    await this.save({
      ...record,
      webhook:
        failure === undefined
          ? { status: 'delivered', attempts: attempt }
          : { status: last ? 'failed' : 'pending', attempts: attempt, lastError: failure },
    });
    if (failure !== undefined) {
      this.options.logger.warn(
        { inferenceId: id, attempt, err: failure },
        'webhook delivery failed',
      );
      if (!last) throw new Error(failure);
    }
  }

  private async finish(
    record: AsyncRecord,
    status: Status,
    error: AsyncRecord['error'],
  ): Promise<void> {
    const finished: AsyncRecord = {
      ...record,
      status,
      finishedAt: Date.now(),
      ...(error === undefined ? {} : { error }),
      ...(record.webhookUrl === undefined ? {} : { webhook: { status: 'pending', attempts: 0 } }),
    };
    if (error !== undefined) {
      await this.options.store.put(
        objectKey(record.id, 'error'),
        Buffer.from(JSON.stringify({ inferenceId: record.id, error })),
        'application/json',
      );
    }
    await this.save(finished);
    this.options.logger.info(
      {
        inferenceId: record.id,
        model: record.model,
        variant: record.variant,
        status,
        code: error?.code,
      },
      'async inference finished',
    );
    if (record.webhookUrl !== undefined) {
      await this.options.tasks.add(
        'webhook',
        `webhook-${record.id}`,
        { id: record.id },
        {
          attempts: this.webhook.attempts,
          backoffMs: this.webhook.backoffMs,
        },
      );
    }
  }

  private notification(record: AsyncRecord) {
    const { store } = this.options;
    return {
      inferenceId: record.id,
      model: record.model,
      variant: record.variant ?? null,
      status: record.status,
      finishedAt:
        record.finishedAt === undefined ? null : new Date(record.finishedAt).toISOString(),
      ...(record.status === 'completed'
        ? {
            outputLocation: store.locate(objectKey(record.id, 'output')),
            result: record.result,
          }
        : { failureLocation: store.locate(objectKey(record.id, 'error')), error: record.error }),
    };
  }

  private describe(record: AsyncRecord) {
    const { store } = this.options;
    const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
    return {
      inferenceId: record.id,
      model: record.model,
      status: record.status,
      variant: record.variant ?? null,
      createdAt: iso(record.createdAt),
      startedAt: iso(record.startedAt),
      finishedAt: iso(record.finishedAt),
      expiresAt: iso(record.expiresAt),
      inputLocation: store.locate(record.inputKey),
      outputLocation: store.locate(objectKey(record.id, 'output')),
      failureLocation: store.locate(objectKey(record.id, 'error')),
      result: record.result ?? null,
      error: record.error ?? null,
      webhook: record.webhook ?? null,
      links: {
        self: `/v1/inferences/${record.id}`,
        status: `/v1/inferences/${record.id}/status`,
      },
    };
  }

  private taken(id: string): InferenceError {
    return new InferenceError('CONFLICT', `inference id "${id}" is already in use`);
  }

  private async find(id: string): Promise<AsyncRecord | undefined> {
    const text = await this.options.state.get(recordKey(id));
    return text === undefined ? undefined : (JSON.parse(text) as AsyncRecord);
  }

  private async load(id: string): Promise<AsyncRecord> {
    const record = await this.find(id);
    if (record === undefined) throw new InferenceError('NOT_FOUND', `no async inference ${id}`);
    return record;
  }

  private async save(record: AsyncRecord): Promise<void> {
    await this.options.state.set(recordKey(record.id), JSON.stringify(record), this.ttl);
  }
}
