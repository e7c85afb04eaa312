import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractModelArchive } from '../model-source/archive.js';
import { startModelHost } from '../runtime/model-host.js';
import { PackError, packModel } from './pack.js';

const MODELS = fileURLToPath(new URL('../../../../examples/models/', import.meta.url));
const CUSTOM = join(MODELS, 'iris-custom/code/inference.mjs');
const silent = { debug() {}, info() {}, warn() {}, error() {} };

let dir: string;

async function entries(archive: string): Promise<string[]> {
  const names: string[] = [];
  await tar.t({ file: archive, onReadEntry: (entry) => names.push(entry.path) });
  return names.filter((name) => !name.endsWith('/')).sort();
}

async function module(name: string, source: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, source);
  return file;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-pack-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('packModel', () => {
  it('builds the SageMaker layout, and the worker serves the archive with the packed handler', async () => {
    const sources = join(dir, 'src');
    await mkdir(sources);
    await writeFile(join(sources, 'package.json'), '{"name":"iris-handler","private":true}\n');
    const output = join(dir, 'model.tar.gz');
    await packModel({
      model: join(MODELS, 'iris-v1'),
      entryPoint: CUSTOM,
      sourceDir: sources,
      output,
    });
    expect(await entries(output)).toEqual([
      'code/inference.mjs',
      'code/package.json',
      'model.onnx',
    ]);

    const unpacked = join(dir, 'unpacked');
    await extractModelArchive(output, unpacked);
    const host = await startModelHost({ modelDir: unpacked, modelName: 'iris', logger: silent });
    try {
      const result = await host.invoke({
        requestId: 'r',
        body: new TextEncoder().encode(
          '{"flowers": [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}]}',
        ),
        contentType: 'application/json',
        accept: undefined,
        customAttributes: undefined,
        deadline: Date.now() + 10_000,
        enqueuedAt: Date.now(),
      });
      expect(result.ok).toBe(true);
      if (result.ok) {
        // The packed inputFn/outputFn answered, not the default tensor codec.
        expect(JSON.parse(new TextDecoder().decode(result.body))).toMatchObject([
          { species: 'setosa' },
        ]);
      }
    } finally {
      await host.close();
    }
  });

  it('repacks an archive with new code, keeping its model files', async () => {
    const first = join(dir, 'first.tar.gz');
    await packModel({ model: join(MODELS, 'iris-v1'), entryPoint: CUSTOM, output: first });
    const replacement = await module(
      'replacement.mjs',
      'export const outputFn = () => ({ body: new Uint8Array([1]), contentType: "application/octet-stream" });\n',
    );
    const second = join(dir, 'second.tar.gz');
    await packModel({ model: first, entryPoint: replacement, output: second });
    expect(await entries(second)).toEqual(['code/inference.mjs', 'model.onnx']);
    const unpacked = join(dir, 'second');
    await extractModelArchive(second, unpacked);
    expect(await readFile(join(unpacked, 'code/inference.mjs'), 'utf8')).toContain('outputFn');
  });

  it('refuses a package without an ONNX file, unknown exports, transformFn beside the chain, TypeScript', async () => {
    const fine = await module('fine.mjs', 'export const predictFn = (x) => x;\n');
    const refusal = async (options: Parameters<typeof packModel>[0]) => {
      const error = await packModel(options).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PackError);
      return (error as PackError).message;
    };
    const out = join(dir, 'refused.tar.gz');
    expect(await refusal({ model: fine, entryPoint: fine, output: out })).toMatch(
      /no \.onnx file at the top/,
    );
    const iris = join(MODELS, 'iris-v1');
    const typo = await module('typo.mjs', 'export const predict = (x) => x;\n');
    expect(await refusal({ model: iris, entryPoint: typo, output: out })).toMatch(
      /exports "predict", which no handler reads/,
    );
    const mixed = await module(
      'mixed.mjs',
      'export const transformFn = () => ({ body: new Uint8Array(), contentType: "x/y" });\nexport const predictFn = (x) => x;\n',
    );
    expect(await refusal({ model: iris, entryPoint: mixed, output: out })).toMatch(/transformFn/);
    const ts = await module('handler.ts', 'export const predictFn = (x: unknown) => x;\n');
    expect(await refusal({ model: iris, entryPoint: ts, output: out })).toMatch(
      /must be JavaScript \(\.mjs or \.js\)/,
    );
  });
});
