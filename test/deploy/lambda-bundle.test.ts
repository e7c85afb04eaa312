// The gateway's Lambda code as the CDK app deploys it: bundled with its production
// dependencies into a directory outside the workspace (so nothing resolves from the
// repository's node_modules), synthesized into the stack, then its handler loaded by
// a plain `node` process and called with function URL events — answered through the
// SageMaker emulator by a real model container.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { bundleGateway, LAMBDA_UNZIPPED_LIMIT_BYTES } from '@switchyard/deploy-cdk/bundle';
import { SwitchyardStack } from '@switchyard/deploy-cdk';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startModelContainer,
  startSageMakerEmulator,
  type ModelContainer,
  type SageMakerEmulator,
} from '../support/sagemaker-emulator.js';
import { MODELS } from '../support/worker-process.js';

const run = promisify(execFile);
const ROWS = '5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5\n';

/** A Lambda function URL event (payload format 2.0). */
function functionUrlEvent(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
) {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { host: 'abc.lambda-url.eu-west-1.on.aws', ...headers },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc',
      domainName: 'abc.lambda-url.eu-west-1.on.aws',
      domainPrefix: 'abc',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: 'req-1',
      routeKey: '$default',
      stage: '$default',
      time: '30/Nov/2026:00:00:00 +0000',
      timeEpoch: 0,
    },
    ...(body === undefined ? {} : { body, isBase64Encoded: false }),
  };
}

interface LambdaResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

// Loads `<bundle>/<file>` the way Lambda's Node runtime does (an ES module, `handler`
// export) and answers each event in turn.
const INVOKE = `
const [file, name] = process.env.HANDLER.split('#');
const mod = await import(process.env.BUNDLE + '/' + file);
const results = [];
for (const event of JSON.parse(process.env.EVENTS)) results.push(await mod[name](event, {}));
await mod[name].close?.();
const { writeFileSync } = await import('node:fs');
writeFileSync(process.env.OUT, JSON.stringify({ results, resolved: import.meta.resolve('hono') }));
`;

describe('the gateway bundle for Lambda', { timeout: 120_000 }, () => {
  let work: string;
  let bundleDir: string;
  let bundleBytes: number;
  let emulator: SageMakerEmulator;
  let container: ModelContainer;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'switchyard-lambda-'));
    const bundle = await bundleGateway({ outDir: join(work, 'gateway-bundle') });
    bundleDir = bundle.dir;
    bundleBytes = bundle.bytes;
    container = await startModelContainer(join(MODELS, 'iris-v1'), 'iris');
    emulator = await startSageMakerEmulator();
    emulator.set('iris-prod', { kind: 'forward', to: container.url });
  }, 120_000);

  afterAll(async () => {
    await emulator.close();
    await container.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('holds the handler, plain directories only, within Lambda’s size limit', () => {
    expect(existsSync(join(bundleDir, 'dist', 'lambda.js'))).toBe(true);
    expect(readdirSync(join(bundleDir, 'node_modules'))).toEqual(
      expect.arrayContaining(['hono', 'pino', '@aws-sdk', '@switchyard']),
    );
    expect(bundleBytes).toBeLessThan(LAMBDA_UNZIPPED_LIMIT_BYTES);
    // onnxruntime-node keeps its Linux x64 library only.
    const napi = join(bundleDir, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6');
    expect(readdirSync(napi)).toEqual(['linux']);
    expect(readdirSync(join(napi, 'linux'))).toEqual(['x64']);
  });

  it('is what the stack deploys, and its handler answers function URL events end to end', async () => {
    const app = new App({ outdir: join(work, 'cdk.out') });
    const stack = new SwitchyardStack(app, 'Bundle', {
      env: { account: '123456789012', region: 'eu-west-1' },
      endpointName: 'iris-prod',
      gatewayModelName: 'iris',
      workerImageUri: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/switchyard-worker:1.0.0',
      modelDataUrl: 's3://models/iris/model.tar.gz',
      gatewayAssetPath: bundleDir,
    });
    const template = Template.fromStack(stack);
    const fn = Object.values(template.findResources('AWS::Lambda::Function'))[0] as {
      Properties: { Handler: string; Environment: { Variables: Record<string, string> } };
    };
    const [file, name] = fn.Properties.Handler.split('.');

    // The stack's own configuration, pointed at the emulator instead of AWS.
    const config = JSON.parse(
      fn.Properties.Environment.Variables['SWITCHYARD_CONFIG_JSON'] ?? '',
    ) as {
      models: { iris: { variants: { sagemaker: { backend: { endpoint?: string } } } } };
      storage: { url: string };
    };
    config.models.iris.variants.sagemaker.backend.endpoint = emulator.url;
    config.storage.url = join(work, 'storage');
    const events = [
      functionUrlEvent('GET', '/ping', {}),
      functionUrlEvent(
        'POST',
        '/endpoints/iris/invocations',
        { 'content-type': 'text/csv', accept: 'application/json' },
        ROWS,
      ),
      functionUrlEvent('POST', '/endpoints/iris/invocations', { 'content-type': 'text/csv' }, ''),
    ];
    const outFile = join(work, 'results.json');
    await run(process.execPath, ['--input-type=module', '-e', INVOKE], {
      cwd: bundleDir,
      env: {
        PATH: process.env['PATH'] ?? '',
        HANDLER: `${file}.js#${name}`,
        BUNDLE: bundleDir,
        EVENTS: JSON.stringify(events),
        OUT: outFile,
        SWITCHYARD_CONFIG_JSON: JSON.stringify(config),
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_REGION: 'eu-west-1',
      },
    });
    const out = JSON.parse(readFileSync(outFile, 'utf8')) as {
      results: LambdaResult[];
      resolved: string;
    };
    // Dependencies come from the bundle, not from the repository.
    expect(out.resolved.startsWith(`file://${bundleDir}/node_modules/hono/`)).toBe(true);

    const [ping, predict, empty] = out.results;
    expect(ping?.statusCode).toBe(200);
    expect(predict?.statusCode).toBe(200);
    expect(predict?.headers['x-amzn-invoked-production-variant']).toBe('sagemaker');

    // The same rows sent to the model container directly.
    const direct = await fetch(`${container.url}/invocations`, {
      method: 'POST',
      body: ROWS,
      headers: { 'Content-Type': 'text/csv', Accept: 'application/json' },
    });
    expect(JSON.parse(predict?.body ?? '')).toEqual(await direct.json());
    expect(emulator.calls.get('iris-prod')).toBe(1);

    // An empty body is the caller's mistake, answered as such.
    expect(empty?.statusCode).toBe(400);
    expect(JSON.parse(empty?.body ?? '')).toMatchObject({
      error: { code: 'INVALID_INPUT', message: 'the request has no body' },
    });
  });
});
