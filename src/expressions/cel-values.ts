/**
 * CEL values as plain JS: cel-js hands back ints as BigInt, uints boxed and maps as `Map`, while
 * the run's data is JSON; these helpers convert between the two for results and functions.
 */
import { ExpressionError } from '../kernel/errors.js';
import { FORBIDDEN_KEYS } from './data-paths.js';

/** A CEL number (int as BigInt, double as number, uint as a boxed BigInt) as a JS number. */
export function num(value: unknown, fn: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (value !== null && typeof value === 'object' && typeof (value as { valueOf(): unknown }).valueOf() === 'bigint') {
    return Number((value as { valueOf(): bigint }).valueOf());
  }
  throw new ExpressionError('expression_eval', `${fn}() expects a number, got ${describe(value)}.`);
}

/** How a non-number reads in an error message. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a map' : `a ${typeof value}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Converts CEL results to plain JS: BigInt and uint become numbers, Maps become objects. */
export function toPlain(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(toPlain);
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of value) if (!FORBIDDEN_KEYS.has(String(k))) out[String(k)] = toPlain(v);
    return out;
  }
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value)) out[k] = toPlain(value[k]);
    return out;
  }
  const primitive: unknown = (value as { valueOf(): unknown }).valueOf();
  return typeof primitive === 'bigint' ? Number(primitive) : value;
}

/** Equality for `contains`: numbers compare by value whatever their CEL type, the rest deeply. */
export function same(a: unknown, b: unknown): boolean {
  const pa = toPlain(a);
  const pb = toPlain(b);
  if (pa === pb) return true;
  if (pa === null || pb === null || typeof pa !== 'object' || typeof pb !== 'object') return false;
  return JSON.stringify(pa) === JSON.stringify(pb);
}

/** A CEL value as JSON text (`json()`, `join()` of non-strings). */
export function jsonText(value: unknown): string {
  return JSON.stringify(toPlain(value)) ?? 'null';
}

/** Every element of `list` as a JS number, or an error naming `fn`. */
export function numbers(list: readonly unknown[], fn: string): number[] {
  return list.map((v) => num(v, fn));
}
