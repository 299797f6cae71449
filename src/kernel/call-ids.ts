/**
 * Ids of model calls made by workflow steps: `<token>:<run id>:<step path>` (the token is unique on
 * its own). The id names its run and step, so a storage can keep the call's record with its step
 * and find it again from the id alone (see storage/step-calls.ts).
 */

/** The id of an LLM call made at step `path` of run `runId`; `token` makes it unique. */
export function stepCallId(token: string, runId: string, path: string): string {
  return `${token}:${runId}:${path}`;
}

/** The run and step an id made by {@link stepCallId} names, or undefined for any other id. */
export function parseStepCallId(id: string): { readonly runId: string; readonly path: string } | undefined {
  const first = id.indexOf(':');
  if (first < 0) return undefined;
  const second = id.indexOf(':', first + 1);
  if (second < 0 || second === first + 1 || second === id.length - 1) return undefined;
  return { runId: id.slice(first + 1, second), path: id.slice(second + 1) };
}
