/**
 * Text every database keeps. A JavaScript string may hold NUL (`\u0000`) and lone surrogates
 * (`\ud800` with no low half after it, `\udfff` with no high half before it), and models and users
 * do send them. PostgreSQL refuses NUL in `text` and both (as the escapes `\u0000`, `\ud800`) in
 * `jsonb`; a driver that converts to UTF-8 (pg, better-sqlite3) replaces a lone surrogate with
 * U+FFFD. The SQL storages therefore escape these code units on the way in and restore them on the
 * way out.
 *
 * The escape: U+FDD0, a Unicode noncharacter (reserved for a program's internal use, so text from
 * outside has no business holding it), followed by the four lowercase hex digits of the code unit.
 * U+FDD0 itself is escaped the same way (`\ufdd0fdd0`), so every U+FDD0 in stored text starts an
 * escape and restoring is unambiguous. Only NUL, lone surrogates and U+FDD0 are escaped; a valid
 * surrogate pair (an emoji) is stored as it is.
 *
 * Text without those characters, nearly all of it, passes through both ways unchanged, after one
 * native scan (a regular expression test or `indexOf`): no allocation, no JavaScript loop.
 */

/** The escape character. */
const MARK = '\ufdd0';

/** Whether `text` holds a code unit to escape (a surrogate, paired or not, sends it to the exact check). */
const SUSPECT = /[\u0000\ud800-\udfff\ufdd0]/;

/** A JSON escape whose code unit PostgreSQL's jsonb refuses, a literal U+FDD0, or `\\` (skipped, see below). */
const JSON_SUSPECT = /\\\\|\\u(0000|d[89a-f][0-9a-f]{2})|\ufdd0/g;

const ESCAPED = /\ufdd0([0-9a-f]{4})/g;

function hex4(code: number): string {
  return MARK + code.toString(16).padStart(4, '0');
}

/** `text` with NUL, lone surrogates and U+FDD0 escaped (see above); `text` itself when it has none. */
export function escapeText(text: string): string {
  if (!SUSPECT.test(text)) return text;
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      // A valid pair stays; skip its low half.
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
    } else if (code !== 0 && code !== 0xfdd0 && (code < 0xdc00 || code > 0xdfff)) continue;
    out += text.slice(from, i) + hex4(code);
    from = i + 1;
  }
  return out + text.slice(from);
}

/** Reverses {@link escapeText}. */
export function unescapeText(text: string): string {
  if (text.indexOf(MARK) === -1) return text;
  return text.replace(ESCAPED, (_, digits: string) => String.fromCharCode(parseInt(digits, 16)));
}

/**
 * JSON text (from `JSON.stringify`, or written by hand in the same form) made storable in jsonb:
 * the escapes `\u0000` and `\ud800`-`\udfff` become U+FDD0 and the hex digits, inside the same
 * JSON string, and a literal U+FDD0 becomes `\ufdd0fdd0`. The result is still valid JSON, whose
 * strings hold the {@link escapeText} form of the originals. `JSON.stringify` writes no raw NUL or
 * lone surrogate, so these escapes are the only forms they take. A `\\` pair is matched first and
 * kept, so that the `\u0000` in a literal backslash followed by `u0000` is left alone.
 */
export function escapeJsonText(json: string): string {
  if (json.indexOf('\\u') === -1 && json.indexOf(MARK) === -1) return json;
  return json.replace(JSON_SUSPECT, (match: string, digits: string | undefined) => (match === '\\\\' ? match : digits === undefined ? hex4(0xfdd0) : MARK + digits));
}

/** Parses JSON text written by {@link escapeJsonText} (or not escaped at all). */
export function parseEscapedJson(json: string): unknown {
  // Back to JSON escapes, which JSON.parse turns into the original code units.
  return JSON.parse(json.indexOf(MARK) === -1 ? json : json.replace(ESCAPED, '\\u$1'));
}
