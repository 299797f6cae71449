/**
 * `GET /workflow-executions/:id/events`: a run's live events as Server-Sent Events. The stream
 * opens with a `snapshot` event (the execution record), then relays every `node:*` and
 * `execution:*` event of that run, and closes after the run ends. Listeners are attached before
 * the snapshot is read, and what arrives meanwhile is queued, so no event falls in the gap.
 *
 * In a fleet the run may be driven by another process, whose events fire there: while no event
 * of the run arrives, the run is read from storage every second (once for all the streams of the
 * run, see run-event-hub.ts) and each stream sends the changes it finds as events (see
 * stored-changes.ts), so a stream served by an API process follows a run a worker drives, and
 * ends with it.
 */
import type { Request, Response } from 'express';
import type { Engine } from '../engine/engine.js';
import { NotFoundError } from '../kernel/errors.js';
import { isFinishedRun } from '../storage/storage-helpers.js';
import type { RunEventHub, StreamedEvent } from './run-event-hub.js';
import { noteEvent, seenFrom, storedChanges, type SeenState } from './stored-changes.js';

const FINAL_EVENTS = new Set<string>(['execution:completed', 'execution:failed', 'execution:cancelled']);

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
export async function streamExecutionEvents(engine: Engine, hub: RunEventHub, executionId: string, req: Request, res: Response, heartbeatMs: number): Promise<void> {
  const queued: [StreamedEvent, unknown][] = [];
  let live = false;
  let closed = false;
  let seq = 0;
  let heartbeat: NodeJS.Timeout | undefined;
  let seen: SeenState | undefined;

  const send = (name: string, data: unknown): void => {
    if (!closed) res.write(`id: ${++seq}\nevent: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const relay = (name: StreamedEvent, payload: unknown): void => {
    if (seen && !noteEvent(seen, name, payload as { path?: string })) return;
    send(name, withIsoTimes(payload));
    if (FINAL_EVENTS.has(name)) finish();
  };
  // Watched before the snapshot is read: what fires meanwhile is queued, so no event falls in the gap.
  const unwatch = hub.watch(executionId, {
    event: (name, payload) => {
      if (closed) return;
      if (live) relay(name, payload);
      else queued.push([name, payload]);
    },
    stored: (execution) => {
      if (closed || !seen) return;
      for (const [name, payload] of storedChanges(seen, execution, engine.clock.now())) {
        send(name, withIsoTimes(payload));
        if (FINAL_EVENTS.has(name)) return finish();
      }
    },
  });
  const detach = (): void => {
    closed = true;
    unwatch();
    if (heartbeat) clearInterval(heartbeat);
  };
  function finish(): void {
    if (closed) return;
    send('end', { executionId });
    detach();
    res.end();
  }
  // 'close' fires on a client disconnect and after res.end(): either way the watch ends.
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
}
