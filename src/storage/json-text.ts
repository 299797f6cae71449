/**
 * JSON text of single values, for the encoders that write stored records as text by hand (step
 * calls, the step log). Same output as `JSON.stringify`, with fast paths for what those records
 * mostly hold: numbers, and strings that need no escaping (ids, statuses, model names).
 */

/** A number as JSON text: what `JSON.stringify` gives, without its generic path. */
export function numberText(value: number): string {
  return Number.isFinite(value) ? String(value) : 'null';
}

/** A string as JSON text. Checking for characters to escape costs less than `JSON.stringify`. */
export function stringText(value: string): string {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    // Control characters, quote, backslash and surrogates (a lone one is escaped) take the slow path.
    if (code < 0x20 || code === 0x22 || code === 0x5c || (code >= 0xd800 && code <= 0xdfff)) return JSON.stringify(value);
  }
  return `"${value}"`;
}

/** Any JSON-compatible value as JSON text (`JSON.stringify`, with `undefined` as `null`). */
export function jsonText(value: unknown): string {
  if (typeof value === 'string') return stringText(value);
  if (typeof value === 'number') return numberText(value);
  if (value === null) return 'null';
  return JSON.stringify(value) ?? 'null';
}
