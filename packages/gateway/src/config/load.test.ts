import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, embeddedDefaultConfig, loadGatewayConfig } from './load.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-config-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe('gateway configuration', () => {
  it('reads YAML and fills in defaults', async () => {
    const config = await loadGatewayConfig(
      await file(
        'ok.yaml',
        `models:
  iris:
    variants:
      v1: { weight: 70, backend: { type: local, model: models/iris-v1 } }
      v2: { weight: 30, backend: { type: local, model: models/iris-v2 } }
`,
      ),
    );
    expect(config.server.port).toBe(8080);
    expect(config.models['iris']).toMatchObject({
      maxBodyBytes: 6 * 1024 * 1024,
      contentTypes: ['application/json', 'text/csv', 'application/x-npy', 'application/x-npz'],
      variants: { v1: { weight: 70, backend: { maxBatchSize: 32 } } },
    });
  });

  it('reads JSON too', async () => {
    const json = JSON.stringify({
      models: { m: { variants: { a: { weight: 1, backend: { type: 'local', model: 'x' } } } } },
    });
    expect(Object.keys((await loadGatewayConfig(await file('ok.json', json))).models)).toEqual([
      'm',
    ]);
  });

  it('lists every problem at once, each with its path in the file', async () => {
    const path = await file(
      'bad.yaml',
      `server: { port: 99999 }
models:
  iris:
    maxBodyBytes: -1
    variants:
      v1: { weight: -5, backend: { type: local, model: m } }
      v2: { weight: 1, backend: { type: carrier-pigeon } }
`,
    );
    const error = await loadGatewayConfig(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    const { problems, message } = error as ConfigError;
    expect(message).toContain(`invalid configuration ${path}`);
    expect(problems.some((p) => p.startsWith('server.port: '))).toBe(true);
    expect(problems.some((p) => p.startsWith('models.iris.maxBodyBytes: '))).toBe(true);
    expect(problems.some((p) => p.startsWith('models.iris.variants.v1.weight: '))).toBe(true);
    expect(problems.some((p) => p.startsWith('models.iris.variants.v2.backend.type: '))).toBe(true);
  });

  it('says when the file is missing or not YAML', async () => {
    await expect(loadGatewayConfig(join(dir, 'none.yaml'))).rejects.toThrow('cannot read the file');
    await expect(loadGatewayConfig(await file('junk.yaml', 'models: [unclosed'))).rejects.toThrow(
      'not valid YAML or JSON',
    );
  });

  it('has an embedded default: iris, v1 and v2 at 50/50, in process', () => {
    const config = embeddedDefaultConfig(8080);
    expect(Object.keys(config.models)).toEqual(['iris']);
    expect(config.models['iris']?.variants).toMatchObject({
      v1: { weight: 50, backend: { type: 'local' } },
      v2: { weight: 50, backend: { type: 'local' } },
    });
  });
});
