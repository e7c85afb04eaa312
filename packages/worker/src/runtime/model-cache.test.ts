import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MODELS, request, silentLogger, text } from '../../test/fixtures.js';
import { ModelCache, type CacheLease, type ModelCacheOptions } from './model-cache.js';
import { startModelHost, type ModelHost } from './model-host.js';

interface Deferred<T = void> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every callback already due run: microtasks and immediates. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A cache of strings that records its unloads; loads are made by `loader`. */
function stringCache(options: Partial<ModelCacheOptions<string>> & { budgetBytes: number }) {
  const unloaded: string[] = [];
  const cache = new ModelCache<string>({
    unload: (_key, value) => {
      unloaded.push(value);
      return Promise.resolve();
    },
    ...options,
  });
  return { cache, unloaded };
}

/** A loader that counts its calls and answers `${key}#${call}`. */
function loader(key: string) {
  const counter = {
    calls: 0,
    load: () => Promise.resolve(`${key}#${++counter.calls}`),
  };
  return counter;
}

/** Acquire and release at once: the entry is loaded and idle afterwards. */
async function use(cache: ModelCache<string>, key: string, bytes: number): Promise<string> {
  const lease = await cache.acquire(key, loader(key).load, { bytes });
  lease.release();
  return lease.value;
}

describe('ModelCache', () => {
  it('shares one load between concurrent acquires of the same key', async () => {
    const { cache } = stringCache({ budgetBytes: 100 });
    const gate = deferred<string>();
    let calls = 0;
    const load = () => {
      calls++;
      return gate.promise;
    };
    const leases = [1, 2, 3].map(() => cache.acquire('a', load, { bytes: 10 }));
    await settle();
    expect(cache.entries()).toMatchObject([{ key: 'a', bytes: 10, state: 'loading' }]);
    gate.resolve('model-a');
    const values = (await Promise.all(leases)).map((lease) => lease.value);
    expect(calls).toBe(1);
    expect(values).toEqual(['model-a', 'model-a', 'model-a']);
    expect(cache.entries()).toMatchObject([{ key: 'a', inUse: 3, state: 'loaded' }]);
  });

  it('unloads idle entries least recently used first, before the new load starts', async () => {
    const unloads = new Map<string, Deferred>();
    const order: string[] = [];
    const cache = new ModelCache<string>({
      budgetBytes: 100,
      unload: (key) => {
        order.push(`unload ${key}`);
        const gate = deferred();
        unloads.set(key, gate);
        return gate.promise;
      },
    });
    await use(cache, 'a', 40);
    await use(cache, 'b', 40);
    await use(cache, 'a', 40); // b is now the least recently used
    const c = cache.acquire(
      'c',
      () => {
        order.push('load c');
        return Promise.resolve('c');
      },
      { bytes: 40 },
    );
    await settle();
    // b's memory is not free until its unload finishes: c has not started loading.
    expect(order).toEqual(['unload b']);
    expect(cache.bytesHeld).toBe(80);
    expect(cache.entries()).toMatchObject([
      { key: 'a', state: 'loaded' },
      { key: 'b', state: 'unloading' },
    ]);
    unloads.get('b')?.resolve();
    expect((await c).value).toBe('c');
    expect(order).toEqual(['unload b', 'load c']);
    expect(cache.entries().map((entry) => entry.key)).toEqual(['a', 'c']);
  });

  it('unloads the least recently used entry to stay within maxModels', async () => {
    const { cache, unloaded } = stringCache({ budgetBytes: 1000, maxModels: 2 });
    await use(cache, 'a', 1);
    await use(cache, 'b', 1);
    await use(cache, 'a', 1);
    await use(cache, 'c', 1);
    expect(unloaded).toEqual(['b#1']);
    expect(cache.entries().map((entry) => entry.key)).toEqual(['a', 'c']);
  });

  it('unloads only as many entries as the new one needs', async () => {
    const { cache, unloaded } = stringCache({ budgetBytes: 100 });
    await use(cache, 'a', 30);
    await use(cache, 'b', 30);
    await use(cache, 'c', 30);
    await use(cache, 'd', 40);
    expect(unloaded).toEqual(['a#1']);
    expect(cache.bytesHeld).toBe(100);
  });

  it('counts an unload under way as room being made, and unloads no more', async () => {
    const unloads: string[] = [];
    const gate = deferred();
    const cache = new ModelCache<string>({
      budgetBytes: 100,
      unload: (key) => {
        unloads.push(key);
        return gate.promise;
      },
    });
    await use(cache, 'a', 40);
    await use(cache, 'b', 40);
    await use(cache, 'c', 20);
    const d = cache.acquire('d', loader('d').load, { bytes: 40 });
    await settle();
    expect(unloads).toEqual(['a']);
    await use(cache, 'c', 20); // its release looks for room again while a is unloading
    await settle();
    expect(unloads).toEqual(['a']);
    gate.resolve();
    expect((await d).value).toBe('d#1');
    expect(unloads).toEqual(['a']);
  });

  it('never unloads an entry in use: a newcomer waits, or gets a 429 at its deadline', async () => {
    const { cache, unloaded } = stringCache({ budgetBytes: 100 });
    const a = await cache.acquire('a', loader('a').load, { bytes: 60 });
    const b = loader('b');

    await expect(
      cache.acquire('b', b.load, { bytes: 60, deadline: Date.now() + 5 }),
    ).rejects.toMatchObject({
      name: 'InferenceError',
      code: 'TOO_MANY_REQUESTS',
      status: 429,
      message: expect.stringMatching(/^model "b" is not loaded yet: /) as unknown,
    });
    expect(unloaded).toEqual([]);
    expect(b.calls).toBe(0);

    let waited = false;
    const later = cache.acquire('b', b.load, { bytes: 60 }).then((lease) => {
      waited = true;
      return lease;
    });
    await settle();
    expect(waited).toBe(false);
    a.release();
    expect((await later).value).toBe('b#1');
    expect(unloaded).toEqual(['a#1']);
    expect(b.calls).toBe(1);
  });

  it('gives a 429 to a caller whose deadline passes during the load, which goes on for later ones', async () => {
    const { cache } = stringCache({ budgetBytes: 100 });
    const gate = deferred<string>();
    let calls = 0;
    const load = () => {
      calls++;
      return gate.promise;
    };
    await expect(
      cache.acquire('a', load, { bytes: 10, deadline: Date.now() + 2 }),
    ).rejects.toMatchObject({
      code: 'TOO_MANY_REQUESTS',
      message: 'model "a" is not loaded yet: it is still loading',
    });
    const later = cache.acquire('a', load, { bytes: 10 });
    gate.resolve('model-a');
    expect((await later).value).toBe('model-a');
    expect(calls).toBe(1);
  });

  it('refuses at once a model larger than the whole budget', async () => {
    const { cache } = stringCache({ budgetBytes: 100 });
    const a = loader('a');
    await expect(cache.acquire('a', a.load, { bytes: 101 })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: `model "a" needs 101 bytes, over the worker's memory budget of 100 bytes`,
    });
    expect(a.calls).toBe(0);
    expect(cache.entries()).toEqual([]);
  });

  it('does not cache a failed load: every waiter gets the error, the next acquire tries again', async () => {
    const { cache } = stringCache({ budgetBytes: 100 });
    const boom = new Error('no such model');
    let calls = 0;
    const failing = () => {
      calls++;
      return Promise.reject(boom);
    };
    const waiters = [1, 2].map(() => cache.acquire('a', failing, { bytes: 100 }));
    // Queued behind the failing load for want of room: it gets the room back.
    const other = cache.acquire('b', loader('b').load, { bytes: 100 });
    for (const waiter of waiters) await expect(waiter).rejects.toBe(boom);
    expect(calls).toBe(1);
    const b = await other;
    expect(b.value).toBe('b#1');
    b.release();
    expect((await cache.acquire('a', loader('a').load, { bytes: 100 })).value).toBe('a#1');
    expect(cache.bytesHeld).toBe(100);
  });

  it('unloads an evicted entry once its last lease is released; later acquires load it anew', async () => {
    const { cache, unloaded } = stringCache({ budgetBytes: 100 });
    const a = loader('a');
    const first = await cache.acquire('a', a.load, { bytes: 10 });
    const second = await cache.acquire('a', a.load, { bytes: 10 });
    let evicted = false;
    const eviction = cache.evict('a').then(() => (evicted = true));

    const fresh = await cache.acquire('a', a.load, { bytes: 10 });
    expect(fresh.value).toBe('a#2');
    expect(first.value).toBe('a#1');
    first.release();
    await settle();
    expect(unloaded).toEqual([]);
    expect(evicted).toBe(false);
    second.release();
    await eviction;
    expect(unloaded).toEqual(['a#1']);
    expect(cache.entries()).toMatchObject([{ key: 'a', inUse: 1, state: 'loaded' }]);
  });

  it('takes a second release of the same lease as a no-op', async () => {
    const { cache, unloaded } = stringCache({ budgetBytes: 100 });
    const one = await cache.acquire('a', loader('a').load, { bytes: 60 });
    const two = await cache.acquire('a', loader('a').load, { bytes: 60 });
    one.release();
    one.release();
    expect(cache.entries()).toMatchObject([{ key: 'a', inUse: 1 }]);
    // Were the second release counted, `a` would look idle and be unloaded for `b`.
    const b = cache.acquire('b', loader('b').load, { bytes: 60, deadline: Date.now() + 5 });
    await expect(b).rejects.toMatchObject({ code: 'TOO_MANY_REQUESTS' });
    expect(unloaded).toEqual([]);
    two.release();
    expect(cache.entries()).toMatchObject([{ key: 'a', inUse: 0 }]);
  });

  it('unloads everything on close and refuses acquires afterwards', async () => {
    const { cache, unloaded } = stringCache({ budgetBytes: 100 });
    await use(cache, 'a', 10);
    const held = await cache.acquire('b', loader('b').load, { bytes: 10 });
    await cache.close();
    expect(unloaded.sort()).toEqual(['a#1', 'b#1']);
    expect(cache.bytesHeld).toBe(0);
    held.release();
    await expect(cache.acquire('a', loader('a').load, { bytes: 10 })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
  });
});

/** 0–2: that many microtasks; 3–5: a timer of 0–2 ms. */
const delayArb = fc.integer({ min: 0, max: 5 });
async function delay(n: number): Promise<void> {
  if (n >= 3) {
    await new Promise((resolve) => setTimeout(resolve, n - 3));
  } else {
    for (let i = 0; i < n; i++) await Promise.resolve();
  }
}

const oneIn = (n: number) => fc.nat({ max: n - 1 }).map((i) => i === 0);

interface Model {
  readonly key: string;
  readonly generation: number;
  unloads: number;
  leases: number;
}

describe('ModelCache under random concurrent use', () => {
  it('keeps memory within the budget and hands each caller the model loaded for its key', async () => {
    const step = fc.record({
      key: fc.nat({ max: 5 }),
      hold: delayArb,
      deadline: fc.option(fc.integer({ min: 0, max: 4 })),
      releaseTwice: fc.boolean(),
      evict: oneIn(5),
    });
    const scenario = fc.record({
      budget: fc.integer({ min: 10, max: 100 }),
      maxModels: fc.oneof(fc.constant(Infinity), fc.integer({ min: 1, max: 4 })),
      sizes: fc.array(fc.integer({ min: 0, max: 60 }), { minLength: 1, maxLength: 6 }),
      loads: fc.array(fc.record({ delay: delayArb, fails: oneIn(4) }), {
        minLength: 1,
        maxLength: 8,
      }),
      unloadDelays: fc.array(delayArb, { minLength: 1, maxLength: 4 }),
      clients: fc.array(fc.array(step, { maxLength: 6 }), { minLength: 1, maxLength: 6 }),
    });

    await fc.assert(
      fc.asyncProperty(
        scenario,
        async ({ budget, maxModels, sizes, loads, unloadDelays, clients }) => {
          const sizeOf = (key: string) => sizes[Number(key.slice(1)) % sizes.length] ?? 0;
          // What is really in memory: counted from the moment a load starts until its unload ends.
          let memory = 0;
          let models = 0;
          let generation = 0;
          let unloadCalls = 0;
          const loaded: Model[] = [];
          // Recorded rather than thrown: the cache would catch a throw from `unload`.
          const failures: string[] = [];
          const check = () => {
            const held = cache.bytesHeld;
            if (memory > budget) failures.push(`memory ${memory} > budget ${budget}`);
            if (models > maxModels) failures.push(`${models} models > maxModels ${maxModels}`);
            if (held > budget) failures.push(`bytesHeld ${held} > budget ${budget}`);
            if (held < memory) failures.push(`bytesHeld ${held} < memory ${memory}`);
          };
          const cache: ModelCache<Model> = new ModelCache<Model>({
            budgetBytes: budget,
            maxModels,
            unload: async (key, model) => {
              if (model.key !== key) failures.push(`unload("${key}") got ${model.key}`);
              if (model.leases > 0) failures.push(`${key} unloaded with ${model.leases} leases`);
              if (model.unloads > 0) failures.push(`${key} unloaded twice`);
              await delay(unloadDelays[unloadCalls++ % unloadDelays.length] ?? 0);
              model.unloads++;
              memory -= sizeOf(key);
              models--;
              check();
            },
          });
          const loaderFor = (key: string) => async (): Promise<Model> => {
            const plan = loads[generation % loads.length] ?? { delay: 0, fails: false };
            const model: Model = { key, generation: ++generation, unloads: 0, leases: 0 };
            memory += sizeOf(key);
            models++;
            check();
            await delay(plan.delay);
            if (plan.fails) {
              memory -= sizeOf(key);
              models--;
              throw new Error('load failed');
            }
            loaded.push(model);
            return model;
          };

          const evictions: Promise<void>[] = [];
          const run = async (steps: (typeof clients)[number]) => {
            for (const { key: k, hold, deadline, releaseTwice, evict } of steps) {
              const key = `k${k}`;
              if (evict) {
                evictions.push(cache.evict(key));
                continue;
              }
              const bytes = sizeOf(key);
              let lease: CacheLease<Model>;
              try {
                lease = await cache.acquire(key, loaderFor(key), {
                  bytes,
                  ...(deadline === null ? {} : { deadline: Date.now() + deadline }),
                });
              } catch (error) {
                if (bytes > budget) expect(error).toMatchObject({ code: 'UNAVAILABLE' });
                else if (deadline !== null && (error as { code?: unknown }).code !== undefined) {
                  expect(error).toMatchObject({ code: 'TOO_MANY_REQUESTS' });
                } else expect(error).toMatchObject({ message: 'load failed' });
                continue;
              }
              const model = lease.value;
              expect(model.key).toBe(key);
              expect(loaded).toContain(model);
              expect(model.unloads).toBe(0);
              model.leases++;
              check();
              await delay(hold);
              expect(model.unloads).toBe(0);
              model.leases--;
              lease.release();
              if (releaseTwice) lease.release();
            }
          };

          await Promise.all(clients.map(run));
          await cache.close();
          await Promise.all(evictions);
          expect(failures).toEqual([]);
          expect(memory).toBe(0);
          expect(models).toBe(0);
          expect(cache.bytesHeld).toBe(0);
          for (const model of loaded) expect(model.unloads).toBe(1);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('ModelCache with real model hosts', () => {
  it('holds two iris hosts under a budget for one, each answering the same', async () => {
    const modelDir = join(MODELS, 'iris-v1');
    const bytes = (await stat(join(modelDir, 'model.onnx'))).size;
    const closed: string[] = [];
    const cache = new ModelCache<ModelHost>({
      budgetBytes: Math.floor(bytes * 1.5),
      unload: async (key, host) => {
        closed.push(key);
        await host.close();
      },
      logger: silentLogger,
    });
    const load = () => startModelHost({ modelDir, modelName: 'iris', logger: silentLogger });
    const ask = async (lease: CacheLease<ModelHost>): Promise<string> => {
      const result = await lease.value.invoke(
        request('5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5\n', 'text/csv', { accept: 'text/csv' }),
      );
      lease.release();
      if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
      return text(result.body);
    };
    try {
      const a = await cache.acquire('iris-a', load, { bytes });
      const hostA = a.value;
      const answerA = await ask(a);

      const b = await cache.acquire('iris-b', load, { bytes });
      expect(closed).toEqual(['iris-a']);
      expect(hostA.alive).toBe(false);
      expect(b.value.alive).toBe(true);
      const answerB = await ask(b);

      expect(answerB).toBe(answerA);
      const rows = answerA
        .trim()
        .split('\n')
        .map((line) => line.split(',').map(Number));
      expect(rows.map((row) => row.indexOf(Math.max(...row)))).toEqual([0, 2]); // setosa, virginica
      expect(cache.entries()).toMatchObject([{ key: 'iris-b', bytes, inUse: 0 }]);
    } finally {
      await cache.close();
    }
    expect(closed).toEqual(['iris-a', 'iris-b']);
  });
});
