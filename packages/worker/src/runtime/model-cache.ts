import { InferenceError, type HandlerLogger } from '@switchyard/handlers';

export interface ModelCacheOptions<TValue> {
  /** Most bytes of models held at once: loaded, loading or still unloading. */
  readonly budgetBytes: number;
  /**
   * Most models held at once.
   * @defaultValue Infinity
   */
  readonly maxModels?: number;
  /** Frees an entry (for a model host, `host.close()`). */
  readonly unload: (key: string, value: TValue) => Promise<void>;
  /** Loads and unloads are logged at info. */
  readonly logger?: HandlerLogger;
}

export interface AcquireOptions {
  /**
   * What the entry will count against the budget, estimated before it loads: the
   * space is made (idle models unloaded) before the load starts, so that memory
   * never holds more than the budget. Only the acquire that starts a load uses it.
   */
  readonly bytes: number;
  /** Epoch ms after which this caller stops waiting for the entry (429). */
  readonly deadline?: number;
}

/** The use of a cached entry: it is not unloaded until every lease is released. */
export interface CacheLease<TValue> {
  readonly value: TValue;
  /** Ends the use; a second call does nothing. */
  release(): void;
}

/** What the cache holds, for health and metrics. */
export interface CacheEntryInfo {
  readonly key: string;
  readonly bytes: number;
  /** Leases held. */
  readonly inUse: number;
  /** Epoch ms of the last acquire or release. */
  readonly lastUsed: number;
  readonly state: 'loading' | 'loaded' | 'unloading';
}

interface Waiter<TValue> {
  resolve(lease: CacheLease<TValue>): void;
  reject(error: unknown): void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

interface Entry<TValue> {
  readonly key: string;
  readonly bytes: number;
  readonly load: () => Promise<TValue>;
  /** `queued`: waiting for room, holding no bytes yet. */
  state: 'queued' | 'loading' | 'loaded' | 'unloading';
  value: TValue | undefined;
  leases: number;
  readonly waiters: Set<Waiter<TValue>>;
  lastUsed: number;
  /** Order of use, for least-recently-used: Date.now() ties within a millisecond. */
  useOrder: number;
  /** Evicted or closed: unload as soon as it is idle, and hand out no new leases. */
  doomed: boolean;
  readonly gone: Promise<void>;
  readonly markGone: () => void;
}

/**
 * Keeps loaded models within a memory budget, as a SageMaker multi-model endpoint
 * does: a model loads on first use, and idle models are unloaded least recently
 * used first to make room. A model in use is never unloaded; a caller that needs
 * room held by models in use waits, and gets a 429 (`TOO_MANY_REQUESTS`, SageMaker's
 * ModelNotReadyException) if its deadline passes first.
 *
 * Loads wait for room in arrival order, so that a large model is not passed over
 * forever by small ones. A load whose callers all gave up keeps its place and still
 * runs: the 429 tells them to retry, and the retry should find it loaded.
 *
 * @example
 * ```ts
 * const cache = new ModelCache<ModelHost>({ budgetBytes, unload: (_, host) => host.close() });
 * const lease = await cache.acquire('iris', () => startModelHost(options), { bytes, deadline });
 * try {
 *   return await lease.value.invoke(request);
 * } finally {
 *   lease.release();
 * }
 * ```
 */
export class ModelCache<TValue> {
  readonly #budgetBytes: number;
  readonly #maxModels: number;
  readonly #unload: (key: string, value: TValue) => Promise<void>;
  readonly #logger: HandlerLogger | undefined;
  /** The entry each key resolves to: queued, loading or loaded, never doomed. */
  readonly #live = new Map<string, Entry<TValue>>();
  /** Entries waiting for room, first come first served. */
  readonly #queue: Entry<TValue>[] = [];
  /** Entries holding bytes: loading, loaded (live or doomed) and unloading. */
  readonly #held = new Set<Entry<TValue>>();
  #useCounter = 0;
  #closed = false;

  constructor(options: ModelCacheOptions<TValue>) {
    const { budgetBytes, maxModels = Infinity, unload, logger } = options;
    if (!(budgetBytes >= 0 && Number.isFinite(budgetBytes))) {
      throw new RangeError(`budgetBytes must be a finite number ≥ 0, not ${budgetBytes}`);
    }
    if (!(maxModels >= 1 && (Number.isInteger(maxModels) || maxModels === Infinity))) {
      throw new RangeError(`maxModels must be a whole number ≥ 1 or Infinity, not ${maxModels}`);
    }
    this.#budgetBytes = budgetBytes;
    this.#maxModels = maxModels;
    this.#unload = unload;
    this.#logger = logger;
  }

  /** Bytes of the models held now, including those loading and unloading. */
  get bytesHeld(): number {
    let sum = 0;
    for (const entry of this.#held) sum += entry.bytes;
    return sum;
  }

  /** What is held now (loading, loaded, unloading), for health and metrics. */
  entries(): readonly CacheEntryInfo[] {
    return [...this.#held].map(({ key, bytes, leases, lastUsed, state }) => ({
      key,
      bytes,
      inUse: leases,
      lastUsed,
      state: state === 'queued' ? 'loading' : state,
    }));
  }

  /** Use the entry for `key`, loading it with `load` if absent. */
  acquire(
    key: string,
    load: () => Promise<TValue>,
    options: AcquireOptions,
  ): Promise<CacheLease<TValue>> {
    if (this.#closed) {
      return Promise.reject(new InferenceError('UNAVAILABLE', 'the model cache is closed'));
    }
    let entry = this.#live.get(key);
    if (entry?.state === 'loaded') return Promise.resolve(this.#lease(entry));
    if (entry === undefined) {
      const { bytes } = options;
      if (!(bytes >= 0 && Number.isFinite(bytes))) {
        return Promise.reject(new RangeError(`bytes must be a finite number ≥ 0, not ${bytes}`));
      }
      if (bytes > this.#budgetBytes) {
        const why = `model "${key}" needs ${bytes} bytes, over the worker's memory budget of ${this.#budgetBytes} bytes`;
        return Promise.reject(new InferenceError('UNAVAILABLE', why));
      }
      entry = this.#newEntry(key, bytes, load);
      this.#live.set(key, entry);
      this.#queue.push(entry);
    }
    const waiting = entry;
    return new Promise((resolve, reject) => {
      const waiter: Waiter<TValue> = { resolve, reject, timer: undefined };
      waiting.waiters.add(waiter);
      if (options.deadline !== undefined) {
        waiter.timer = setTimeout(() => {
          this.#giveUp(waiting, waiter);
        }, options.deadline - Date.now());
      }
      this.#pump();
    });
  }

  /**
   * Unload `key` once no lease holds it (a removed deployment); acquires from now
   * on load it anew. Resolves once it is unloaded.
   */
  async evict(key: string): Promise<void> {
    const entry = this.#live.get(key);
    if (entry !== undefined) this.#doom(entry);
    const doomed = [...this.#held, ...this.#queue].filter((e) => e.key === key && e.doomed);
    await Promise.all(doomed.map((e) => e.gone));
  }

  /** Unload everything, leases or not: call it once consumers have stopped. */
  async close(): Promise<void> {
    this.#closed = true;
    const closing = new InferenceError('UNAVAILABLE', 'the model cache is closed');
    for (const entry of this.#queue.splice(0)) {
      this.#live.delete(entry.key);
      this.#rejectWaiters(entry, closing);
      entry.markGone();
    }
    const all = [...this.#held];
    for (const entry of all) {
      this.#rejectWaiters(entry, closing); // of a load under way: it is unloaded once done
      this.#doom(entry);
      if (entry.state === 'loaded') this.#startUnload(entry);
    }
    await Promise.all(all.map((entry) => entry.gone));
  }

  #newEntry(key: string, bytes: number, load: () => Promise<TValue>): Entry<TValue> {
    let markGone = () => {};
    const gone = new Promise<void>((resolve) => (markGone = resolve));
    return {
      key,
      bytes,
      load,
      state: 'queued',
      value: undefined,
      leases: 0,
      waiters: new Set(),
      lastUsed: Date.now(),
      useOrder: this.#useCounter++,
      doomed: false,
      gone,
      markGone,
    };
  }

  #touch(entry: Entry<TValue>): void {
    entry.lastUsed = Date.now();
    entry.useOrder = this.#useCounter++;
  }

  #lease(entry: Entry<TValue>): CacheLease<TValue> {
    entry.leases++;
    this.#touch(entry);
    const value = entry.value as TValue;
    let released = false;
    return {
      value,
      release: () => {
        if (released) return;
        released = true;
        entry.leases--;
        this.#touch(entry);
        if (entry.leases > 0) return;
        if (entry.doomed) this.#startUnload(entry);
        else this.#pump();
      },
    };
  }

  #doom(entry: Entry<TValue>): void {
    entry.doomed = true;
    if (this.#live.get(entry.key) === entry) this.#live.delete(entry.key);
    if (entry.state === 'queued' && entry.waiters.size === 0) this.#dropQueued(entry);
    else if (entry.state === 'loaded' && entry.leases === 0) this.#startUnload(entry);
  }

  #dropQueued(entry: Entry<TValue>): void {
    this.#queue.splice(this.#queue.indexOf(entry), 1);
    entry.markGone();
    this.#pump(); // the next in line may fit now
  }

  #giveUp(entry: Entry<TValue>, waiter: Waiter<TValue>): void {
    entry.waiters.delete(waiter);
    const why =
      entry.state === 'queued'
        ? 'waiting for memory that models in use hold'
        : 'it is still loading';
    waiter.reject(
      new InferenceError('TOO_MANY_REQUESTS', `model "${entry.key}" is not loaded yet: ${why}`),
    );
    if (entry.doomed && entry.state === 'queued' && entry.waiters.size === 0) {
      this.#dropQueued(entry);
    }
  }

  #rejectWaiters(entry: Entry<TValue>, error: unknown): void {
    for (const waiter of entry.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    entry.waiters.clear();
  }

  /** Start the loads at the head of the queue that fit, making room for the first that does not. */
  #pump(): void {
    while (!this.#closed) {
      const head = this.#queue[0];
      if (head === undefined) return;
      let bytes = this.bytesHeld;
      let models = this.#held.size;
      const fits = () => bytes + head.bytes <= this.#budgetBytes && models + 1 <= this.#maxModels;
      if (fits()) {
        this.#queue.shift();
        this.#startLoad(head);
        continue;
      }
      // Room that unloads under way will free, then idle models, least recently used first.
      const idle: Entry<TValue>[] = [];
      for (const entry of this.#held) {
        if (entry.state === 'unloading') {
          bytes -= entry.bytes;
          models--;
        } else if (entry.state === 'loaded' && entry.leases === 0) {
          idle.push(entry);
        }
      }
      idle.sort((a, b) => a.useOrder - b.useOrder);
      const victims: Entry<TValue>[] = [];
      for (const entry of idle) {
        if (fits()) break;
        victims.push(entry);
        bytes -= entry.bytes;
        models--;
      }
      // Unload nothing unless that makes room: models in use must first be released.
      if (fits()) for (const entry of victims) this.#startUnload(entry);
      return;
    }
  }

  #startLoad(entry: Entry<TValue>): void {
    entry.state = 'loading';
    this.#held.add(entry);
    const started = performance.now();
    // A microtask later, so that a load that calls back into the cache finds it consistent.
    Promise.resolve()
      .then(() => entry.load())
      .then(
        (value) => {
          entry.state = 'loaded';
          entry.value = value;
          this.#logger?.info(
            {
              model: entry.key,
              bytes: entry.bytes,
              bytesHeld: this.bytesHeld,
              ms: Math.round(performance.now() - started),
            },
            'model loaded',
          );
          // Leases are taken here, synchronously, so no unload can slip in before the waiters run.
          for (const waiter of entry.waiters) {
            clearTimeout(waiter.timer);
            waiter.resolve(this.#lease(entry));
          }
          entry.waiters.clear();
          if (entry.doomed && entry.leases === 0) this.#startUnload(entry);
          else this.#pump(); // an idle newcomer may be what the queue's head can unload
        },
        (error: unknown) => {
          this.#held.delete(entry);
          if (this.#live.get(entry.key) === entry) this.#live.delete(entry.key);
          this.#logger?.warn(
            { model: entry.key, err: error instanceof Error ? error.message : String(error) },
            'model failed to load',
          );
          this.#rejectWaiters(entry, error);
          entry.markGone();
          this.#pump();
        },
      );
  }

  #startUnload(entry: Entry<TValue>): void {
    if (entry.state !== 'loaded') return;
    entry.state = 'unloading';
    if (this.#live.get(entry.key) === entry) this.#live.delete(entry.key);
    const value = entry.value as TValue;
    entry.value = undefined;
    Promise.resolve()
      .then(() => this.#unload(entry.key, value))
      .catch((error: unknown) => {
        // Nothing more can be done for it; keeping its bytes reserved would shrink the budget for good.
        this.#logger?.error(
          { model: entry.key, err: error instanceof Error ? error.message : String(error) },
          'model failed to unload',
        );
      })
      .finally(() => {
        this.#held.delete(entry);
        this.#logger?.info(
          { model: entry.key, bytes: entry.bytes, bytesHeld: this.bytesHeld },
          'model unloaded',
        );
        entry.markGone();
        this.#pump();
      });
  }
}
