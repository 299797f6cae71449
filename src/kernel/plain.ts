/**
 * Plain objects made with `new` rather than with object literals, for what a run keeps: step
 * rows, call records, run patches, node outputs, and the parts that wire one run's runtime
 * together (the commit batch's hooks, the executor's and scheduler's parts), which each runtime
 * class copies in its constructor, so callers pass ordinary literals that die at once. Engine-wide
 * wiring made once needs none of this.
 *
 * Why: V8 remembers where each object literal is evaluated (its allocation site) and, once most
 * objects from a site outlive a young-generation GC, allocates that site's objects straight into
 * the old generation ("pretenuring"). A run's records are such objects whenever runs are kept in
 * memory, so their sites were pretenured; yet most of them die young (a step's `running` row is
 * replaced by its `completed` row microseconds later), and while a dead record sits in the old
 * generation every young object it points to survives the young GC as well and is promoted in
 * turn, which shows on the bench as bytes promoted and runs slower than with V8's
 * `--no-allocation-site-pretenuring` (figures in docs/performance-notes.md). Objects made by
 * `new` carry no allocation site, so they are never pretenured.
 *
 * The constructors made here have `Object.prototype` as their prototype, so what they make is a
 * plain object in every way a caller can see: `Object.getPrototypeOf(x) === Object.prototype`,
 * `x.constructor === Object`, JSON, `structuredClone` and `toStrictEqual` all agree.
 */

/** Turns `init`, which sets the fields of `this`, into a constructor of plain objects. */
export function plainConstructor<T, A extends unknown[]>(init: (this: T, ...args: A) => void): new (...args: A) => T {
  (init as unknown as { prototype: object }).prototype = Object.prototype;
  return init as unknown as new (...args: A) => T;
}

/**
 * A maker of empty plain objects of one kind, to be filled field by field. Each kind gets a maker
 * (made once, at module level) with a constructor of its own, because V8 sizes a constructor's
 * objects to the fields its first objects received: one maker shared by kinds of different sizes
 * would leave the larger ones with their fields out of line.
 */
export function plainMaker<T extends object = Record<string, unknown>>(): () => T {
  const Kind = plainConstructor(function (this: T) {});
  return () => new Kind();
}

/**
 * A maker of plain objects of one kind holding a copy of the fields given. The literal passed in
 * dies at once, so its allocation site is never pretenured; for objects that live as long as a run.
 */
export function plainCopier<T extends object>(): (fields: T) => T {
  const make = plainMaker<T>();
  return (fields) => Object.assign(make(), fields);
}
