/**
 * `{{ path }}` templates for prompts, webhook bodies and messages. A placeholder is a path (see
 * `paths.ts`), not an expression: compute values with `data_transform` and reference them here.
 */
import { ExpressionError, TrellisError } from '../kernel/errors.js';
import { getPath, parsePath, type PathSegment } from './data-paths.js';

interface Placeholder {
  /** The path as written, trimmed: what error messages and `placeholderPaths` show. */
  readonly path: string;
  readonly segments: readonly PathSegment[];
}

/** Literal text and placeholders, alternating: `texts.length === placeholders.length + 1`. */
interface CompiledTemplate {
  readonly texts: readonly string[];
  readonly placeholders: readonly Placeholder[];
}

const PLACEHOLDER = /\{\{([^{}]*)\}\}/g;
const CACHE_LIMIT = 2_000;
const cache = new Map<string, CompiledTemplate>();

function compile(template: string): CompiledTemplate {
  const texts: string[] = [];
  const placeholders: Placeholder[] = [];
  let last = 0;
  for (const match of template.matchAll(PLACEHOLDER)) {
    const path = (match[1] ?? '').trim();
    let segments: readonly PathSegment[];
    try {
      segments = parsePath(path);
    } catch (error) {
      throw new ExpressionError(
        'expression_parse',
        `Template placeholder "${match[0]}" at offset ${match.index} is not a path like "a.b[0].c".`,
        { cause: error, details: { placeholder: match[0], offset: match.index } },
      );
    }
    texts.push(template.slice(last, match.index));
    placeholders.push({ path, segments });
    last = match.index + match[0].length;
  }
  texts.push(template.slice(last));
  return { texts, placeholders };
}

function compiled(template: string): CompiledTemplate {
  let entry = cache.get(template);
  if (entry === undefined) {
    entry = compile(template);
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(template, entry);
  }
  return entry;
}

function toText(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
      return String(value);
    case 'bigint':
      return value.toString();
    default:
      return JSON.stringify(value) ?? String(value);
  }
}

/**
 * Replaces each `{{ path }}` (spaces inside the braces allowed) with the value at that path in
 * `context`. Strings are inserted as-is, numbers and booleans as text, objects, arrays and `null`
 * as JSON. Text without placeholders, and a lone `{{` with no closing `}}`, is kept verbatim.
 * Templates are compiled once and cached by their text.
 *
 * Throws `TrellisError` `missing_variable` naming the placeholder when its path is missing (a
 * missing value is never rendered as an empty string), and `ExpressionError` `expression_parse`
 * when a placeholder is not a path.
 *
 * @example
 * fillPlaceholders('Summarise {{ input.url }} in {{variables.words}} words', {
 *   input: { url: 'https://example.com' },
 *   variables: { words: 50 },
 * }) // 'Summarise https://example.com in 50 words'
 */
export function fillPlaceholders(template: string, context: Record<string, unknown>): string {
  const { texts, placeholders } = compiled(template);
  let out = texts[0] as string;
  for (let i = 0; i < placeholders.length; i++) {
    const placeholder = placeholders[i] as Placeholder;
    const value = getPath(context, placeholder.segments);
    if (value === undefined) {
      throw new TrellisError('missing_variable', `Template variable "{{ ${placeholder.path} }}" is not set.`, {
        details: { path: placeholder.path },
      });
    }
    out += toText(value) + (texts[i + 1] as string);
  }
  return out;
}

/**
 * The paths a template reads, in order of first use, without duplicates (e.g.
 * `['input.url', 'variables.words']`); their first segment is the root identifier. Used by
 * validation to check `variables.X` references. Throws like {@link fillPlaceholders} for a bad
 * placeholder.
 *
 * @example
 * placeholderPaths('{{ a.b }} and {{a.b}} and {{ c[0] }}') // ['a.b', 'c[0]']
 */
export function placeholderPaths(template: string): string[] {
  return [...new Set(compiled(template).placeholders.map((p) => p.path))];
}
