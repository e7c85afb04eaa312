import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const testDir = fileURLToPath(new URL('..', import.meta.url));
const dist = fileURLToPath(new URL('../../packages/handlers/dist/index.js', import.meta.url));

// Consumers import the built package with plain Node resolution (no source
// condition), so this runs a real `node` process against `dist/`.
describe('@switchyard/handlers as built', () => {
  it.runIf(existsSync(dist))(
    'exports the codec, error, batching and contract API from dist/index.js',
    () => {
      const script = `
      const m = await import('@switchyard/handlers');
      const t = m.decode(new TextEncoder().encode('[[1,2],[3,4]]'), 'application/json');
      const [a, b] = m.split(m.stack([t, t]), [2, 2]);
      const out = m.encode(a, 'text/csv');
      let status = 0;
      try { m.decode(new Uint8Array(), 'application/xml'); } catch (e) { status = e instanceof m.InferenceError ? e.status : -1; }
      console.log(JSON.stringify({
        resolved: import.meta.resolve('@switchyard/handlers'),
        csv: new TextDecoder().decode(out.body),
        rows: b.shape[0],
        status,
        defineHandler: typeof m.defineHandler,
      }));`;
      const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: testDir,
        encoding: 'utf8',
      });
      expect(run.stderr).toBe('');
      const result = JSON.parse(run.stdout) as Record<string, unknown>;
      expect(result).toMatchObject({
        csv: '1,2\n3,4\n',
        rows: 2,
        status: 415,
        defineHandler: 'function',
      });
      expect(String(result['resolved'])).toMatch(/packages\/handlers\/dist\/index\.js$/);
    },
  );
});
