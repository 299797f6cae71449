/**
 * One JSON document streamed in sections: a header object whose last members are arrays written one
 * element per line. The text is plain JSON (any parser reads it whole), and its layout lets a reader
 * take it a line at a time, so neither side holds the document in memory:
 *
 * ```
 * {"format":"x","version":1,
 * "items":[
 * {"a":1},
 * {"a":2}
 * ],
 * "others":[
 * ]}
 * ```
 *
 * JSON.stringify never writes a raw line feed (it escapes them in strings), so each element is one line.
 */
import { TrellisError } from './errors.js';

/** What {@link readJsonSections} yields: the header's members first, then each element of each section. */
export type JsonSectionEntry =
  | { readonly kind: 'header'; readonly header: Readonly<Record<string, unknown>> }
  | { readonly kind: 'item'; readonly section: string; readonly value: unknown };

/** Writes `header`'s members (at least one), then each section as an array, one element per chunk and line. */
export async function* writeJsonSections(header: Readonly<Record<string, unknown>>, sections: readonly (readonly [string, AsyncIterable<unknown>])[]): AsyncGenerator<string> {
  if (Object.keys(header).length === 0) throw new TrellisError('invalid_input', 'writeJsonSections needs a header with at least one member');
  yield JSON.stringify(header).slice(0, -1);
  for (const [name, items] of sections) {
    yield `,\n${JSON.stringify(name)}:[`;
    let count = 0;
    for await (const item of items) yield `${count++ > 0 ? ',' : ''}\n${JSON.stringify(item)}`;
    yield '\n]';
  }
  yield '}\n';
}

/** Text sources {@link readJsonSections} reads: a string, or chunks of text or UTF-8 bytes (a Node stream is one). */
export type JsonTextSource = string | AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>;

const SECTION_OPENER = /^("(?:[^"\\]|\\.)*"):\[$/;

/**
 * Reads a document {@link writeJsonSections} wrote, a line at a time. A document laid out otherwise
 * (pretty-printed, say) is read whole instead, then given the same way: its array members are the
 * sections, the others the header. Throws `invalid_input` on text that is not such a document.
 */
export async function* readJsonSections(source: JsonTextSource): AsyncGenerator<JsonSectionEntry> {
  const lines = textLines(source);
  // Lines read before the first element: a document laid out otherwise is read whole from them.
  const seen: string[] = [];
  const whole = async function* (): AsyncGenerator<JsonSectionEntry> {
    yield* readWhole([...seen, ...(await rest(lines))].join('\n'));
  };
  const first = await lines.next();
  if (first.done) throw invalidDocument('it is empty');
  seen.push(first.value);
  const opening = first.value.trimEnd();
  const header = opening.endsWith(',') ? parseLine(`${opening.slice(0, -1)}}`) : undefined;
  if (!isObject(header)) return yield* whole();
  let section: string | undefined;
  let ended = false;
  let items = 0;
  for (let line = await lines.next(); !line.done; line = await lines.next()) {
    if (items === 0) seen.push(line.value);
    const text = line.value.trimEnd(); // a line end of \r\n (the file went through Windows) reads the same
    if (text === '') continue;
    if (ended) throw invalidDocument('text follows its end');
    if (section === undefined) {
      const opener = SECTION_OPENER.exec(text);
      if (!opener) {
        if (items === 0) return yield* whole();
        throw invalidDocument(`a section should open here, found ${preview(text)}`);
      }
      section = JSON.parse(opener[1]!) as string;
    } else if (text === ']' || text === '],' || text === ']}') {
      ended = text === ']}';
      section = undefined;
    } else {
      const value = parseLine(text.endsWith(',') ? text.slice(0, -1) : text);
      if (value === undefined) {
        if (items === 0) return yield* whole();
        throw invalidDocument(`an element of "${section}" is not JSON: ${preview(text)}`);
      }
      if (items++ === 0) {
        seen.length = 0;
        yield { kind: 'header', header };
      }
      yield { kind: 'item', section, value };
    }
  }
  if (!ended) {
    if (items === 0) return yield* whole();
    throw invalidDocument('it ends before its closing brace (cut short?)');
  }
  if (items === 0) yield { kind: 'header', header };
}

function* readWhole(text: string): Generator<JsonSectionEntry> {
  const document = parseLine(text);
  if (!isObject(document)) throw invalidDocument('it is not a JSON object');
  yield { kind: 'header', header: Object.fromEntries(Object.entries(document).filter(([, v]) => !Array.isArray(v))) };
  for (const [section, items] of Object.entries(document)) {
    if (Array.isArray(items)) for (const value of items) yield { kind: 'item', section, value };
  }
}

/** Splits a text source into lines (without their line feeds), decoding UTF-8 across chunk borders. */
async function* textLines(source: JsonTextSource): AsyncGenerator<string> {
  if (typeof source === 'string') {
    yield* source.split('\n');
    return;
  }
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let pending = '';
  for await (const chunk of source) {
    pending += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    const parts = pending.split('\n');
    pending = parts.pop()!;
    yield* parts;
  }
  pending += decoder.decode();
  yield pending;
}

async function rest(lines: AsyncGenerator<string>): Promise<string[]> {
  const all: string[] = [];
  for await (const line of lines) all.push(line);
  return all;
}

function parseLine(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function preview(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
}

function invalidDocument(why: string): TrellisError {
  return new TrellisError('invalid_input', `Not a readable JSON document: ${why}`);
}
