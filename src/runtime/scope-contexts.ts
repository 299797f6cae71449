/**
 * The run context, per scope. The top scope holds `input`, `variables`, every completed node's
 * output under its id and the paths nodes wrote; an iteration scope starts as a copy of its
 * parent plus the loop item and index. Cached in memory while a run is hot; rebuilt from the
 * committed steps on recovery.
 */
import { parsePath, setPath } from '../expressions/data-paths.js';
import { plainMaker } from '../kernel/plain.js';

/** A mutable context object of one scope. */
export type ScopeContext = Record<string, unknown>;

const newScope = plainMaker<ScopeContext>();

/** Contexts by scope prefix. */
export class ScopeContexts {
  readonly #byPrefix = new Map<string, ScopeContext>();
  /** Prefixes with scopes nested inside them: closing any other scope touches only its own entry. */
  readonly #parents = new Set<string>();

  constructor(root: ScopeContext) {
    this.#byPrefix.set('', root);
  }

  get(prefix: string): ScopeContext | undefined {
    return this.#byPrefix.get(prefix);
  }

  /** Opens an iteration scope as a copy of its parent with the loop bindings added. */
  open(prefix: string, parentPrefix: string, bindings: Readonly<Record<string, unknown>>): ScopeContext {
    const parent = this.#byPrefix.get(parentPrefix) ?? {};
    // Object.assign, not a spread: a spread clone that then gains keys (the bindings here, node
    // outputs later) costs V8 a new hidden class each time, where a copy by assignment reuses one. Onto a
    // plain object, not `{}`: the scope lives as long as its iteration (see plain.ts).
    const ctx: ScopeContext = Object.assign(newScope(), parent);
    for (const key in bindings) ctx[key] = bindings[key];
    this.#byPrefix.set(prefix, ctx);
    if (parentPrefix !== '') this.#parents.add(parentPrefix);
    return ctx;
  }

  /** Drops an iteration scope and every scope nested in it. */
  close(prefix: string): void {
    this.#byPrefix.delete(prefix);
    if (!this.#parents.delete(prefix)) return;
    for (const key of this.#byPrefix.keys()) {
      if (key !== '' && key.startsWith(prefix)) {
        this.#byPrefix.delete(key);
        this.#parents.delete(key);
      }
    }
  }

  /** Records a completed node's output and the context paths it wrote. */
  apply(prefix: string, nodeId: string, output: unknown, writes: Readonly<Record<string, unknown>> | undefined): void {
    const ctx = this.#byPrefix.get(prefix);
    if (!ctx) return;
    ctx[nodeId] = output;
    if (!writes) return;
    for (const [path, value] of Object.entries(writes)) {
      const [root, ...rest] = parsePath(path);
      if (root === undefined) continue;
      // setPath copies along the path, so outputs recorded earlier are never mutated.
      ctx[String(root)] = rest.length === 0 ? value : setPath(ctx[String(root)], rest, value);
    }
  }
}
