/**
 * Dot paths into plain JSON data: `a.b[2].c`, `node-1.items[0]`, `a["odd key"]`. Templates and
 * `output_mapping` / `data_transform` writes use them; expressions use CEL instead.
 */
import { ExpressionError } from '../kernel/errors.js';

/** One step of a parsed path: an object key or an array index. */
export type PathSegment = string | number;

/** Keys that would reach an object's prototype. Never read or written through a path. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

// `name` segments allow `-` because node ids do (`fetch-page.text`).
const NAME = /^[A-Za-z_$][\w$-]*/;
const INDEX = /^\[(\d+)\]/;
const QUOTED = /^\[\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*\]/;

// Paths come from workflow definitions, so the set is small; the cap only guards against a caller
// building paths from data.
const CACHE_LIMIT = 5_000;
const cache = new Map<string, readonly PathSegment[]>();

function invalid(path: string, why: string): ExpressionError {
  return new ExpressionError('expression_parse', `Invalid path "${path}": ${why}.`, { details: { path } });
}

function refuseKey(path: string, key: string): void {
  if (FORBIDDEN_KEYS.has(key)) {
    throw new ExpressionError('expression_eval', `Path "${path}" uses the forbidden key "${key}".`, {
      details: { path, key },
    });
  }
}

/** Decodes the JSON-style escapes of a quoted key. */
function unquote(path: string, body: string): string {
  try {
    return JSON.parse(`"${body}"`) as string;
  } catch {
    throw invalid(path, `bad escape in the quoted key "${body}"`);
  }
}

function parseUncached(path: string): PathSegment[] {
  const segments: PathSegment[] = [];
  let rest = path.trim();
  if (rest === '') throw invalid(path, 'it is empty');
  let first = true;
  while (rest !== '') {
    if (!first && rest.startsWith('.')) rest = rest.slice(1);
    else if (!first && !rest.startsWith('[')) throw invalid(path, `unexpected "${rest[0]}"`);
    const name = NAME.exec(rest);
    const index = name ? null : INDEX.exec(rest);
    const quoted = name || index ? null : QUOTED.exec(rest);
    if (name) segments.push(name[0]);
    else if (index) segments.push(Number(index[1]));
    else if (quoted) segments.push(unquote(path, quoted[1] ?? (quoted[2] ?? '').replace(/\\'/g, "'").replace(/"/g, '\\"')));
    else throw invalid(path, `cannot read a key at "${rest}"`);
    const matched = (name ?? index ?? quoted)?.[0] ?? '';
    rest = rest.slice(matched.length);
    first = false;
  }
  for (const s of segments) if (typeof s === 'string') refuseKey(path, s);
  return segments;
}

/**
 * Splits a path into segments, once per distinct string (cached).
 *
 * Throws `ExpressionError` `expression_parse` for a malformed path and `expression_eval` for a
 * path using `__proto__`, `constructor` or `prototype`.
 *
 * @example
 * parsePath('a.b[2].c') // ['a', 'b', 2, 'c']
 */
export function parsePath(path: string): readonly PathSegment[] {
  let segments = cache.get(path);
  if (segments === undefined) {
    segments = Object.freeze(parseUncached(path));
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(path, segments);
  }
  return segments;
}

/** Segments built by hand skip `parsePath`, so they get the same key check here. */
function checked(segments: readonly PathSegment[]): readonly PathSegment[] {
  for (const s of segments) if (typeof s === 'string' && FORBIDDEN_KEYS.has(s)) refuseKey(segments.join('.'), s);
  return segments;
}

/** Reads one step; only own properties count, so inherited members (`toString`) are missing. */
function step(value: unknown, segment: PathSegment): unknown {
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    return typeof segment === 'number' ? value[segment] : undefined;
  }
  const key = String(segment);
  return Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined;
}

/**
 * Reads the value at `path`, or `undefined` when any step is missing. Only own properties are
 * read, and an index only applies to an array.
 *
 * @example
 * getPath({ a: { b: [1, 2, { c: 3 }] } }, 'a.b[2].c') // 3
 */
export function getPath(obj: unknown, path: string | readonly PathSegment[]): unknown {
  const segments = typeof path === 'string' ? parsePath(path) : checked(path);
  let value = obj;
  for (let i = 0; i < segments.length && value !== undefined; i++) value = step(value, segments[i] as PathSegment);
  return value;
}

/**
 * How far past a list's end a path write may reach. A write at index `n` fills the gap with holes,
 * so `big[50000000]` allocated 2.4 GB and took 89 s; a workflow that appends or fills a few slots
 * never comes near this.
 */
export const MAX_INDEX_GAP = 10_000;

function assign(container: unknown, segments: readonly PathSegment[], i: number, value: unknown): unknown {
  if (i === segments.length) return value;
  const segment = segments[i] as PathSegment;
  if (typeof segment === 'number') {
    const length = Array.isArray(container) ? container.length : 0;
    if (segment > length + MAX_INDEX_GAP) {
      const path = segments.map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`)).join('').replace(/^\./, '');
      throw new ExpressionError(
        'expression_eval',
        `Path "${path}" writes index ${segment} of a list of ${length}; a write may reach at most ${MAX_INDEX_GAP} past the end.`,
        { details: { path, index: segment, length, limit: MAX_INDEX_GAP } },
      );
    }
    const copy = Array.isArray(container) ? container.slice() : [];
    copy[segment] = assign(copy[segment], segments, i + 1, value);
    return copy;
  }
  const base =
    container !== null && typeof container === 'object' && !Array.isArray(container)
      ? (container as Record<string, unknown>)
      : {};
  // Object.assign, not a spread: see ScopeContexts.open.
  const copy: Record<string, unknown> = Object.assign({}, base);
  copy[segment] = assign(Object.hasOwn(base, segment) ? base[segment] : undefined, segments, i + 1, value);
  return copy;
}

/**
 * Returns a copy of `obj` with `value` written at `path`; `obj` itself is never mutated
 * (copy-on-write: only the containers along the path are copied, the rest is shared).
 * Missing containers are created: an array when the next segment is an index, else an object.
 * A non-container in the way is replaced. An index more than {@link MAX_INDEX_GAP} past the end
 * of its list throws `ExpressionError` `expression_eval`.
 *
 * Immutable because run state is persisted and shared between steps: mutating it in place
 * would corrupt an earlier step's recorded output.
 *
 * @example
 * setPath({ a: 1 }, 'b.c[0]', 'x') // { a: 1, b: { c: ['x'] } }
 */
export function setPath<T>(obj: T, path: string | readonly PathSegment[], value: unknown): T {
  const segments = typeof path === 'string' ? parsePath(path) : checked(path);
  return assign(obj, segments, 0, value) as T;
}
