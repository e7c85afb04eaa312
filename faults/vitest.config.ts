import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Fault scenarios (`pnpm faults`): real Redis, workers and gateways under load,
// one file at a time. Kept out of the root config, so `pnpm test` never runs them.
const sourceConditions = ['@switchyard/source', 'node', 'import', 'default'];

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  resolve: { conditions: sourceConditions },
  ssr: { resolve: { conditions: sourceConditions } },
  test: {
    include: ['faults/**/*.fault.ts'],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 60_000,
  },
});
