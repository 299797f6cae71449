/**
 * Regular expressions that cannot stall the host: CEL `matches()` and JSON Schema `pattern` run on
 * RE2 (re2js, a pure JS port of RE2), whose matching time is linear in the input, never exponential
 * like the backtracking `RegExp` of V8 (`^(a+)+$` on 30 characters blocks for seconds). The price
 * is RE2's syntax: no lookaround and no backreferences; such a pattern is refused, not run.
 */
import type { RE2JS } from 're2js';
import { ExpressionError } from '../kernel/errors.js';
import { loadRe2 } from '../kernel/lazy-modules.js';

/** A compiled pattern: `test` is true when the pattern matches anywhere in `input` (unanchored). */
export interface SafeRegex {
  readonly source: string;
  test(input: string): boolean;
}

// Patterns come from definitions and data; the cap keeps a caller that builds them from data from
// growing the cache without bound.
const CACHE_LIMIT = 1_000;
const cache = new Map<string, SafeRegex | ExpressionError>();

function compileUncached(pattern: string, syntax: 're2' | 'ecma'): SafeRegex | ExpressionError {
  const { RE2JS: Re2 } = loadRe2();
  try {
    const translated = syntax === 'ecma' ? Re2.translateRegExp(pattern) : pattern;
    const re: RE2JS = Re2.compile(translated);
    return Object.freeze({ source: pattern, test: (input: string) => re.test(input) });
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return new ExpressionError(
      'expression_eval',
      `The regular expression "${pattern}" is not supported: ${why} (patterns use RE2 syntax: no lookaround or backreferences).`,
      { cause: error, details: { pattern } },
    );
  }
}

/**
 * Compiles `pattern` for linear-time matching, cached per pattern. `syntax: 'ecma'` first
 * translates JavaScript-only spellings (`\uXXXX`, `(?<name>...)`), for JSON Schema patterns, which
 * are ECMA-262 regexes; `'re2'` (CEL's `matches`) takes the pattern as RE2 syntax.
 *
 * Throws `ExpressionError` `expression_eval` for a malformed pattern or one RE2 cannot run.
 *
 * @example
 * compileSafeRegex('^(a+)+$').test('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!'); // false, at once
 */
export function compileSafeRegex(pattern: string, syntax: 're2' | 'ecma' = 're2'): SafeRegex {
  const key = `${syntax}:${pattern}`;
  let compiled = cache.get(key);
  if (compiled === undefined) {
    compiled = compileUncached(pattern, syntax);
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(key, compiled);
  }
  if (compiled instanceof ExpressionError) throw compiled;
  return compiled;
}
