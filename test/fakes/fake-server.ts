/**
 * The HTTP core shared by the wire-format fakes (`openai-server.ts`, `anthropic-server.ts`,
 * `ollama-server.ts`): a `node:http` server on 127.0.0.1 port 0 that records every request and
 * answers each one with the next scripted {@link FakeAction}. Each fake turns its own script
 * (text, tool calls, errors) into these actions in its API's wire format.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request the fake received, as the SDK sent it. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The parsed JSON body (or the raw text when it is not JSON). */
  readonly body: unknown;
}

/** What the core does with one request. */
export type FakeAction =
  /** A complete response. */
  | { readonly type: 'respond'; readonly status: number; readonly headers?: Readonly<Record<string, string>>; readonly body: string }
  /**
   * A streamed response: each chunk is written as it is, `delayMs` apart. With `hang`, the
   * connection then stays open without ending, as if the server stalled mid-stream.
   */
  | {
      readonly type: 'stream';
      readonly contentType: string;
      readonly chunks: readonly string[];
      readonly delayMs?: number;
      readonly hang?: boolean;
    }
  /** Never answer: the connection stays open until the client gives up or the fake closes. */
  | { readonly type: 'hang' }
  /** Drop the TCP connection without answering. */
  | { readonly type: 'reset' };

/** Builds the action for one request; scripts that depend on the request (stream or not) use it. */
export type FakeHandler = (request: RecordedRequest) => FakeAction;

/** A running fake. */
export interface FakeServerCore {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** Queues the handler for the next unanswered request. */
  push(handler: FakeHandler): void;
  /** Stops listening and destroys open (including hung) connections. */
  close(): Promise<void>;
}

/** Starts the core. Requests beyond the script get a 500 naming the problem. */
export async function startFakeServerCore(): Promise<FakeServerCore> {
  const queue: FakeHandler[] = [];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const server = createServer((req, res) => {
    void readBody(req).then((text) => {
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: flattenHeaders(req),
        body: parseJson(text),
      };
      requests.push(recorded);
      const handler = queue.shift();
      const action: FakeAction = handler
        ? handler(recorded)
        : { type: 'respond', status: 500, body: JSON.stringify({ error: 'fake server: no scripted response left' }) };
      perform(action, res, req.socket, timers);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    push: (handler) => queue.push(handler),
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function perform(action: FakeAction, res: ServerResponse, socket: Socket, timers: Set<NodeJS.Timeout>): void {
  switch (action.type) {
    case 'respond':
      res.writeHead(action.status, { 'content-type': 'application/json', ...action.headers });
      res.end(action.body);
      return;
    case 'hang':
      return;
    case 'reset':
      socket.destroy();
      return;
    case 'stream': {
      res.writeHead(200, { 'content-type': action.contentType, 'cache-control': 'no-cache' });
      res.flushHeaders();
      const chunks = [...action.chunks];
      const next = (): void => {
        if (res.destroyed) return;
        const chunk = chunks.shift();
        if (chunk === undefined) {
          if (!action.hang) res.end();
          return;
        }
        res.write(chunk);
        const timer = setTimeout(next, action.delayMs ?? 1);
        timers.add(timer);
      };
      next();
      return;
    }
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Splits text into small pieces so a stream carries several deltas. */
export function splitIntoDeltas(text: string, size = 4): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
  return pieces.length ? pieces : [''];
}

/** The scripted failures every fake supports, in API-neutral form. */
export type FakeFailure =
  /** An HTTP error status with the API's error body and optional headers (e.g. `retry-after`). */
  | { readonly status: number; readonly headers?: Readonly<Record<string, string>>; readonly message?: string }
  /** Never answer. */
  | { readonly hang: true }
  /** A 200 whose body is not valid JSON (or, when streaming, whose events are not). */
  | { readonly malformed: true }
  /** Drop the connection. */
  | { readonly reset: true };

/** The failures that never reach the API's own answer format: an error status, a hang, a reset. */
export type TransportFailure = Exclude<FakeFailure, { readonly malformed: true }>;

/** True when a scripted reply is a {@link TransportFailure}. */
export function isTransportFailure(reply: object): reply is TransportFailure {
  return 'status' in reply || 'hang' in reply || 'reset' in reply;
}

/** The action of a transport failure; an error status carries `errorBody(status, message)` as the API shapes it. */
export function transportFailure(reply: TransportFailure, errorBody: (status: number, message: string) => object): FakeAction {
  if ('hang' in reply) return { type: 'hang' };
  if ('reset' in reply) return { type: 'reset' };
  return { type: 'respond', status: reply.status, headers: reply.headers ?? {}, body: JSON.stringify(errorBody(reply.status, reply.message ?? `fake ${reply.status}`)) };
}

/** A running API fake whose script is a queue of `Reply` values. */
export interface ScriptedFakeServer<Reply> {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Queues replies for the next requests, in order. */
  enqueue(...replies: Reply[]): void;
  close(): Promise<void>;
}

/** Starts a fake on 127.0.0.1 that answers each request with `toAction(nextReply, request)`. */
export async function startScriptedFake<Reply>(toAction: (reply: Reply, request: RecordedRequest) => FakeAction): Promise<ScriptedFakeServer<Reply>> {
  const core = await startFakeServerCore();
  return {
    url: core.url,
    requests: core.requests,
    enqueue: (...replies) => {
      for (const reply of replies) core.push((request) => toAction(reply, request));
    },
    close: core.close,
  };
}
