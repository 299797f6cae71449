/**
 * Step paths address a step however deeply it is nested: the node id, prefixed by the loop
 * iterations that enclose it, e.g. `review_loop[3].approve` or `outer[1].inner[0].summarize`.
 */

/** The scope prefix of iteration `index` of `loopId` inside `parentPrefix` (`''` at the top). */
export function iterationPrefix(parentPrefix: string, loopId: string, index: number): string {
  return `${parentPrefix}${loopId}[${index}].`;
}

/** The path of `nodeId` in the scope `prefix`. */
export function stepPath(prefix: string, nodeId: string): string {
  return prefix + nodeId;
}

/** What a scope prefix is made of; undefined for the top scope. */
export interface IterationScope {
  readonly parentPrefix: string;
  readonly loopId: string;
  readonly index: number;
}

const ITERATION = /^(.*?)([A-Za-z_][A-Za-z0-9_-]*)\[(\d+)\]\.$/;

/** Parses a scope prefix such as `a[1].b[2].` into its innermost iteration. */
export function parseIterationPrefix(prefix: string): IterationScope | undefined {
  if (prefix === '') return undefined;
  const m = ITERATION.exec(prefix);
  if (!m) return undefined;
  return { parentPrefix: m[1]!, loopId: m[2]!, index: Number(m[3]) };
}

/** Splits a step path into its scope prefix and node id. */
export function splitStepPath(path: string): { prefix: string; nodeId: string } {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? { prefix: '', nodeId: path } : { prefix: path.slice(0, dot + 1), nodeId: path.slice(dot + 1) };
}
