// Type-aware linting for the rules the house style asks for (no floating promises, type-only
// imports), plus the shape of the source tree: no import circles, and no import that runs up the layers.
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import noImportCycle from './eslint-rules/no-import-cycle.js';

/**
 * The layers of `src/`, bottom first. A folder may import its own files and any folder below it,
 * never one above (CONTRIBUTING.md says what lives where). Folders on one line are siblings that do
 * not import each other.
 */
const LAYERS = [
  ['kernel'],
  ['telemetry'],
  ['expressions'],
  ['providers'],
  ['definition'],
  ['builder'],
  ['storage'],
  ['calls'],
  ['nodes'],
  ['planner'],
  ['runtime'],
  ['bundles', 'templates', 'triggers'],
  ['engine'],
  ['express', 'testing'],
];

/** Inside `storage/`: the port and the memory reference, then the shared SQL code, then each database. */
const STORAGE_WINGS = [['sql'], ['sqlite', 'postgres']];

function zonesOf(layers, base) {
  const zones = [];
  layers.forEach((row, level) => {
    const forbidden = layers.slice(level + 1).flat();
    for (const folder of row) {
      const siblings = row.filter((other) => other !== folder);
      const from = [...forbidden, ...siblings].map((f) => `${base}/${f}`);
      if (from.length > 0) zones.push({ target: `${base}/${folder}`, from, message: `runs up the layers of ${base} (see CONTRIBUTING.md)` });
    }
  });
  return zones;
}

const storageRoot = { target: './src/storage/*.ts', from: STORAGE_WINGS.flat().map((w) => `./src/storage/${w}`), message: 'the storage port and memory reference do not import a database wing' };

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'test/artifacts/**', 'test/.fixtures-dist/**', '.tmpdist/**', 'bench/**'] },
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'examples/**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX, trellis: { rules: { 'no-import-cycle': noImportCycle } } },
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })] },
    rules: {
      'trellis/no-import-cycle': 'error',
      'import-x/no-restricted-paths': ['error', {
        zones: [
          ...zonesOf(LAYERS, './src'),
          ...zonesOf(STORAGE_WINGS, './src/storage'),
          storageRoot,
          // The entry barrels are for users; the library's own files import concrete files.
          { target: './src', from: './src/index.ts', message: 'import the concrete file, not the public barrel' },
        ],
      }],
      // An ES module import of node:util makes Node 22+ build every export of it, util.diff among
      // them, which opens process.stderr and so loads node:net on a piped stderr (test/package.test.ts).
      'no-restricted-imports': ['error', { paths: [{ name: 'node:util', message: 'importing node:util loads node:net on Node 22+ at import time; write the helper, or load it lazily' }] }],
    },
  },
  // Tests may read loosely typed HTTP bodies; `any` stays out of the library itself.
  { files: ['test/**/*.ts'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
);
