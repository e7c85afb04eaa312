// @ts-check
// The root configuration, with the type information of faults/tsconfig.json: the
// root's project list does not name this directory, and this file keeps the
// scenarios' lint settings beside them.
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';
import root from '../eslint.config.js';

export default defineConfig(
  root,
  {
    languageOptions: {
      parserOptions: { project: ['./tsconfig.json'], tsconfigRootDir: import.meta.dirname },
    },
  },
  {
    // This file imports the root configuration, which belongs to another project.
    files: ['eslint.config.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    // Plain Node scripts.
    files: ['*.mjs'],
    languageOptions: { globals: { console: 'readonly', URL: 'readonly' } },
  },
);
