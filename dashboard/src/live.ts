/**
 * A run kept live: read once, then its event stream (`GET /workflow-executions/:id/events`, Server-Sent
 * Events). Each event marks the record stale and it is read again (at most every 150 ms), so the view
 * always shows the stored state; the one thing read from the events themselves is the streaming
 * tokens of model calls, which are not stored until the call ends. If the stream cannot be opened
 * (a proxy that buffers, a refused stream), the run is polled instead.
 */
import { useEffect, useRef, useState } from 'react';
import { api, path } from './api';
import type { Execution } from './types';

const REFETCH_MS = 150;
const POLL_MS = 2000;
const FINISHED = new Set(['completed', 'failed', 'cancelled']);
const EVENTS = ['execution:started', 'execution:paused', 'execution:resumed', 'execution:completed', 'execution:failed', 'execution:cancelled', 'node:started', 'node:completed', 'node:failed', 'node:skipped', 'node:waiting'];

export interface LiveRun {
  readonly execution: Execution | undefined;
  readonly error: Error | undefined;
  /** Text streamed so far by step path, for steps whose model streams. */
  readonly tokens: Readonly<Record<string, string>>;
  /** `live` while the stream is open, `polling` when it could not be, `ended` after the run ended. */
  readonly connection: 'connecting' | 'live' | 'polling' | 'ended';
  /** Bumped on every change, so dependants (model calls) know to read again. */
  readonly version: number;
  refresh(): void;
}

export function useLiveRun(id: string): LiveRun {
  const [execution, setExecution] = useState<Execution>();
  const [error, setError] = useState<Error>();
  const [tokens, setTokens] = useState<Record<string, string>>({});
  const [connection, setConnection] = useState<LiveRun['connection']>('connecting');
  const [version, setVersion] = useState(0);
  const refetch = useRef<() => void>(() => undefined);

  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let poller: ReturnType<typeof setInterval> | undefined;
    const read = async () => {
      try {
        const next = await api.get<Execution>(path`/workflow-executions/${id}`);
        if (!live) return;
        setExecution(next);
        setError(undefined);
        setVersion((v) => v + 1);
        if (FINISHED.has(next.status) && poller) {
          clearInterval(poller);
          poller = undefined;
          setConnection('ended');
        }
      } catch (e) {
        if (live) setError(e instanceof Error ? e : new Error(String(e)));
      }
    };
    const soon = () => {
      timer ??= setTimeout(() => {
        timer = undefined;
        void read();
      }, REFETCH_MS);
    };
    refetch.current = () => void read();
    void read();

    const stream = new EventSource(api.eventsUrl(id), { withCredentials: true });
    stream.addEventListener('open', () => live && setConnection('live'));
    for (const name of EVENTS) stream.addEventListener(name, soon);
    stream.addEventListener('node:token', (event) => {
      const { path: stepPath, delta } = JSON.parse((event as MessageEvent<string>).data) as { path: string; delta: string };
      setTokens((all) => ({ ...all, [stepPath]: (all[stepPath] ?? '') + delta }));
    });
    stream.addEventListener('end', () => {
      stream.close();
      setConnection('ended');
      void read();
    });
    stream.onerror = () => {
      // EventSource reconnects by itself unless the server refused; a refused stream falls back to polling.
      if (stream.readyState !== EventSource.CLOSED || !live) return;
      setConnection((c) => (c === 'ended' ? c : 'polling'));
      poller ??= setInterval(() => void read(), POLL_MS);
    };
    return () => {
      live = false;
      stream.close();
      if (timer) clearTimeout(timer);
      if (poller) clearInterval(poller);
    };
  }, [id]);

  return { execution, error, tokens, connection, version, refresh: () => refetch.current() };
}
