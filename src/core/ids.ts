/** Id generation, injectable so tests get stable ids. */
import { randomUUID } from 'node:crypto';

/** Makes a new unique id with a readable prefix (`run`, `exec`, ...). */
export type IdGenerator = (prefix: string) => string;

/** The default: prefix plus a random UUID. */
export const randomIds: IdGenerator = (prefix) => `${prefix}_${randomUUID()}`;

/** Deterministic ids (`run_1`, `run_2`, ...) for tests. */
export function sequentialIds(): IdGenerator {
  const counters = new Map<string, number>();
  return (prefix) => {
    const n = (counters.get(prefix) ?? 0) + 1;
    counters.set(prefix, n);
    return `${prefix}_${n}`;
  };
}
