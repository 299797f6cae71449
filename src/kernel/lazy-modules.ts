/**
 * The dependencies that are costly to load (zod and cel-js above all, plus croner, p-queue, re2js
 * and ipaddr.js), loaded synchronously on first use rather than when Trellis is imported, so an
 * app that imports Trellis starts fast and pays only for what it runs (importing zod alone costs more
 * CPU than importing the rest of Trellis, 76 ms against 45: docs/install.md). eventemitter3 (cheaper) stays a
 * static import: the public `TrellisEventEmitter` class extends it.
 *
 * Why `require` and not `import()`: the APIs that need these modules are synchronous
 * (`validateWorkflow`, the builder's `.build()`, `compileExpression`), and an async import would
 * change their signatures. Node >= 20.19 (and >= 22.12) can `require()` an ES module without a
 * flag or warning, which is what makes this work for the ESM-only cel-js and p-queue; hence
 * `engines` in package.json.
 *
 * Two ways to require, one per setting:
 * - From Node (the published package, tsx, vitest): resolve with `import.meta.resolve` first.
 *   `require('zod')` would pick zod's CommonJS build, while the app's `import { z } from 'zod'`
 *   gets its ES build, a second copy of zod; resolving with the `import` condition and requiring
 *   that file loads the very module `import 'zod'` gives (Node keeps one module instance per URL).
 * - From a bundle: a plain `require('zod')` with a literal name, which bundlers follow and bundle
 *   (esbuild keeps an ES module required this way lazy: it runs on the first call). A bundled app
 *   may then hold zod twice (its import and our require); zod 4 copes: `instanceof` goes by traits,
 *   and its global config and registry live on `globalThis`.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type * as Dns from 'node:dns/promises';
import type * as Net from 'node:net';
import type * as Cel from '@marcbachmann/cel-js';
import type * as Croner from 'croner';
import type PQueue from 'p-queue';
import type * as Re2 from 're2js';
import type * as IpAddr from 'ipaddr.js';
import type * as Zod from 'zod';
import { BUNDLED, missingPackageOr } from './optional-packages.js';
import type { OtelApi } from './otel-api.js';

const requireHere = createRequire(import.meta.url);
const loaded = new Map<string, unknown>();

/** `bundled` is a closure with a literal `require('name')` in it, for bundlers to see. */
function load<T>(specifier: string, bundled: () => unknown): T {
  if (loaded.has(specifier)) return loaded.get(specifier) as T;
  const namespace = (BUNDLED ? bundled() : requireHere(fileURLToPath(import.meta.resolve(specifier)))) as T;
  loaded.set(specifier, namespace);
  return namespace;
}

/** zod, the copy the host app's own `import 'zod'` (or `require('zod')` from CJS) gets. */
export function loadZod(): typeof Zod {
  return load('zod', () => require('zod'));
}

/** The CEL implementation behind expressions. */
export function loadCel(): typeof Cel {
  return load('@marcbachmann/cel-js', () => require('@marcbachmann/cel-js'));
}

/** re2js, the linear-time regex engine behind CEL `matches()` and JSON Schema `pattern`. */
export function loadRe2(): typeof Re2 {
  return load('re2js', () => require('re2js'));
}

/** ipaddr.js, which classifies the addresses the webhook node may reach (loaded with them, not at import). */
export function loadIpaddr(): typeof IpAddr {
  return load('ipaddr.js', () => require('ipaddr.js'));
}

/** croner, which computes schedule fire times. */
export function loadCroner(): typeof Croner {
  return load('croner', () => require('croner'));
}

/**
 * node:net and node:dns/promises, for the webhook node's host checks: together with the stream
 * modules they pull in they take a noticeable time to load, which only an app that calls webhooks should pay.
 */
export function loadNet(): typeof Net {
  return (net ??= requireHere('node:net') as typeof Net);
}

export function loadDns(): typeof Dns {
  return (dns ??= requireHere('node:dns/promises') as typeof Dns);
}

let net: typeof Net | undefined;
let dns: typeof Dns | undefined;

/** p-queue's class, which bounds a provider's concurrent calls. */
export function loadPQueue(): typeof PQueue {
  return load<{ default: typeof PQueue }>('p-queue', () => require('p-queue')).default;
}

/**
 * `@opentelemetry/api`, an optional peer dependency: loaded only by an engine that traces (the host
 * passed a tracer provider or registered one globally). Throws when it is not installed.
 */
export function loadOpenTelemetry(): OtelApi {
  return load('@opentelemetry/api', () => {
    // Inside a `try`, a bundler leaves the optional package unresolved instead of failing the build.
    try {
      return require('@opentelemetry/api');
    } catch (error) {
      throw missingPackageOr(error, '@opentelemetry/api', 'Tracing');
    }
  });
}
