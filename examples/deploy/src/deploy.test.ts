import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { serve, type ServerType } from '@hono/node-server';
import {
  closeRegistry,
  createApp,
  createModelRegistry,
  Deployments,
  embeddedDefaultConfig,
} from '@switchyard/gateway';
import { createObjectStore, memoryDeploymentStore } from '@switchyard/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const HERE = fileURLToPath(new URL('..', import.meta.url));
const README = fileURLToPath(new URL('../../../README.md', import.meta.url));
const silent = { debug() {}, info() {}, warn() {}, error() {} };

describe("the README's deploy example", () => {
  let server: ServerType;
  let url = '';
  let dir: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    // The embedded default gateway, as `pnpm start` runs it.
    dir = await mkdtemp(join(tmpdir(), 'switchyard-example-deploy-'));
    const config = embeddedDefaultConfig(0);
    const models = await createModelRegistry(config, silent);
    const deployments = await Deployments.start({
      registry: models,
      config,
      store: memoryDeploymentStore(),
      artifacts: createObjectStore(dir),
      logger: silent,
      maxArtifactBytes: 1024 ** 2,
    });
    const app = createApp({ models, logger: silent, deployments });
    await new Promise<void>((resolve) => {
      server = serve({ fetch: app.fetch, port: 0 }, (info: AddressInfo) => {
        url = `http://127.0.0.1:${info.port}`;
        resolve();
      });
    });
    close = async () => {
      await deployments.close();
      await closeRegistry(models);
    };
  });
  afterAll(async () => {
    server.close();
    await close();
    await rm(dir, { recursive: true, force: true });
  });

  it('packs, deploys and predicts against a running gateway', async () => {
    const { stdout } = await run(process.execPath, [join(HERE, 'deploy.mjs')], {
      env: { ...process.env, SWITCHYARD_URL: url },
    });
    expect(stdout).toContain("species: 'setosa'");
    expect(stdout).toContain("species: 'virginica'");
    // The variant stays deployed, with its share of the model's traffic.
    const iris = (await (await fetch(`${url}/v1/models/iris`)).json()) as {
      variants: { name: string; weight: number }[];
    };
    expect(iris.variants.find((v) => v.name === 'species')?.weight).toBe(10);
  });

  it('is what the README shows', async () => {
    const readme = await readFile(README, 'utf8');
    for (const file of ['deploy.mjs', 'inference.mjs']) {
      expect(readme).toContain((await readFile(join(HERE, file), 'utf8')).trim());
    }
  });
});
