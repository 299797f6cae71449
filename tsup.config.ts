import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'testing/index': 'src/testing/index.ts',
    'express/index': 'src/express/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: true,
  // src/kernel/lazy-modules.ts loads zod, cel-js... with createRequire(import.meta.url): the shim
  // gives the CJS build an `import.meta.url`.
  shims: true,
  esbuildOptions(options, { format }) {
    // The CJS build has no `import.meta.resolve`; say so, rather than let esbuild empty `import.meta`
    // with a warning. lazy-modules.ts then requires by name, as a CJS user of zod does.
    if (format === 'cjs') options.define = { ...options.define, 'import.meta.resolve': 'undefined' };
  },
});
