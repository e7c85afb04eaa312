#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { bundleGateway } from './bundle.js';
import { DEFAULT_GATEWAY_ASSET_PATH } from './stack.js';

/**
 * `pnpm --filter @switchyard/deploy-cdk bundle [--out DIR] [--arch x64|arm64]`:
 * the gateway's Lambda code, by default where the stack looks for it.
 */
try {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: DEFAULT_GATEWAY_ASSET_PATH },
      arch: { type: 'string', default: 'x64' },
    },
  });
  if (values.arch !== 'x64' && values.arch !== 'arm64') {
    throw new Error(`--arch must be x64 or arm64, got '${values.arch}'`);
  }
  const bundle = await bundleGateway({ outDir: values.out, arch: values.arch });
  console.log(
    `gateway bundle in ${bundle.dir}: ${(bundle.bytes / 1024 / 1024).toFixed(0)} MB, handler ${bundle.handler}`,
  );
} catch (error) {
  console.error(`bundle: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
