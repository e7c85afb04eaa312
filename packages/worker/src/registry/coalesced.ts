/** A function whose calls share runs: see {@link coalesced}. */
export interface Coalesced {
  (): Promise<void>;
  /** The run in progress, if any. */
  readonly running: Promise<void> | undefined;
}

/**
 * `run`, at most one at a time: a call while it runs asks for one more run after
 * it (however many calls came), so that whatever changed meanwhile is seen, and
 * resolves when that one is done. `run` handles its own errors.
 *
 * @example
 * ```ts
 * const sync = coalesced(async () => apply(await store.list()), () => closed);
 * store.watch(() => void sync());
 * ```
 */
export function coalesced(run: () => Promise<void>, stopped: () => boolean): Coalesced {
  let running: Promise<void> | undefined;
  // Set when a call arrives during a run.
  const asked = { again: false };
  const again = () => asked.again && !stopped();
  const start = (): Promise<void> => {
    if (running !== undefined) {
      asked.again = true;
      return running;
    }
    running = (async () => {
      do {
        asked.again = false;
        await run();
      } while (again());
    })().finally(() => {
      running = undefined;
    });
    return running;
  };
  return Object.defineProperty(start, 'running', { get: () => running }) as Coalesced;
}
