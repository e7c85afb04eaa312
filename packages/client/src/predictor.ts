import {
  createTensor,
  decode,
  encode,
  isTensor,
  type Decoded,
  type Tensor,
} from '@switchyard/handlers';

/** What `predict` takes: a tensor, nested arrays of numbers, or a typed array. */
export type PredictInput = Tensor | NestedNumbers | Float32Array | Float64Array | Int32Array;

/** Numbers nested to any depth, rectangular: `[[5.1, 3.5], [6.3, 3.3]]`. */
export type NestedNumbers = number | readonly NestedNumbers[];

/** Turns an input into a request body. */
export interface Serializer {
  /** The request's Content-Type. */
  readonly contentType: string;
  serialize(input: PredictInput, shape?: readonly number[]): Uint8Array;
}

/** Turns a response body into a value. */
export interface Deserializer<T = unknown> {
  /** The request's Accept. */
  readonly accept: string;
  deserialize(body: Uint8Array, contentType: string): T;
}

/** An input as a tensor: typed arrays take `shape` (default one dimension). */
export function toTensor(input: PredictInput, shape?: readonly number[]): Tensor {
  if (isTensor(input)) return input;
  if (input instanceof Float32Array) return createTensor('float32', shape ?? [input.length], input);
  if (input instanceof Float64Array) return createTensor('float64', shape ?? [input.length], input);
  if (input instanceof Int32Array) return createTensor('int32', shape ?? [input.length], input);
  const dims: number[] = [];
  let level: NestedNumbers = input;
  while (typeof level !== 'number') {
    dims.push(level.length);
    level = level[0] ?? 0;
  }
  const flat: number[] = [];
  flatten(input, dims, 0, flat);
  return createTensor('float32', shape ?? dims, Float32Array.from(flat));
}

function flatten(value: NestedNumbers, dims: readonly number[], depth: number, out: number[]) {
  if (typeof value === 'number') {
    if (depth !== dims.length) throw new TypeError(`ragged input: a number at depth ${depth}`);
    out.push(value);
    return;
  }
  if (value.length !== dims[depth]) {
    throw new TypeError(
      `ragged input: ${value.length} items at depth ${depth}, ${dims[depth] ?? 0} before`,
    );
  }
  for (const item of value) flatten(item, dims, depth + 1, out);
}

function codecSerializer(contentType: string): Serializer {
  return {
    contentType,
    serialize: (input, shape) => encode(toTensor(input, shape), contentType).body,
  };
}

/** JSON arrays (`application/json`). */
export const jsonSerializer: Serializer = codecSerializer('application/json');
/** Comma-separated rows (`text/csv`); at most two dimensions. */
export const csvSerializer: Serializer = codecSerializer('text/csv');
/** NumPy's `.npy` format (`application/x-npy`): exact float32, no text round trip. */
export const npySerializer: Serializer = codecSerializer('application/x-npy');

function codecDeserializer(accept: string): Deserializer<Decoded> {
  return { accept, deserialize: (body, contentType) => decode(body, contentType) };
}

/** Answers as tensors (or named tensors), whatever format they come in. */
export const jsonDeserializer: Deserializer<Decoded> = codecDeserializer('application/json');
export const csvDeserializer: Deserializer<Decoded> = codecDeserializer('text/csv');
export const npyDeserializer: Deserializer<Decoded> = codecDeserializer('application/x-npy');

/** An error answer from the gateway, with its error code (`INVALID_INPUT`, `TIMEOUT`, …). */
export class PredictorError extends Error {
  override readonly name: string = 'PredictorError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | undefined,
  ) {
    super(message);
  }
}

export interface PredictorOptions<T> {
  /** The gateway's base URL, e.g. `https://gateway.example.com`. */
  readonly endpoint: string;
  /** The model's name on the gateway. */
  readonly model: string;
  /** @defaultValue {@link npySerializer} */
  readonly serializer?: Serializer;
  /** @defaultValue {@link npyDeserializer} */
  readonly deserializer?: Deserializer<T>;
  /** Sent as `Authorization: Bearer …` when the gateway has API keys on. */
  readonly apiKey?: string;
  /** A variant to call instead of the weighted choice. */
  readonly targetVariant?: string;
  /** Passed to the model's handler as SageMaker's custom attributes. */
  readonly customAttributes?: string;
  /** @defaultValue the global `fetch` */
  readonly fetch?: typeof fetch;
}

export interface PredictOptions {
  /** Shape of a typed-array input. @defaultValue one dimension */
  readonly shape?: readonly number[];
  readonly targetVariant?: string;
  readonly customAttributes?: string;
}

/** The answer with what the gateway said about it. */
export interface Prediction<T> {
  readonly value: T;
  /** The variant that answered (`X-Amzn-Invoked-Production-Variant`). */
  readonly variant: string | undefined;
  readonly customAttributes: string | undefined;
}

/**
 * Calls one model through a Switchyard gateway's SageMaker-format route, like
 * SageMaker's `Predictor`: `predict(data)` serializes, invokes and deserializes.
 *
 * @example
 * ```ts
 * const iris = new Predictor({ endpoint: 'http://localhost:8080', model: 'iris' });
 * const probabilities = await iris.predict([[5.1, 3.5, 1.4, 0.2]]);
 * ```
 */
export class Predictor<T = Decoded> {
  private readonly serializer: Serializer;
  private readonly deserializer: Deserializer<T>;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: PredictorOptions<T>) {
    this.serializer = options.serializer ?? npySerializer;
    this.deserializer = options.deserializer ?? (npyDeserializer as Deserializer<T>);
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** The model's answer to `input`. */
  async predict(input: PredictInput, options: PredictOptions = {}): Promise<T> {
    return (await this.invoke(input, options)).value;
  }

  /** The answer, the variant that gave it and the custom attributes it returned. */
  async invoke(input: PredictInput, options: PredictOptions = {}): Promise<Prediction<T>> {
    const headers: Record<string, string> = {
      'Content-Type': this.serializer.contentType,
      Accept: this.deserializer.accept,
    };
    const variant = options.targetVariant ?? this.options.targetVariant;
    const attributes = options.customAttributes ?? this.options.customAttributes;
    if (variant !== undefined) headers['X-Amzn-SageMaker-Target-Variant'] = variant;
    if (attributes !== undefined) headers['X-Amzn-SageMaker-Custom-Attributes'] = attributes;
    if (this.options.apiKey !== undefined)
      headers['Authorization'] = `Bearer ${this.options.apiKey}`;
    const url = `${this.options.endpoint.replace(/\/+$/, '')}/endpoints/${encodeURIComponent(this.options.model)}/invocations`;
    const response = await this.fetch(url, {
      method: 'POST',
      headers,
      body: this.serializer.serialize(input, options.shape),
    });
    const body = new Uint8Array(await response.arrayBuffer());
    if (!response.ok) throw errorOf(response, body);
    return {
      value: this.deserializer.deserialize(
        body,
        response.headers.get('Content-Type') ?? this.deserializer.accept,
      ),
      variant: response.headers.get('X-Amzn-Invoked-Production-Variant') ?? undefined,
      customAttributes: response.headers.get('X-Amzn-SageMaker-Custom-Attributes') ?? undefined,
    };
  }
}

/**
 * The error code and message of a gateway's error answer (`{"error": {"code",
 * "message"}}`), or `HTTP_ERROR` and the status for any other answer.
 */
export function errorFields(response: Response, text: string): { code: string; message: string } {
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    const { code, message } = parsed.error ?? {};
    if (typeof code === 'string' && typeof message === 'string') return { code, message };
  } catch {
    // not the gateway's JSON error: described below
  }
  return {
    code: 'HTTP_ERROR',
    message: `the gateway answered ${response.status} ${response.statusText}`,
  };
}

function errorOf(response: Response, body: Uint8Array): PredictorError {
  const { code, message } = errorFields(response, new TextDecoder().decode(body));
  return new PredictorError(
    response.status,
    code,
    message,
    response.headers.get('X-Request-Id') ?? undefined,
  );
}
