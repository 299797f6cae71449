/**
 * A local fake of the OpenAI Chat Completions API (`POST /v1/chat/completions`) speaking the real
 * wire format: `chat.completion` JSON, or `chat.completion.chunk` server-sent events ending with
 * `data: [DONE]` when the request has `stream: true`.
 *
 * @example
 * const fake = await startOpenAIServer();
 * fake.enqueue({ text: 'Hello' });
 * const client = new OpenAI({ apiKey: 'k', baseURL: `${fake.url}/v1` });
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

/** One scripted OpenAI answer. */
export type OpenAIFakeReply =
  | {
      readonly text: string;
      readonly usage?: { readonly prompt_tokens: number; readonly completion_tokens: number };
      readonly finishReason?: string;
      readonly model?: string;
      /** Streaming only: send the text deltas, then stall without finishing. */
      readonly stall?: boolean;
    }
  | {
      /** `arguments` as sent on the wire: a string is sent verbatim (so it may be malformed JSON). */
      readonly toolCalls: readonly { readonly id?: string; readonly name: string; readonly arguments: string | object }[];
      readonly text?: string;
      readonly usage?: { readonly prompt_tokens: number; readonly completion_tokens: number };
    }
  | { readonly json: unknown; readonly usage?: { readonly prompt_tokens: number; readonly completion_tokens: number } }
  | FakeFailure;

/** A running OpenAI fake. `url` has no `/v1`: pass `${url}/v1` as the SDK's `baseURL`. */
export type OpenAIFakeServer = ScriptedFakeServer<OpenAIFakeReply>;

const DEFAULT_USAGE = { prompt_tokens: 11, completion_tokens: 7 };

/** Starts the fake on 127.0.0.1 with an OS-assigned port. */
export function startOpenAIServer(): Promise<OpenAIFakeServer> {
  return startScriptedFake(toAction);
}

function toAction(reply: OpenAIFakeReply, request: RecordedRequest): FakeAction {
  if (isTransportFailure(reply)) {
    return transportFailure(reply, (status, message) => ({
      error: { message, type: status === 429 ? 'rate_limit_exceeded' : status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code: null },
    }));
  }
  const body = request.body as { stream?: boolean; model?: string };
  const stream = body.stream === true;
  if ('malformed' in reply) {
    return stream
      ? { type: 'stream', contentType: 'text/event-stream', chunks: ['data: {"id":"chatcmpl-x","choices":[{"delta":\n\n'] }
      : { type: 'respond', status: 200, body: '{"id":"chatcmpl-x","object":"chat.completion","choices":[{' };
  }
  const model = ('model' in reply && reply.model) || body.model || 'gpt-fake';
  const usage = reply.usage ?? DEFAULT_USAGE;
  const text = 'json' in reply ? JSON.stringify(reply.json) : (reply.text ?? '');
  const toolCalls =
    'toolCalls' in reply
      ? reply.toolCalls.map((call, i) => ({
          id: call.id ?? `call_${i + 1}`,
          type: 'function' as const,
          function: {
            name: call.name,
            arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments),
          },
        }))
      : undefined;
  const finishReason = ('finishReason' in reply && reply.finishReason) || (toolCalls ? 'tool_calls' : 'stop');
  const usageBody = { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens };

  if (!stream) {
    const completion = {
      id: 'chatcmpl-fake',
      object: 'chat.completion',
      created: 1_700_000_000,
      model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: toolCalls && !text ? null : text, refusal: null, ...(toolCalls ? { tool_calls: toolCalls } : {}) },
          logprobs: null,
          finish_reason: finishReason,
        },
      ],
      usage: usageBody,
    };
    return { type: 'respond', status: 200, body: JSON.stringify(completion) };
  }

  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): string =>
    `data: ${JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1_700_000_000, model, choices, ...extra })}\n\n`;
  const delta = (d: Record<string, unknown>, finish: string | null = null): string =>
    chunk([{ index: 0, delta: d, logprobs: null, finish_reason: finish }]);

  const chunks = [delta({ role: 'assistant', content: '' })];
  if (text) for (const piece of splitIntoDeltas(text)) chunks.push(delta({ content: piece }));
  const stall = 'stall' in reply && reply.stall === true;
  if (!stall) {
    for (const [index, call] of (toolCalls ?? []).entries()) {
      chunks.push(delta({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] }));
      for (const piece of splitIntoDeltas(call.function.arguments, 5)) {
        chunks.push(delta({ tool_calls: [{ index, function: { arguments: piece } }] }));
      }
    }
    chunks.push(delta({}, finishReason));
    if ((request.body as { stream_options?: { include_usage?: boolean } }).stream_options?.include_usage) {
      chunks.push(chunk([], { usage: usageBody }));
    }
    chunks.push('data: [DONE]\n\n');
  }
  return { type: 'stream', contentType: 'text/event-stream', chunks, hang: stall };
}
