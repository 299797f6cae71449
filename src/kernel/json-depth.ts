/**
 * The nesting limit of JSON that enters from outside (HTTP bodies, run input, approval data, event
 * payloads, webhook bodies and responses, model answers). Much of the engine walks values
 * recursively (JSON.stringify, copies, freezing, expressions), so a value nested deeply enough
 * ends in `RangeError: Maximum call stack size exceeded` far from where it came in. The check
 * itself is iterative, so it cannot overflow whatever it is given.
 */
import { InvalidInputError } from './errors.js';

/**
 * Deepest nesting of objects and arrays accepted: `{}` is depth 1, `{ "a": [1] }` depth 2.
 * Far more than real data needs, far less than the ~2,000-10,000 frames a recursive walk can take.
 */
export const MAX_JSON_DEPTH = 256;

/**
 * Whether `value` nests objects or arrays more than `max` levels deep. Iterative and stops at the
 * first container past the limit; a cycle counts as too deep (it is not JSON anyway).
 */
export function exceedsJsonDepth(value: unknown, max = MAX_JSON_DEPTH): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const stack: unknown[] = [value];
  const depths: number[] = [1];
  while (stack.length > 0) {
    const current = stack.pop() as object;
    const depth = depths.pop()!;
    if (depth > max) return true;
    // Indexed loops rather than Object.values: no array of children is made per container.
    if (Array.isArray(current)) {
      for (let i = 0; i < current.length; i++) push(current[i] as unknown, depth);
    } else {
      for (const key in current) {
        if (Object.hasOwn(current, key)) push((current as Record<string, unknown>)[key], depth);
      }
    }
  }
  return false;

  function push(child: unknown, depth: number): void {
    if (typeof child === 'object' && child !== null) {
      stack.push(child);
      depths.push(depth + 1);
    }
  }
}

/**
 * Throws `invalid_input` (HTTP 400) when `value` nests deeper than `max`; `what` names it in the
 * issue's path (`['body']`, `['input']`, `['data']`).
 *
 * @example
 * assertJsonDepth(JSON.parse(text), 'payload');
 */
export function assertJsonDepth(value: unknown, what: string, max = MAX_JSON_DEPTH): void {
  if (!exceedsJsonDepth(value, max)) return;
  throw new InvalidInputError([{ path: [what], code: 'too_deep', message: `${what} nests objects or arrays more than ${max} levels deep` }]);
}
