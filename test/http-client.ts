/** A test's side of the HTTP API: JSON requests to a mounted router, and a Server-Sent Events reader. */
import { expect } from 'vitest';

export interface Reply {
  readonly status: number;
  readonly body: any;
  readonly headers: Headers;
}

/** Sends JSON to the router mounted at `base` (a string body is sent as it is) and parses the answer. */
export function jsonCaller(base: string): (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<Reply> {
  return async (method, path, body, headers = {}) => {
    const res = await fetch(base + path, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  };
}

export interface ServerSentEvent {
  readonly name: string;
  readonly data: any;
}

/**
 * The events of the stream at `url` until the server ends it (or `signal` aborts the request);
 * `opened` is called once the snapshot event arrived, so a test can act on the run after that.
 */
export async function readServerSentEvents(url: string, options: { signal?: AbortSignal; opened?: () => void } = {}): Promise<ServerSentEvent[]> {
  const res = await fetch(url, options.signal ? { signal: options.signal } : {});
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: ServerSentEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let at = buffer.indexOf('\n\n'); at >= 0; at = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, at);
      buffer = buffer.slice(at + 2);
      const name = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (name && data) events.push({ name, data: JSON.parse(data) });
      if (name === 'snapshot') options.opened?.();
    }
  }
  return events;
}
