/**
 * `GET /workflow-executions/:id/events`: a run's live events as Server-Sent Events. The stream
 * opens with a `snapshot` event (the execution record), then relays every `node:*` and
 * `execution:*` event of that run, and closes after the run ends. Listeners are attached before
 * the snapshot is read, and what arrives meanwhile is queued, so no event falls in the gap.
 *
 * In a fleet the run may be driven by another process, whose events fire there: while no event
 * of the run arrives, the stream reads the run from storage every {@link STORED_POLL_MS} and sends
 * the changes it finds as events (see stored-changes.ts), so a stream served by an API process
 * follows a run a worker drives, and ends with it.
 */
import type { Request, Response } from 'express';
import type { Engine } from '../engine/engine.js';
import { NotFoundError } from '../kernel/errors.js';
import type { TrellisEventName } from '../kernel/events.js';
import { isFinishedRun } from '../storage/storage-helpers.js';
import { noteEvent, seenFrom, storedChanges, type SeenState } from './stored-changes.js';

/** How often a stream with no event of its run reads the run from storage. */
export const STORED_POLL_MS = 1000;

/** The events relayed to a stream. */
export const STREAMED_EVENTS = [
  'execution:started',
  'execution:paused',
  'execution:resumed',
  'execution:completed',
  'execution:failed',
  'execution:cancelled',
  'node:started',
  'node:completed',
  'node:failed',
  'node:skipped',
  'node:waiting',
  'node:token',
] as const satisfies readonly TrellisEventName[];

const FINAL_EVENTS = new Set<string>(['execution:completed', 'execution:failed', 'execution:cancelled']);

type Listener = (payload: { readonly executionId: string }) => void;

/** An ISO 8601 string for a time in ms since epoch; anything else as it is. */
const isoTime = (value: unknown): unknown => (typeof value === 'number' ? new Date(value).toISOString() : value);

/**
 * An event's payload as the stream sends it: its times, ms since epoch in process (`timestamp`,
 * `dueAt`, and `dueAt` of each approval `execution:paused` lists), become ISO 8601 strings, so
 * every time a client of the router reads (the snapshot, the trace, the lists, the events) has
 * one format. Named fields only: outputs and inputs are the host's data and go as they are.
 */
function withIsoTimes(payload: unknown): unknown {
  const { timestamp, dueAt, approvals } = payload as { timestamp?: unknown; dueAt?: unknown; approvals?: unknown };
  const out: Record<string, unknown> = { ...(payload as Record<string, unknown>), timestamp: isoTime(timestamp) };
  if (dueAt !== undefined) out.dueAt = isoTime(dueAt);
  if (Array.isArray(approvals)) {
    out.approvals = approvals.map((a: Record<string, unknown>) => (a.dueAt === undefined ? a : { ...a, dueAt: isoTime(a.dueAt) }));
  }
  return out;
}

/** Streams the events of run `executionId` to `res` until the run ends or the client goes away. */
export async function streamExecutionEvents(engine: Engine, executionId: string, req: Request, res: Response, heartbeatMs: number): Promise<void> {
  const queued: [TrellisEventName, unknown][] = [];
  const listeners = new Map<TrellisEventName, Listener>();
  let live = false;
  let closed = false;
  let seq = 0;
  let heartbeat: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  let seen: SeenState | undefined;
  /** An event of the run arrived since the last look at storage: it is driven here, nothing to read. */
  let heard = false;

  const detach = (): void => {
    closed = true;
    for (const [name, listener] of listeners) engine.events.off(name, listener as never);
    listeners.clear();
    if (heartbeat) clearInterval(heartbeat);
    if (poll) clearInterval(poll);
  };
  const send = (name: string, data: unknown): void => {
    if (!closed) res.write(`id: ${++seq}\nevent: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const finish = (): void => {
    if (closed) return;
    send('end', { executionId });
    detach();
    res.end();
  };
  const relay = (name: TrellisEventName, payload: unknown): void => {
    heard = true;
    if (seen && !noteEvent(seen, name, payload as { path?: string })) return;
    send(name, withIsoTimes(payload));
    if (FINAL_EVENTS.has(name)) finish();
  };
  const readStored = async (): Promise<void> => {
    const execution = await engine.get(executionId);
    if (closed || heard || !execution || !seen) return;
    for (const [name, payload] of storedChanges(seen, execution, engine.clock.now())) {
      send(name, withIsoTimes(payload));
      if (FINAL_EVENTS.has(name)) return finish();
    }
  };

  for (const name of STREAMED_EVENTS) {
    const listener: Listener = (payload) => {
      if (payload.executionId !== executionId || closed) return;
      if (live) relay(name, payload);
      else queued.push([name, payload]);
    };
    listeners.set(name, listener);
    engine.events.on(name, listener as never);
  }
  // 'close' fires on a client disconnect and after res.end(): either way the listeners go.
  res.on('close', detach);

  let snapshot: Awaited<ReturnType<Engine['get']>>;
  try {
    snapshot = await engine.get(executionId);
  } catch (error) {
    detach();
    throw error;
  }
  if (!snapshot) {
    detach();
    throw new NotFoundError(`Execution ${executionId} not found`, { executionId });
  }
  if (closed) return;

  res.status(200).set({ 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
  res.flushHeaders();
  req.socket.setNoDelay(true);
  send('snapshot', snapshot);
  seen = seenFrom(snapshot);
  live = true;
  for (const [name, payload] of queued.splice(0)) {
    relay(name, payload);
    if (closed) return;
  }
  if (isFinishedRun(snapshot.status)) return finish();
  heartbeat = setInterval(() => {
    if (!closed) res.write(': keep-alive\n\n');
  }, heartbeatMs);
  heartbeat.unref();
  poll = setInterval(() => {
    if (closed) return;
    if (heard) {
      heard = false;
      return;
    }
    readStored().catch(() => undefined);
  }, STORED_POLL_MS);
  poll.unref();
}
