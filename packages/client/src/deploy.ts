import {
  HTTP_STATUS_BY_CODE,
  type Decoded,
  type DeploymentState,
  type InferenceErrorCode,
  type ModelSettings,
} from '@switchyard/handlers';
import { errorFields, Predictor, PredictorError, type PredictorOptions } from './predictor.js';

/** Where a variant runs, as `PUT /v1/admin/models/{model}/variants/{variant}` takes it. */
export type DeployBackend =
  | {
      readonly type: 'queue';
      /** Multi-model workers started with `--pool` this name serve it. @defaultValue `'default'` */
      readonly pool?: string;
      readonly maxWaiting?: number;
      readonly attempts?: number;
    }
  /** The gateway runs the model in its own process. */
  | { readonly type: 'local' }
  | {
      readonly type: 'sagemaker';
      readonly endpointName: string;
      readonly region?: string;
      readonly endpoint?: string;
      readonly targetVariant?: string;
      readonly targetModel?: string;
    };

export interface DeployOptions<T = Decoded> extends PredictorOptions<T> {
  /** The variant to add, or to replace with a new revision. */
  readonly variant: string;
  /**
   * The model archive: bytes of a `model.tar.gz` (uploaded through
   * `POST /v1/admin/artifacts`), or a location the gateway and its workers can read
   * (`s3://…`, an uploaded archive's `modelData`), used as is. Absent for SageMaker backends.
   */
  readonly modelData?: Uint8Array | Blob | string;
  /** Relative share of the model's traffic once in service. @defaultValue 1 */
  readonly weight?: number;
  /** @defaultValue the gateway's: a queue served by the `default` worker pool */
  readonly backend?: DeployBackend;
  readonly batching?: { readonly maxBatchSize?: number; readonly maxDelayMs?: number };
  /** `modelData` is a prefix of archives that requests name (queue backends). */
  readonly multiModel?: boolean;
  /**
   * Create the model when it does not exist (with these settings, if an object); a
   * model that exists is left as it is.
   * @defaultValue true
   */
  readonly createModel?: boolean | ModelSettings;
  /** How long to wait for the variant to be in service, from its registration. @defaultValue 300000 (5 minutes) */
  readonly timeoutMs?: number;
  /** @defaultValue 250 */
  readonly pollIntervalMs?: number;
  /** Stops waiting (and any request in flight); the variant stays registered. */
  readonly signal?: AbortSignal;
}

/**
 * A deployment that did not reach service: the gateway refused a call (its code,
 * `state` undefined), the variant failed to load (`MODEL_ERROR`, `state` `'Failed'`
 * and the loader's `reason`), or it was not in service in time (`TIMEOUT`, the last
 * `state`). The variant stays registered in the last two cases.
 */
export class DeployError extends PredictorError {
  override readonly name: string = 'DeployError';

  constructor(
    status: number,
    code: string,
    message: string,
    requestId: string | undefined,
    readonly state: DeploymentState | undefined,
    readonly reason: string | undefined,
  ) {
    super(status, code, message, requestId);
  }
}

/** What the client reads of the gateway's variant view. */
interface VariantView {
  readonly state: DeploymentState;
  readonly reason?: string;
  readonly revision?: number;
}

const DEFAULT_TIMEOUT_MS = 5 * 60_000;
const DEFAULT_POLL_INTERVAL_MS = 250;

/**
 * Registers a variant of a model on a Switchyard gateway, waits until it is in
 * service and returns a {@link Predictor} for the model, like SageMaker's
 * `Model.deploy()`. The predictor calls the model (the weighted choice of its
 * variants) unless `targetVariant` pins it to one. Needs an admin key when the
 * gateway has keys on.
 *
 * @example
 * ```ts
 * const iris = await deploy({
 *   endpoint: 'http://localhost:8080',
 *   model: 'iris',
 *   variant: 'v3',
 *   modelData: 's3://models/iris/v3/model.tar.gz',
 *   apiKey: process.env.SWITCHYARD_ADMIN_KEY,
 * });
 * await iris.predict([[5.1, 3.5, 1.4, 0.2]]);
 * ```
 */
export async function deploy<T = Decoded>(options: DeployOptions<T>): Promise<Predictor<T>> {
  const {
    variant,
    modelData,
    weight,
    backend,
    batching,
    multiModel,
    createModel = true,
    timeoutMs = DEFAULT_TIMEOUT_MS,
    pollIntervalMs = DEFAULT_POLL_INTERVAL_MS,
    signal,
    ...predictorOptions
  } = options;
  const { model } = options;
  const call = (method: string, path: string, body?: Body) => request(options, method, path, body);
  if (createModel !== false) {
    const settings = createModel === true ? {} : createModel;
    // A model that exists (registered, or in the gateway's configuration) answers 409.
    await call('POST', '/v1/admin/models', json({ name: model, ...settings })).catch(
      (error: unknown) => {
        if ((error as { code?: unknown }).code !== 'CONFLICT') throw error;
      },
    );
  }
  const location =
    modelData === undefined || typeof modelData === 'string'
      ? modelData
      : (
          (await call('POST', '/v1/admin/artifacts', { data: modelData, type: 'application/gzip' }))
            .value as { modelData: string }
        ).modelData;
  const path = `/v1/admin/models/${encodeURIComponent(model)}/variants/${encodeURIComponent(variant)}`;
  const put = { weight, backend, modelData: location, multiModel, batching };
  let answer = await call('PUT', path, json(put));
  const revision = (answer.value as VariantView).revision;
  const deadline = Date.now() + timeoutMs;
  const where = `variant "${variant}" of "${model}"`;
  for (;;) {
    const view = answer.value as VariantView;
    const failure = (code: InferenceErrorCode, message: string) =>
      new DeployError(
        HTTP_STATUS_BY_CODE[code],
        code,
        message,
        answer.requestId,
        view.state,
        view.reason,
      );
    if (view.revision !== revision) {
      throw failure(
        'CONFLICT',
        `${where} was replaced by revision ${view.revision ?? '?'} while waiting for revision ${revision ?? '?'}`,
      );
    }
    if (view.state === 'InService') return new Predictor<T>(predictorOptions);
    if (view.state === 'Failed') {
      throw failure(
        'MODEL_ERROR',
        `${where} failed (state Failed): ${view.reason ?? 'no reason given'}`,
      );
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw failure(
        'TIMEOUT',
        `${where} is not in service after ${timeoutMs} ms (last state ${view.state})`,
      );
    }
    await sleep(Math.min(pollIntervalMs, left), signal);
    answer = await call('GET', path);
  }
}

interface Body {
  readonly data: string | Uint8Array | Blob;
  readonly type: string;
}

const json = (value: unknown): Body => ({ data: JSON.stringify(value), type: 'application/json' });

/** One call to the gateway's admin routes; an error answer throws a {@link DeployError}. */
async function request(
  options: DeployOptions<unknown>,
  method: string,
  path: string,
  body?: Body,
): Promise<{ value: unknown; requestId: string | undefined }> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = body.type;
  if (options.apiKey !== undefined) headers['Authorization'] = `Bearer ${options.apiKey}`;
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  const response = await fetchFn(`${options.endpoint.replace(/\/+$/, '')}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: body.data }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const text = await response.text();
  const requestId = response.headers.get('X-Request-Id') ?? undefined;
  if (!response.ok) throw gatewayError(response, text, requestId);
  return { value: text === '' ? undefined : JSON.parse(text), requestId };
}

function gatewayError(response: Response, text: string, requestId: string | undefined) {
  const { code, message } = errorFields(response, text);
  return new DeployError(response.status, code, message, requestId, undefined, undefined);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
