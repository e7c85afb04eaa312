import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript source in tests (the
// `@switchyard/source` export condition) and to `dist` everywhere else.
const sourceConditions = ['@switchyard/source', 'node', 'import', 'default'];

export default defineConfig({
  resolve: { conditions: sourceConditions },
  ssr: { resolve: { conditions: sourceConditions } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          benchmark: { include: ['packages/*/bench/**/*.bench.ts'] },
          include: [
            'packages/*/src/**/*.test.ts',
            'packages/*/test/**/*.test.ts',
            'examples/*/src/**/*.test.ts',
            'deploy/cdk/src/**/*.test.ts',
          ],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          globalSetup: ['test/support/redis-global-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
    ],
  },
});
