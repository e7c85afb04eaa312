import { describe, expect, it } from 'vitest';
import { coalesced } from './coalesced.js';

describe('coalesced', () => {
  const gate = () => {
    let open = (): void => undefined;
    const opened = new Promise<void>((resolve) => (open = resolve));
    return { opened, open };
  };

  it('runs once more for any number of calls during a run, and they wait for it', async () => {
    const runs: string[] = [];
    let first = gate();
    let stopped = false;
    const sync = coalesced(
      async () => {
        runs.push('start');
        await first.opened;
        runs.push('end');
      },
      () => stopped,
    );
    const a = sync();
    expect(sync.running).toBeDefined();
    const b = sync();
    const c = sync();
    let bDone = false;
    void b.then(() => (bDone = true));
    first.open();
    first = gate();
    first.open();
    await Promise.all([a, b, c]);
    expect(bDone).toBe(true);
    expect(runs).toEqual(['start', 'end', 'start', 'end']);
    expect(sync.running).toBeUndefined();
    // Stopped: a call during a run asks for nothing more.
    first = gate();
    const d = sync();
    void sync();
    stopped = true;
    first.open();
    await d;
    expect(runs).toHaveLength(6);
  });
});
