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

const isDigit = (code: number): boolean => code >= 48 && code <= 57;
const isIdStart = (code: number): boolean => (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95;
const isIdChar = (code: number): boolean => isIdStart(code) || isDigit(code) || code === 45;

/**
 * Parses a scope prefix such as `a[1].b[2].` into its innermost iteration: the loop id (a node
 * id, `[A-Za-z_][A-Za-z0-9_-]*`) before the last `[digits].`, and everything before that id.
 * Read by hand, not by a regular expression: it runs for every step a loop settles.
 */
export function parseIterationPrefix(prefix: string): IterationScope | undefined {
  const end = prefix.length - 2; // the "]" of the closing "]."
  if (end < 3 || prefix.charCodeAt(end) !== 93 || prefix.charCodeAt(end + 1) !== 46) return undefined;
  const open = prefix.lastIndexOf('[', end - 1);
  if (open < 1 || open === end - 1) return undefined;
  for (let i = open + 1; i < end; i++) if (!isDigit(prefix.charCodeAt(i))) return undefined;
  // The id is the id characters before "[", from the first one that may start an id.
  let runStart = open;
  while (runStart > 0 && isIdChar(prefix.charCodeAt(runStart - 1))) runStart--;
  let idStart = runStart;
  while (idStart < open && !isIdStart(prefix.charCodeAt(idStart))) idStart++;
  if (idStart === open) return undefined;
  return { parentPrefix: prefix.slice(0, idStart), loopId: prefix.slice(idStart, open), index: Number(prefix.slice(open + 1, end)) };
}

/** Splits a step path into its scope prefix and node id. */
export function splitStepPath(path: string): { prefix: string; nodeId: string } {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? { prefix: '', nodeId: path } : { prefix: path.slice(0, dot + 1), nodeId: path.slice(dot + 1) };
}
