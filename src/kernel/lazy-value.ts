/**
 * A stand-in for an object that is created on first use. It exists for the zod schemas Trellis
 * exports (`WorkflowSchema`, `NODE_CONFIG_SCHEMAS`, ...): they must stay importable values of
 * their zod types, yet building them needs zod, which is loaded on first use (lazy-modules.ts).
 * Internal code calls the memoized builders directly and never goes through a stand-in.
 */

/**
 * Returns a proxy that behaves as `create()`'s result, calling `create` on the first operation.
 * Property reads run on the real object (getters see it as `this`), so a zod schema's methods,
 * `instanceof z.ZodType` and composing it into other schemas work as with the real one.
 */
export function lazyValue<T extends object>(create: () => T): T {
  let value: T | undefined;
  const real = (): T => (value ??= create());
  // The proxy's own target stays an empty object: the invariants Proxy enforces are checked
  // against it, so descriptors are reported configurable (the real schema's `_zod` is not).
  return new Proxy({} as T, {
    get: (_, key) => Reflect.get(real(), key) as unknown,
    set: (_, key, v) => Reflect.set(real(), key, v),
    has: (_, key) => Reflect.has(real(), key),
    ownKeys: () => Reflect.ownKeys(real()),
    getOwnPropertyDescriptor: (_, key) => {
      const descriptor = Reflect.getOwnPropertyDescriptor(real(), key);
      return descriptor && { ...descriptor, configurable: true };
    },
    defineProperty: (_, key, descriptor) => Reflect.defineProperty(real(), key, descriptor),
    deleteProperty: (_, key) => Reflect.deleteProperty(real(), key),
    getPrototypeOf: () => Reflect.getPrototypeOf(real()),
    // Freezing would freeze the empty target, and the keys forwarded above would then break
    // Proxy's invariants: refuse it at once instead (Object.freeze throws a TypeError).
    preventExtensions: () => false,
  });
}
