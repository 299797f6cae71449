/**
 * Lists cut to what the request may read. Each listed record is put to `authorize` as
 * `<type>:read` on its id, the question a `GET` of that one record asks: a hook that scopes reads
 * by owner scopes lists with no second rule to keep in step. Pages are cut after filtering, so
 * they stay full and `has_more` is true only when a readable row follows.
 */
import type { Request } from 'express';
import type { AuthorizeFn } from './router-options.js';
import { allows } from './principal.js';

/** Records listed by the router, with the read action that guards each. */
type Listed = 'workflow' | 'execution' | 'prompt';

/** How many rows are read from storage per round while a page fills. */
const BATCH = 100;

/** Keeps the rows `authorize` lets `req` read, in order (asked all at once). */
export async function readable<T extends { readonly id: string }>(authorize: AuthorizeFn | undefined, req: Request, type: Listed, rows: readonly T[]): Promise<T[]> {
  if (!authorize) return [...rows];
  const allowed = await Promise.all(rows.map(async (row) => allows(req, await authorize(req, `${type}:read`, { type, id: row.id }))));
  return rows.filter((_, i) => allowed[i]);
}

/**
 * Up to `limit + 1` readable rows after skipping `offset` readable ones (the extra row tells
 * `page` there are more). Without `authorize` this is one storage read, as before. With it,
 * storage is read from the start in batches, since an offset into the readable rows is not an
 * offset into storage: a request costs one `authorize` call per row scanned.
 */
export async function readablePage<T extends { readonly id: string }>(
  authorize: AuthorizeFn | undefined,
  req: Request,
  type: Listed,
  fetch: (limit: number, offset: number) => Promise<readonly T[]>,
  limit: number,
  offset: number,
): Promise<T[]> {
  if (!authorize) return [...(await fetch(limit + 1, offset))];
  const batch = Math.max(BATCH, limit + 1);
  const out: T[] = [];
  let skip = offset;
  for (let at = 0; ; at += batch) {
    const rows = await fetch(batch, at);
    for (const row of await readable(authorize, req, type, rows)) {
      if (skip > 0) skip--;
      else if (out.push(row) > limit) return out;
    }
    if (rows.length < batch) return out;
  }
}
