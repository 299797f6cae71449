/** Id generation, injectable so tests get stable ids. */
import { randomBytes } from 'node:crypto';

/** Makes a new unique id with a readable prefix (`run`, `exec`, ...). */
export type IdGenerator = (prefix: string) => string;

// 40 random bits drawn once per process, then a 40-bit counter starting at a random value: ids
// from two processes never collide unless both draws do, and making one costs no syscall.
const origin = randomBytes(10);
const processPart = origin.subarray(0, 5).toString('hex');
let counter = origin.readUIntBE(5, 5);
const COUNTER_LIMIT = 2 ** 40;
let lastMs = -1;
/** `<prefix>_<ms><process part>` by prefix, for the current millisecond (runs and calls alternate). */
const heads = new Map<string, string>();

/** Two hex digits for each byte value: Number#toString(16) costs more than the rest of an id. */
const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

/**
 * The default: prefix, then 48 bits of milliseconds, 40 bits fixed per process and a 40-bit
 * counter, in hex (like UUIDv7 or a MongoDB ObjectId). Ids sort by creation time, so the database
 * appends rows instead of inserting them at random places in its indexes: on SQLite that halves
 * the cost of recording an LLM call.
 */
export const randomIds: IdGenerator = (prefix) => {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    heads.clear();
  }
  let head = heads.get(prefix);
  if (head === undefined) {
    head = `${prefix}_${now.toString(16).padStart(12, '0')}${processPart}`;
    heads.set(prefix, head);
  }
  counter = (counter + 1) % COUNTER_LIMIT;
  const low = counter % 0x1000000;
  const high = (counter - low) / 0x1000000;
  // The counter's ten digits first (short strings are joined flat), then one join with the head.
  const tail = HEX[high >>> 8]! + HEX[high & 255]! + HEX[low >>> 16]! + HEX[(low >>> 8) & 255]! + HEX[low & 255]!;
  return head + tail;
};

/** Deterministic ids (`run_1`, `run_2`, ...) for tests. */
export function sequentialIds(): IdGenerator {
  const counters = new Map<string, number>();
  return (prefix) => {
    const n = (counters.get(prefix) ?? 0) + 1;
    counters.set(prefix, n);
    return `${prefix}_${n}`;
  };
}
