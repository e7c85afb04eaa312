import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { customModelDir, request, silentLogger, text } from '../../test/fixtures.js';
import { createModelRuntime } from './model-runtime.js';

// User code that needs a package of its own, declared in code/package.json and
// shipped beside the model as a local package (no registry needed).
const SOURCE = `
  import { shout } from 'shouter';
  export const modelFn = () => null;
  export const transformFn = (_model, body) => shout(new TextDecoder().decode(body));
`;

async function modelWithDependency(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const model = await customModelDir(SOURCE);
  const vendor = join(model.dir, 'vendor', 'shouter');
  await mkdir(vendor, { recursive: true });
  await writeFile(
    join(vendor, 'package.json'),
    JSON.stringify({ name: 'shouter', version: '1.0.0', type: 'module', main: 'index.js' }),
  );
  await writeFile(join(vendor, 'index.js'), 'export const shout = (s) => s.toUpperCase() + "!";\n');
  await writeFile(
    join(model.dir, 'code', 'package.json'),
    JSON.stringify({
      name: 'model-code',
      private: true,
      type: 'module',
      dependencies: { shouter: 'file:../vendor/shouter' },
    }),
  );
  return model;
}

describe('code/package.json dependencies', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('installs what the model code declares before loading it', async () => {
    const model = await modelWithDependency();
    cleanups.push(model.remove);
    const runtime = await createModelRuntime({
      modelDir: model.dir,
      modelName: 'shout',
      logger: silentLogger,
    });
    cleanups.push(() => runtime.close());
    const result = await runtime.invoke(request('hello', 'text/plain', { accept: 'text/plain' }));
    expect(result.ok && text(result.body)).toBe('HELLO!');
  }, 120_000);

  it('names the missing dependency when installing is turned off', async () => {
    const model = await modelWithDependency();
    cleanups.push(model.remove);
    await expect(
      createModelRuntime({
        modelDir: model.dir,
        modelName: 'shout',
        logger: silentLogger,
        installDependencies: false,
      }),
    ).rejects.toThrow(
      'code/package.json declares shouter, which is not installed in code/node_modules',
    );
  });

  it('fails clearly when npm cannot provide a dependency', async () => {
    const model = await customModelDir(
      'export const modelFn = () => null; export const transformFn = () => "";',
    );
    cleanups.push(model.remove);
    await writeFile(
      join(model.dir, 'code', 'package.json'),
      JSON.stringify({ dependencies: { 'not-there': 'file:../no/such/dir' } }),
    );
    await expect(
      createModelRuntime({ modelDir: model.dir, modelName: 'x', logger: silentLogger }),
    ).rejects.toThrow(/npm install (in the model's code\/ failed|did not install not-there)/);
  }, 120_000);
});
