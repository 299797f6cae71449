/**
 * Deep freezing of JSON-like values: how the engine makes a definition it has run, stored or
 * compiled unchangeable, so that what ran is always what the object says (see Engine.start).
 */

/**
 * Freezes `value` and every object and array inside it, and returns it. Objects already frozen by
 * this function are skipped (their insides are frozen too); a shallowly frozen object made
 * elsewhere is still walked.
 *
 * @example
 * const def = deepFreeze({ nodes: [{ config: { template: 'hi' } }] });
 * def.nodes[0].config.template = 'x'; // TypeError in strict mode; ignored in sloppy mode
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !FROZEN.has(value)) {
    // Marked first, so that a cycle ends instead of recursing forever.
    FROZEN.add(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}

/** What deepFreeze finished: a WeakSet, since `Object.isFrozen` says nothing about the insides. */
const FROZEN = new WeakSet<object>();
