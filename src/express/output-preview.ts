/**
 * The `output_data` of a run in a list: the output itself when it is small, else a preview of its
 * shape, so a list of runs stays light whatever the runs returned. The whole output is always in
 * `GET /workflow-executions/:id`.
 */
import type { Json } from '../kernel/json.js';

/** Largest output shown whole in a list, and the most a preview takes, as JSON characters. */
export const PREVIEW_CHARS = 2000;
const STRING_CHARS = 100;
const ARRAY_ITEMS = 5;
const OBJECT_KEYS = 10;

/**
 * `{ output_data }` as it is when its JSON is at most {@link PREVIEW_CHARS} characters; else
 * `{ output_data: preview, output_truncated: true }`, where the preview cuts strings to 100
 * characters (ending in `…`), arrays to their first 5 items, objects to their first 10 keys, and
 * nesting to 2 levels (deeper values read `{…}` or `[…]`). A preview still over the limit keeps
 * only the top level; one still over that is left out (`output_truncated` alone says there is output).
 */
export function outputPreview(output: Json | undefined): { output_data?: Json; output_truncated?: true } {
  if (output === undefined) return {};
  if (JSON.stringify(output).length <= PREVIEW_CHARS) return { output_data: output };
  for (const depth of [2, 0]) {
    const preview = shrink(output, depth);
    if (JSON.stringify(preview).length <= PREVIEW_CHARS) return { output_data: preview, output_truncated: true };
  }
  return { output_truncated: true };
}

/** `value` cut down; `depth` is how many levels of nesting below this one are kept. */
function shrink(value: Json, depth: number): Json {
  if (typeof value === 'string') return value.length > STRING_CHARS ? `${value.slice(0, STRING_CHARS)}…` : value;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    if (depth < 0) return '[…]';
    const items = value.slice(0, ARRAY_ITEMS).map((item) => shrink(item, depth - 1));
    return value.length > ARRAY_ITEMS ? [...items, `… ${value.length - ARRAY_ITEMS} more`] : items;
  }
  if (depth < 0) return '{…}';
  const entries = Object.entries(value);
  const kept: Record<string, Json> = {};
  for (const [key, item] of entries.slice(0, OBJECT_KEYS)) kept[key.length > STRING_CHARS ? `${key.slice(0, STRING_CHARS)}…` : key] = shrink(item as Json, depth - 1);
  if (entries.length > OBJECT_KEYS) kept['…'] = `${entries.length - OBJECT_KEYS} more keys`;
  return kept;
}
