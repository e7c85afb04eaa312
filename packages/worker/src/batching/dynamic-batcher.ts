/** One request waiting to be batched. */
export interface BatchItem {
  /** Items batch together only when their keys are equal (dtype and trailing shape). */
  readonly key: string;
  /** Rows this item adds to a batch (its first dimension). */
  readonly rows: number;
}

export interface DynamicBatcherOptions {
  /**
   * Most rows in one batch; an item larger than this runs alone.
   * @defaultValue 32
   */
  maxBatchSize?: number;
  /**
   * Longest the first item of a batch waits for others while the model is idle;
   * 0 runs what has arrived as soon as the model is free (items that arrive in
   * the same turn of the event loop still share a batch).
   * @defaultValue 5
   */
  maxDelayMs?: number;
}

/**
 * Groups items by key into batches of at most `maxBatchSize` rows and hands each to
 * `run`, one batch at a time. A batch starts when it is full, or `maxDelayMs` after
 * its first item arrived, or — while a batch runs — as soon as the model is free
 * again, with everything that queued meanwhile: under load batches fill by
 * themselves, and an idle model adds at most `maxDelayMs` of latency.
 */
export class DynamicBatcher<TItem extends BatchItem> {
  private readonly maxBatchSize: number;
  private readonly maxDelayMs: number;
  private readonly groups = new Map<string, { items: TItem[]; rows: number; since: number }>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private soon = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly run: (batch: TItem[]) => Promise<void>,
    { maxBatchSize = 32, maxDelayMs = 5 }: DynamicBatcherOptions = {},
  ) {
    this.maxBatchSize = Math.max(1, maxBatchSize);
    this.maxDelayMs = Math.max(0, maxDelayMs);
  }

  /** Items waiting, not counting the batch that runs. */
  get pending(): number {
    let n = 0;
    for (const group of this.groups.values()) n += group.items.length;
    return n;
  }

  add(item: TItem): void {
    let group = this.groups.get(item.key);
    if (group === undefined) {
      group = { items: [], rows: 0, since: Date.now() };
      this.groups.set(item.key, group);
    }
    group.items.push(item);
    group.rows += item.rows;
    if (group.rows >= this.maxBatchSize) {
      this.schedule();
    } else if (!this.soon) {
      // Items that arrive together (a group job's requests, messages drained in one
      // turn of the event loop) go in one batch, even with no delay configured.
      this.soon = true;
      setImmediate(() => {
        this.soon = false;
        this.schedule();
      });
    }
  }

  /** Resolves once nothing waits and nothing runs (for graceful shutdown). */
  async drain(): Promise<void> {
    if (!this.running && this.groups.size === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.running) return;
    const now = Date.now();
    let next: number | undefined;
    for (const [key, group] of this.groups) {
      const due = group.since + this.maxDelayMs;
      if (group.rows >= this.maxBatchSize || due <= now) {
        this.start(key);
        return;
      }
      next = next === undefined ? due : Math.min(next, due);
    }
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer =
      next === undefined
        ? undefined
        : setTimeout(() => {
            this.timer = undefined;
            this.schedule();
          }, next - now);
    if (next === undefined) this.notifyIdle();
  }

  private start(key: string): void {
    const group = this.groups.get(key);
    if (group === undefined) return;
    // Take items in arrival order up to the row limit; the first always fits.
    const batch: TItem[] = [];
    let rows = 0;
    while (group.items.length > 0) {
      const item = group.items[0] as TItem;
      if (batch.length > 0 && rows + item.rows > this.maxBatchSize) break;
      batch.push(item);
      rows += item.rows;
      group.items.shift();
    }
    group.rows -= rows;
    if (group.items.length === 0) this.groups.delete(key);
    else group.since = Date.now();
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.running = true;
    void this.run(batch)
      .catch(() => undefined) // `run` answers its items itself; a throw must not stall the queue
      .finally(() => {
        this.running = false;
        // What queued while the model was busy goes now, full or not.
        for (const g of this.groups.values())
          g.since = Math.min(g.since, Date.now() - this.maxDelayMs);
        this.schedule();
      });
  }

  private notifyIdle(): void {
    if (this.running || this.groups.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
