/**
 * What a model call hands back to its step: the answer, its usage and cost, its record's id, and
 * the answer parsed as JSON when it is an object or array.
 */
import type { Json } from '../kernel/json.js';
import { exceedsJsonDepth } from '../kernel/json-depth.js';
import type { Mutable } from './call-records.js';
import type { ModelResult } from './call-types.js';

/** What a model call returns: the answer, its usage (over every exchange it took), and its record's id. */
export function modelResult(
  text: string,
  usage: { readonly input_tokens: number; readonly output_tokens: number },
  model: string,
  callId: string,
  json: Json | undefined,
  cost: number | undefined,
  toolCalls: ModelResult['toolCalls'],
): ModelResult {
  const result: Mutable<ModelResult> = { text, usage: { input_tokens: usage.input_tokens, output_tokens: usage.output_tokens }, model, callId };
  if (json !== undefined) result.json = json;
  if (cost !== undefined) result.cost_usd = cost;
  if (toolCalls?.length) result.toolCalls = toolCalls;
  return result;
}
/** Parses text as JSON when it is an object or array (also inside a ```json fence) nested at most `MAX_JSON_DEPTH` deep. */
export function parseJson(text: string): Json | undefined {
  // Most answers are prose: decide from the first non-blank character before any trimming or regex.
  let start = 0;
  while (start < text.length && text.charCodeAt(start) <= 32) start++;
  const lead = text[start];
  if (lead !== '{' && lead !== '[' && lead !== '`') return undefined;
  let body = text.trim();
  // Only a fenced answer needs the regex; a bracketed prose answer ("[done]") then stops at couldBeJson.
  if (lead === '`') {
    const fence = /^```(?:json)?\s*([\s\S]*?)\s*```$/i.exec(body);
    if (fence) body = fence[1]!;
  }
  const first = body[0];
  if (first !== '{' && first !== '[') return undefined;
  if (!couldBeJson(body)) return undefined;
  let json: Json;
  try {
    json = JSON.parse(body) as Json;
  } catch {
    return undefined;
  }
  // Nested past MAX_JSON_DEPTH it stays prose: what walks it next would overflow the stack, and a
  // call that needs JSON (an output schema) then fails as malformed_output and is retried.
  return exceedsJsonDepth(json) ? undefined : json;
}

/**
 * A check that rules out most prose in brackets (`[Summary: ...]`, `{note}`) before `JSON.parse`,
 * whose thrown SyntaxError costs far more than the parse of a short answer: what follows the
 * opening bracket must be able to start a JSON value (or a key, after `{`), and the closing one
 * must match. It only ever says "maybe"; `JSON.parse` decides.
 */
function couldBeJson(body: string): boolean {
  const open = body[0];
  if (body[body.length - 1] !== (open === '{' ? '}' : ']')) return false;
  let i = 1;
  while (i < body.length && body.charCodeAt(i) <= 32) i++;
  const next = body[i] ?? '';
  if (open === '{') return next === '"' || next === '}';
  return next === ']' || '{["-0123456789tfn'.includes(next);
}
