import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, type ServerType } from '@hono/node-server';
import {
  closeRegistry,
  createApp,
  createModelRegistry,
  resolveGatewayConfig,
  startJobs,
  Traffic,
  type Jobs,
} from '@switchyard/gateway';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODELS } from '../support/worker-process.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const KEY = 'console-test-admin-key';
/** Debian's chromium package; `.ci/run` installs it where it is missing. */
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));

describe('the console page in a browser', () => {
  let dir: string;
  let server: ServerType | undefined;
  let url = '';
  let browser: Browser | undefined;
  let page: Page;
  let jobs: Jobs;
  let close: (() => Promise<void>) | undefined;
  let stop = false;
  let traffic: Promise<void>[] = [];
  const requested: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`,
      );
    }
    dir = await mkdtemp(join(tmpdir(), 'switchyard-console-'));
    const local = (model: string) => ({ type: 'local' as const, model: join(MODELS, model) });
    const config = resolveGatewayConfig({
      storage: { url: join(dir, 'storage') },
      models: {
        iris: {
          variants: {
            v1: { weight: 70, backend: local('iris-v1') },
            v2: { weight: 30, backend: local('iris-v2'), guard: { maxErrorRate: 0.5 } },
          },
        },
      },
    });
    const models = await createModelRegistry(config, silent);
    jobs = startJobs(config, models, silent);
    const app = createApp({
      models,
      logger: silent,
      jobs,
      // The live share over the last 10 s, so that a change shows within the test.
      traffic: new Traffic({ recentSeconds: 10 }),
      adminKeySha256: [createHash('sha256').update(KEY).digest('hex')],
    });
    await new Promise<void>((resolve) => {
      server = serve({ fetch: app.fetch, port: 0 }, (info: AddressInfo) => {
        url = `http://127.0.0.1:${info.port}`;
        resolve();
      });
    });
    close = async () => {
      await jobs.close();
      await closeRegistry(models);
    };
    // Traffic on both variants for the whole test, from four clients.
    const client = async () => {
      while (!stop) {
        await fetch(`${url}/endpoints/iris/invocations`, {
          method: 'POST',
          headers: { 'Content-Type': 'text/csv', Authorization: `Bearer ${KEY}` },
          body: '5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5',
        });
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    traffic = Array.from({ length: 4 }, client);
    // A batch job for the jobs table.
    const lines = Array.from({ length: 500 }, (_, i) =>
      JSON.stringify([[5 + (i % 3) / 10, 3.1, 1.4, 0.2]]),
    );
    const submitted = await fetch(`${url}/v1/batch-jobs?model=iris&contentType=application/json`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/jsonlines', Authorization: `Bearer ${KEY}` },
      body: lines.join('\n'),
    });
    expect(submitted.status).toBe(201);

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    // A laptop screen.
    page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    page.on('request', (request) => requested.push(request.url()));
  }, 60_000);

  afterAll(async () => {
    stop = true;
    await Promise.all(traffic);
    await browser?.close();
    server?.close();
    await close?.();
    await rm(dir, { recursive: true, force: true });
  });

  const share = async (variant: string, which: 'live' | 'configured') => {
    const text = await page
      .locator(`section[data-model="iris"] tr[data-variant="${variant}"] td.${which}-share`)
      .textContent();
    return Number((text ?? '').replace('%', ''));
  };

  it('asks for the admin key, then shows both variants and their shares, updating', async () => {
    await page.goto(`${url}/console`);
    await page.getByLabel('Admin key').fill(KEY);
    await page.getByRole('button', { name: 'Use key' }).click();
    const iris = page.getByRole('region', { name: 'Model iris' });
    await iris.getByRole('row', { name: /v1/ }).waitFor();
    await iris.getByRole('row', { name: /v2/ }).waitFor();
    expect(await share('v1', 'configured')).toBe(70);
    // v2 has a canary guard, v1 none.
    const guard = (variant: string) =>
      page
        .locator(`section[data-model="iris"] tr[data-variant="${variant}"] td.guard`)
        .textContent();
    expect(await guard('v2')).toBe('in rotation');
    expect(await guard('v1')).toBe('–');
    expect(await share('v2', 'configured')).toBe(30);
    // Live shares follow the weights once traffic has flowed.
    await expect.poll(async () => share('v2', 'live'), { timeout: 15_000 }).toBeGreaterThan(10);
    expect(await share('v1', 'live')).toBeGreaterThan(await share('v2', 'live'));
    // Updates arrive without a reload.
    const before = await page.locator('#status').textContent();
    await expect
      .poll(() => page.locator('#status').textContent(), { timeout: 5_000 })
      .not.toBe(before);
    // Charts are labelled with their units, the batch job has its progress bar.
    await expect
      .poll(() => page.getByRole('img', { name: /Requests per second \(req\/s\)/ }).count())
      .toBe(1);
    await expect.poll(() => page.getByRole('img', { name: /p95 latency \(ms\)/ }).count()).toBe(1);
    await page
      .getByRole('progressbar', { name: /Progress of job/ })
      .first()
      .waitFor();
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'console.png'), fullPage: true });
    // The job's output, fetched with the key the page holds: one answer per record.
    const jobs = page.getByRole('table', { name: 'Batch jobs' });
    await jobs.getByRole('link', { name: 'output' }).waitFor({ timeout: 30_000 });
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      jobs.getByRole('link', { name: 'output' }).click(),
    ]);
    const saved = join(ARTIFACTS, 'batch-output.jsonl');
    await download.saveAs(saved);
    const output = (await readFile(saved, 'utf8')).trim().split('\n');
    expect(output).toHaveLength(500);
  }, 60_000);

  it('changes a weight through the page, after confirmation, and the split moves', async () => {
    const v2Before = await share('v2', 'live');
    const input = page.getByLabel('Weight of v1');
    await input.fill('0');
    await page
      .locator('section[data-model="iris"] tr[data-variant="v1"]')
      .getByRole('button', { name: 'Set' })
      .click();
    const dialog = page.getByRole('dialog', { name: 'Change weights?' });
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain('v1 0%');
    await dialog.getByRole('button', { name: 'Change weights' }).click();
    await expect.poll(() => share('v1', 'configured'), { timeout: 5_000 }).toBe(0);
    // The gateway's split moved: v2 takes all new traffic, and the live share follows.
    const model = (await (
      await fetch(`${url}/v1/models/iris`, { headers: { Authorization: `Bearer ${KEY}` } })
    ).json()) as { variants: { name: string; weight: number }[] };
    expect(model.variants.find((v) => v.name === 'v1')?.weight).toBe(0);
    await expect
      .poll(async () => share('v2', 'live'), { timeout: 20_000 })
      .toBeGreaterThan(Math.max(90, v2Before + 20));

    // Usable on a laptop screen: nothing wider than the window.
    const overflow = Number(
      await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'),
    );
    expect(overflow).toBeLessThanOrEqual(0);
    // Nothing came from outside the gateway.
    expect(requested.filter((r) => !r.startsWith(url))).toEqual([]);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({
      path: join(ARTIFACTS, 'console-after-weight-change.png'),
      fullPage: true,
    });
  }, 60_000);
});
