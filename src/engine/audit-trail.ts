/**
 * `engine.audit`: who changed what, and when. The engine makes an event for each change it is
 * asked to make (workflow saves, run starts, approvals, cancels, retries, discards, deletions) and
 * hands it to storage with the change itself, so the two land in one transaction. Read back by
 * subject, actor and time, newest first, a page at a time.
 */
import type { Clock } from '../kernel/clock.js';
import type { IdGenerator } from '../kernel/ids.js';
import type { Json } from '../kernel/json.js';
import { TrellisError } from '../kernel/errors.js';
import type { AuditAction, AuditEvent } from '../storage/records.js';
import type { Storage } from '../storage/storage.js';
import type { Mutable } from '../kernel/mutable.js';

/** Who made a change, for the engine methods that take it. */
export interface ActorOptions {
  /**
   * Who is making the change, recorded in the audit trail. The HTTP router passes its `actor(req)`,
   * by default the `authorize` principal.
   * @default 'system'
   */
  readonly actor?: string | undefined;
}

/** The actor recorded when none is given. */
export const SYSTEM_ACTOR = 'system';

/** What `engine.audit.list` reads. */
export interface AuditQuery {
  /** Events about this workflow or run id. */
  readonly subject?: string;
  /** Events about workflows or about runs only. */
  readonly subjectType?: 'workflow' | 'run';
  readonly actor?: string | undefined;
  /** Events at or after this time (a `Date`, or ms since epoch). */
  readonly since?: Date | number;
  /** Events before this time. */
  readonly until?: Date | number;
  /** At most this many events, 1 to 1000. @default 100 */
  readonly limit?: number;
  /** `nextCursor` of the previous page. */
  readonly cursor?: string;
}

/** A page of the audit trail, newest first; `nextCursor` is absent on the last page. */
export interface AuditPage {
  readonly events: readonly AuditEvent[];
  readonly nextCursor?: string;
}

/** What an audit event is about, besides who and when. */
export interface AuditChange {
  readonly action: AuditAction;
  readonly subjectType: 'workflow' | 'run';
  readonly subjectId: string;
  readonly beforeVersion?: number;
  readonly afterVersion?: number;
  readonly detail?: Json;
}

/** Makes audit events on the engine's clock and ids, and reads the trail back. */
export class AuditTrail {
  readonly #storage: () => Promise<Storage>;
  readonly #clock: Clock;
  readonly #ids: IdGenerator;
  /** Events are listed by time, then id: ids that start with this count keep one engine's events of a millisecond in order. */
  #count = 0;

  /** @internal */
  constructor(storage: () => Promise<Storage>, clock: Clock, ids: IdGenerator) {
    this.#storage = storage;
    this.#clock = clock;
    this.#ids = ids;
  }

  /** @internal The event recording `change` by `actor`, now. */
  event(change: AuditChange, actor: string | undefined): AuditEvent {
    // Field by field, not with conditional spreads: every run's start makes one of these.
    const event: Mutable<AuditEvent> = {
      id: `${(this.#count++).toString(36).padStart(10, '0')}_${this.#ids('audit')}`,
      at: this.#clock.now(),
      actor: actor ?? SYSTEM_ACTOR,
      action: change.action,
      subject_type: change.subjectType,
      subject_id: change.subjectId,
    };
    if (change.beforeVersion !== undefined) event.before_version = change.beforeVersion;
    if (change.afterVersion !== undefined) event.after_version = change.afterVersion;
    if (change.detail !== undefined) event.detail = change.detail;
    return event;
  }

  /** @internal The event recording a change to run `executionId` by `options.actor`. */
  runEvent(action: AuditAction, executionId: string, options: ActorOptions, detail?: Json): AuditEvent {
    return this.event({ action, subjectType: 'run', subjectId: executionId, ...(detail === undefined ? {} : { detail }) }, options.actor);
  }

  /**
   * Audit events matching `query`, newest first (events of one millisecond made by one engine in
   * the order it made them), a page at a time.
   *
   * @example
   * const { events } = await engine.audit.list({ subject: runId });
   * for (const e of events) console.log(new Date(e.at).toISOString(), e.actor, e.action);
   */
  async list(query: AuditQuery = {}): Promise<AuditPage> {
    const limit = pageLimit(query.limit, 'audit.list');
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, 'audit.list');
    const events = await (await this.#storage()).listAudit({
      limit,
      ...(query.subject === undefined ? {} : { subject_id: query.subject }),
      ...(query.subjectType === undefined ? {} : { subject_type: query.subjectType }),
      ...(query.actor === undefined ? {} : { actor: query.actor }),
      ...(query.since === undefined ? {} : { since: +query.since }),
      ...(query.until === undefined ? {} : { until: +query.until }),
      ...(after === undefined ? {} : { after: { at: after[0], id: after[1] } }),
    });
    const last = events.at(-1);
    return events.length === limit && last ? { events, nextCursor: encodeCursor([last.at, last.id]) } : { events };
  }
}

/** A page size, checked: 1 to 1000, default 100. */
export function pageLimit(limit: number | undefined, where: string): number {
  if (limit === undefined) return 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new TrellisError('invalid_options', `${where}: limit must be an integer from 1 to 1000, received ${String(limit)}`);
  return limit;
}

/** An opaque cursor: the sort key of the last item of a page. */
export function encodeCursor(key: readonly [number, string]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** The sort key in a cursor; `invalid_options` when it is not one this engine made. */
export function decodeCursor(cursor: string, where: string): [number, string] {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString());
    if (Array.isArray(key) && key.length === 2 && typeof key[0] === 'number' && typeof key[1] === 'string') return [key[0], key[1]];
  } catch {
    // reported below
  }
  throw new TrellisError('invalid_options', `${where}: cursor "${cursor}" is not a cursor of this listing`);
}
