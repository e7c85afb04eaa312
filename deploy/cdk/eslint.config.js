// @ts-check
// The workspace's rules with this package's TypeScript projects: ESLint takes the
// config nearest to each file, and the root one lists only packages/, examples/, test/.
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';
import root from '../../eslint.config.js';

export default defineConfig(
  root,
  {
    languageOptions: {
      parserOptions: {
        project: ['./tsconfig.json', './tsconfig.test.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
  },
  { files: ['eslint.config.js'], extends: [tseslint.configs.disableTypeChecked] },
);
