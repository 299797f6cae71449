/**
 * A local fake of Ollama's `POST /api/chat` speaking the real wire format: one JSON object, or,
 * for `stream: true` (Ollama's default), newline-delimited JSON chunks whose last one has
 * `done: true` and carries `done_reason`, `prompt_eval_count` and `eval_count`.
 *
 * @example
 * const fake = await startOllamaServer();
 * fake.enqueue({ text: 'Hello' });
 * const client = new Ollama({ host: fake.url });
 */
import {
  isTransportFailure,
  splitIntoDeltas,
  transportFailure,
  type FakeAction,
  type FakeFailure,
  type RecordedRequest,
  startScriptedFake,
  type ScriptedFakeServer,
} from './fake-server.js';

interface OllamaFakeUsage {
  readonly prompt_eval_count: number;
  readonly eval_count: number;
}

/** One scripted Ollama answer. */
export type OllamaFakeReply =
  | {
      readonly text: string;
      readonly usage?: OllamaFakeUsage;
      readonly doneReason?: string;
      /** Streaming only: send the text chunks, then stall without the `done` chunk. */
      readonly stall?: boolean;
      /** Streaming only: end the body cleanly without the `done` chunk. */
      readonly truncate?: boolean;
    }
  | {
      readonly toolCalls: readonly { readonly name: string; readonly arguments: object }[];
      readonly text?: string;
      readonly usage?: OllamaFakeUsage;
    }
  | { readonly json: unknown; readonly usage?: OllamaFakeUsage }
  | FakeFailure;

/** A running Ollama fake. Pass `url` as the SDK's `host`. */
export type OllamaFakeServer = ScriptedFakeServer<OllamaFakeReply>;

const DEFAULT_USAGE: OllamaFakeUsage = { prompt_eval_count: 17, eval_count: 5 };

/** Starts the fake on 127.0.0.1 with an OS-assigned port. */
export function startOllamaServer(): Promise<OllamaFakeServer> {
  return startScriptedFake(toAction);
}

function toAction(reply: OllamaFakeReply, request: RecordedRequest): FakeAction {
  if (isTransportFailure(reply)) return transportFailure(reply, (_status, message) => ({ error: message }));
  const body = request.body as { stream?: boolean; model?: string };
  const stream = body.stream !== false;
  if ('malformed' in reply) {
    return stream
      ? { type: 'stream', contentType: 'application/x-ndjson', chunks: ['{"model":"m","message":{"role":\n'] }
      : { type: 'respond', status: 200, body: '{"model":"m","message":{"role":"assistant",' };
  }
  const model = body.model ?? 'llama-fake';
  const usage = reply.usage ?? DEFAULT_USAGE;
  const text = 'json' in reply ? JSON.stringify(reply.json) : (reply.text ?? '');
  const toolCalls = 'toolCalls' in reply ? reply.toolCalls.map((call) => ({ function: { name: call.name, arguments: call.arguments } })) : undefined;
  const doneReason = ('doneReason' in reply && reply.doneReason) || 'stop';
  const created_at = '2024-01-01T00:00:00.000Z';
  const final = {
    model,
    created_at,
    done: true,
    done_reason: doneReason,
    total_duration: 1_000_000,
    load_duration: 1000,
    prompt_eval_count: usage.prompt_eval_count,
    prompt_eval_duration: 1000,
    eval_count: usage.eval_count,
    eval_duration: 1000,
  };

  if (!stream) {
    const message = { role: 'assistant', content: text, ...(toolCalls ? { tool_calls: toolCalls } : {}) };
    return { type: 'respond', status: 200, body: JSON.stringify({ ...final, message }) };
  }
  const line = (value: object): string => `${JSON.stringify(value)}\n`;
  const chunks = text
    ? splitIntoDeltas(text).map((content) => line({ model, created_at, message: { role: 'assistant', content }, done: false }))
    : [];
  if (toolCalls) chunks.push(line({ model, created_at, message: { role: 'assistant', content: '', tool_calls: toolCalls }, done: false }));
  const stall = 'stall' in reply && reply.stall === true;
  const truncate = 'truncate' in reply && reply.truncate === true;
  if (!stall && !truncate) chunks.push(line({ ...final, message: { role: 'assistant', content: '' } }));
  return { type: 'stream', contentType: 'application/x-ndjson', chunks, hang: stall };
}
