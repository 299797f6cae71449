/**
 * A local fake of the Anthropic Messages API (`POST /v1/messages`) speaking the real wire format:
 * a `message` JSON object, or, for `stream: true`, the server-sent events `message_start`,
 * `content_block_start`, `ping`, `content_block_delta`, `content_block_stop`, `message_delta` and
 * `message_stop`.
 *
 * @example
 * const fake = await startAnthropicServer();
 * fake.enqueue({ text: 'Hello' });
 * const client = new Anthropic({ apiKey: 'k', baseURL: fake.url });
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

interface AnthropicFakeUsage {
  readonly input_tokens: number;
  readonly output_tokens: number;
}

/** One scripted Anthropic answer. */
export type AnthropicFakeReply =
  | {
      readonly text: string;
      readonly usage?: AnthropicFakeUsage;
      readonly stopReason?: string;
      readonly model?: string;
      /** Streaming only: send the text deltas, then stall without finishing. */
      readonly stall?: boolean;
    }
  | {
      readonly toolCalls: readonly { readonly id?: string; readonly name: string; readonly input: object }[];
      readonly text?: string;
      readonly usage?: AnthropicFakeUsage;
    }
  /** Answers the way the model answers a forced `output` tool: a `tool_use` block named `output`. */
  | { readonly json: object; readonly usage?: AnthropicFakeUsage }
  /** An HTTP 200 stream that carries an `event: error` (e.g. `overloaded_error`) after it starts. */
  | { readonly streamError: string }
  | FakeFailure;

/** A running Anthropic fake. Pass `url` as the SDK's `baseURL` (the SDK adds `/v1/messages`). */
export type AnthropicFakeServer = ScriptedFakeServer<AnthropicFakeReply>;

const DEFAULT_USAGE: AnthropicFakeUsage = { input_tokens: 13, output_tokens: 9 };

const ERROR_TYPES: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

/** Starts the fake on 127.0.0.1 with an OS-assigned port. */
export function startAnthropicServer(): Promise<AnthropicFakeServer> {
  return startScriptedFake(toAction);
}

type Block =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: object };

const sse = (type: string, data: object): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

function toAction(reply: AnthropicFakeReply, request: RecordedRequest): FakeAction {
  if (isTransportFailure(reply)) return transportFailure(reply, (status, message) => ({ type: 'error', error: { type: ERROR_TYPES[status] ?? 'api_error', message } }));
  const body = request.body as { stream?: boolean; model?: string };
  const stream = body.stream === true;
  if ('malformed' in reply) {
    return stream
      ? { type: 'stream', contentType: 'text/event-stream', chunks: ['event: message_start\ndata: {"type":"message_start","message":{\n\n'] }
      : { type: 'respond', status: 200, body: '{"id":"msg_x","type":"message","content":[' };
  }
  const model = ('model' in reply && reply.model) || body.model || 'claude-fake';
  const usage = ('usage' in reply && reply.usage) || DEFAULT_USAGE;
  const blocks: Block[] = [];
  if ('text' in reply && reply.text) blocks.push({ type: 'text', text: reply.text });
  if ('toolCalls' in reply) {
    reply.toolCalls.forEach((call, i) => blocks.push({ type: 'tool_use', id: call.id ?? `toolu_${i + 1}`, name: call.name, input: call.input }));
  }
  if ('json' in reply) blocks.push({ type: 'tool_use', id: 'toolu_output', name: 'output', input: reply.json });
  const stopReason = ('stopReason' in reply && reply.stopReason) || (blocks.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn');
  const message = { id: 'msg_fake', type: 'message', role: 'assistant', model };

  if (!stream) {
    const full = { ...message, content: blocks, stop_reason: stopReason, stop_sequence: null, usage };
    return { type: 'respond', status: 200, body: JSON.stringify(full) };
  }

  const chunks = [
    sse('message_start', {
      message: { ...message, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: usage.input_tokens, output_tokens: 1 } },
    }),
    sse('ping', {}),
  ];
  if ('streamError' in reply) {
    chunks.push(`event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: reply.streamError, message: 'fake stream error' } })}\n\n`);
    return { type: 'stream', contentType: 'text/event-stream', chunks };
  }
  const stall = 'stall' in reply && reply.stall === true;
  blocks.forEach((block, index) => {
    if (block.type === 'text') {
      chunks.push(sse('content_block_start', { index, content_block: { type: 'text', text: '' } }));
      for (const text of splitIntoDeltas(block.text)) chunks.push(sse('content_block_delta', { index, delta: { type: 'text_delta', text } }));
    } else {
      chunks.push(sse('content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } }));
      for (const partial_json of splitIntoDeltas(JSON.stringify(block.input), 6)) {
        chunks.push(sse('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json } }));
      }
    }
    if (!stall) chunks.push(sse('content_block_stop', { index }));
  });
  if (!stall) {
    chunks.push(sse('message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } }));
    chunks.push(sse('message_stop', {}));
  }
  return { type: 'stream', contentType: 'text/event-stream', chunks, hang: stall };
}
