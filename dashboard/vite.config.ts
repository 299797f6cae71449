/**
 * Builds the dashboard into the package's dist/dashboard/ (index.html plus hashed assets/), which
 * src/express/dashboard.ts serves. Relative asset URLs (`base: './'`), so the page works wherever
 * the host mounts it; no inline script or style (the Content-Security-Policy forbids them), and no
 * module-preload polyfill, which Vite would otherwise inline.
 */
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: './',
  publicDir: false,
  mode: 'production',
  // React's production build whatever NODE_ENV the builder runs under (vitest sets it to "test",
  // which made Vite bundle React's development build: half again as large, and slower).
  define: { 'process.env.NODE_ENV': JSON.stringify('production') },
  // Likewise the JSX transform, which otherwise emits jsxDEV calls with file names and line numbers.
  oxc: { jsx: { runtime: 'automatic', development: false } },
  logLevel: 'warn',
  build: {
    outDir: '../dist/dashboard',
    emptyOutDir: true,
    assetsDir: 'assets',
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    target: 'es2022',
    reportCompressedSize: false,
    // One script on purpose: every view is a click away, and one file is one request behind authorize.
    chunkSizeWarningLimit: 700,
    rolldownOptions: {
      // React Flow marks itself "use client" for React Server Components; a client bundle has no use for it.
      onwarn(warning, warn) {
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
});
