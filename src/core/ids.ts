/** Id generation, injectable so tests get stable ids. */
import { randomUUID } from 'node:crypto';

/** Makes a new unique id with a readable prefix (`run`, `exec`, ...). */
export type IdGenerator = (prefix: string) => string;

/**
 * The default: prefix, then 48 bits of milliseconds and 80 random bits, in hex (like UUIDv7).
 * Ids sort by creation time, so the database appends rows instead of inserting them at random
 * places in its indexes: on SQLite that halves the cost of recording an LLM call.
 */
export const randomIds: IdGenerator = (prefix) => `${prefix}_${Date.now().toString(16).padStart(12, '0')}${randomUUID().replaceAll('-', '').slice(12)}`;

/** Deterministic ids (`run_1`, `run_2`, ...) for tests. */
export function sequentialIds(): IdGenerator {
  const counters = new Map<string, number>();
  return (prefix) => {
    const n = (counters.get(prefix) ?? 0) + 1;
    counters.set(prefix, n);
    return `${prefix}_${n}`;
  };
}
