/**
 * Keyset pages over records held in memory: what MemoryStorage's scans share. Ids compare by UTF-16
 * code unit (JavaScript's `<`), which is the memory storage's own order of text.
 */
import type { ScanOptions, VersionKey } from './storage.js';

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Orders versions by id, then version. */
export function byIdThenVersion(a: VersionKey, b: VersionKey): number {
  return compareText(a.id, b.id) || a.version - b.version;
}

/** A page of versions after `options.after`, in id-then-version order. */
export function versionPage<T extends VersionKey>(records: Iterable<T>, options: ScanOptions<VersionKey>): T[] {
  const { after } = options;
  const rest = [...records].filter((r) => after === undefined || byIdThenVersion(r, after) > 0);
  return rest.sort(byIdThenVersion).slice(0, options.limit);
}

/** A page of records after the id `options.after`, in id order. */
export function idPage<T extends { readonly id: string }>(records: Iterable<T>, options: ScanOptions<string>): T[] {
  const { after } = options;
  const rest = [...records].filter((r) => after === undefined || compareText(r.id, after) > 0);
  return rest.sort((a, b) => compareText(a.id, b.id)).slice(0, options.limit);
}
