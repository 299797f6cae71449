/**
 * The Ollama adapter: `/api/chat` through the official `ollama` package.
 */
import type * as OllamaSdk from 'ollama';
import type { ChatRequest, ChatResponse, Message, Tool } from 'ollama';
import { ProviderError } from '../kernel/errors.js';
import { assertInstalled, missingPackageOr } from '../kernel/optional-packages.js';
import { abortError, classifyProviderError, parseToolArguments } from './classify-error.js';
import type { Provider, ProviderRequest, ProviderResponse, ProviderToolCall, ProviderUsage } from './provider.js';

/** Options of {@link OllamaProvider}. */
export interface OllamaProviderOptions {
  /** @default process.env.OLLAMA_HOST, else 'http://127.0.0.1:11434' */
  readonly host?: string;
  /** The provider part of `provider_model`. @default 'ollama' */
  readonly name?: string;
  /** A `fetch` to use instead of the global one (the adapter wraps it to wire up cancellation). */
  readonly fetch?: typeof fetch;
  /** Headers sent with every request (e.g. auth for a proxy in front of Ollama). */
  readonly headers?: Readonly<Record<string, string>>;
}

async function importSdk(): Promise<typeof OllamaSdk> {
  try {
    return await import('ollama');
  } catch (error) {
    throw missingPackageOr(error, 'ollama', 'OllamaProvider');
  }
}

/** Request-level fields of `/api/chat`; other option keys go into its `options` object. */
const TOP_LEVEL_KEYS = new Set(['keep_alive', 'think', 'logprobs', 'top_logprobs']);

/** The SDK's message for a stream that ended without its `done` chunk (it skips unparsable lines). */
const NO_DONE_MESSAGE = 'Did not receive done or success response in stream.';

/**
 * A {@link Provider} for a local or remote Ollama server. The SDK is imported on the first call.
 *
 * The SDK only offers `client.abort()` for streamed calls and sends no signal with the others,
 * so each call gets its own client whose `fetch` carries `request.signal`: aborting it cancels
 * the in-flight request, streamed or not. That `fetch` also keeps the response headers, which the
 * SDK's errors drop, so a 429's `retry-after` is still read.
 *
 * @example
 * const ollama = new OllamaProvider({ host: 'http://127.0.0.1:11434' });
 */
export class OllamaProvider implements Provider {
  readonly name: string;
  readonly #options: OllamaProviderOptions;
  #sdk: Promise<typeof OllamaSdk> | undefined;

  /** @throws MissingPackageError when the `ollama` package is not installed. */
  constructor(options: OllamaProviderOptions = {}) {
    assertInstalled('ollama', 'OllamaProvider');
    this.name = options.name ?? 'ollama';
    this.#options = options;
  }

  /** Calls `/api/chat`, streaming (NDJSON) when `request.onToken` is set. */
  async complete(request: ProviderRequest): Promise<ProviderResponse> {
    this.#sdk ??= importSdk();
    const { Ollama } = await this.#sdk;
    const baseFetch = this.#options.fetch ?? globalThis.fetch;
    let lastHeaders: Headers | undefined;
    const fetchWithSignal: typeof fetch = async (input, init) => {
      const signal = init?.signal ? AbortSignal.any([init.signal, request.signal]) : request.signal;
      const response = await baseFetch(input, { ...init, signal });
      lastHeaders = response.headers;
      return response;
    };
    const client = new Ollama({
      host: this.#options.host ?? process.env['OLLAMA_HOST'] ?? 'http://127.0.0.1:11434',
      fetch: fetchWithSignal,
      ...(this.#options.headers === undefined ? {} : { headers: { ...this.#options.headers } }),
    });
    const body = toChatRequest(request);
    try {
      if (request.onToken) return await readStream(this.name, await client.chat({ ...body, stream: true }), request);
      return fromResponse(this.name, await client.chat({ ...body, stream: false }), request);
    } catch (error) {
      throw classifyOllamaError(error, this.name, request.signal, lastHeaders);
    }
  }
}

function toChatRequest(request: ProviderRequest): ChatRequest {
  const { max_tokens, stop, ...rest } = request.options;
  const topLevel: Record<string, unknown> = {};
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rest)) (TOP_LEVEL_KEYS.has(key) ? topLevel : options)[key] = value;
  if (max_tokens !== undefined) options['num_predict'] = max_tokens;
  if (stop !== undefined) options['stop'] = [...stop];
  const tools: Tool[] = (request.tools ?? []).map((tool) => ({
    type: 'function',
    function: {
      name: tool.name,
      parameters: { ...tool.parameters } as NonNullable<Tool['function']['parameters']>,
      ...(tool.description === undefined ? {} : { description: tool.description }),
    },
  }));
  return {
    ...topLevel,
    model: request.model,
    messages: toMessages(request),
    ...(Object.keys(options).length ? { options } : {}),
    ...(request.outputSchema === undefined ? {} : { format: { ...request.outputSchema } }),
    ...(tools.length ? { tools } : {}),
  };
}

function toMessages(request: ProviderRequest): Message[] {
  const messages: Message[] = request.system === undefined ? [] : [{ role: 'system', content: request.system }];
  // Ollama answers tool results by tool name, not call id.
  const toolNames = new Map<string, string>();
  for (const message of request.messages) {
    if (message.role === 'tool') {
      const name = toolNames.get(message.toolCallId ?? '');
      messages.push({ role: 'tool', content: message.content, ...(name === undefined ? {} : { tool_name: name }) });
    } else if (message.role === 'assistant' && message.toolCalls?.length) {
      for (const call of message.toolCalls) toolNames.set(call.id, call.name);
      messages.push({
        role: 'assistant',
        content: message.content,
        tool_calls: message.toolCalls.map((call) => ({ function: { name: call.name, arguments: { ...call.arguments } } })),
      });
    } else {
      messages.push({ role: message.role, content: message.content });
    }
  }
  return messages;
}

function fromResponse(provider: string, response: ChatResponse, request: ProviderRequest): ProviderResponse {
  if (typeof response?.message?.content !== 'string') {
    throw new ProviderError('malformed_output', `${provider}: response has no message`, { provider, details: { raw: response } });
  }
  const toolCalls = toToolCalls(provider, response.message.tool_calls ?? [], 0);
  return assemble(provider, response.message.content, toolCalls, response, response, request);
}

async function readStream(provider: string, stream: AsyncIterable<ChatResponse>, request: ProviderRequest): Promise<ProviderResponse> {
  let text = '';
  const toolCalls: ProviderToolCall[] = [];
  for await (const part of stream) {
    const content = part.message?.content;
    if (content) {
      text += content;
      request.onToken?.(content);
    }
    toolCalls.push(...toToolCalls(provider, part.message?.tool_calls ?? [], toolCalls.length));
    if (part.done) return assemble(provider, text, toolCalls, part, { streamed: true, text, ...part, message: undefined }, request);
  }
  // The SDK throws when the stream ends without `done`, unless it was aborted: then it just ends.
  throw abortError(provider, request.signal);
}

function assemble(
  provider: string,
  text: string,
  toolCalls: readonly ProviderToolCall[],
  final: ChatResponse,
  raw: unknown,
  request: ProviderRequest,
): ProviderResponse {
  if (request.signal.aborted) throw abortError(provider, request.signal);
  const usage: ProviderUsage = { input_tokens: final.prompt_eval_count ?? 0, output_tokens: final.eval_count ?? 0 };
  // Ollama reports `stop` even when the model called tools; say `tool_calls` like the other adapters.
  const finishReason = toolCalls.length ? 'tool_calls' : final.done_reason;
  return {
    text,
    usage,
    raw,
    ...(toolCalls.length ? { toolCalls } : {}),
    ...(finishReason ? { finishReason } : {}),
    ...(final.model ? { model: final.model } : {}),
  };
}

function toToolCalls(provider: string, calls: readonly NonNullable<Message['tool_calls']>[number][], offset: number): ProviderToolCall[] {
  return calls.map((call, i) => {
    const name = call.function.name;
    const args: unknown = call.function.arguments;
    const id = (call as { id?: unknown }).id;
    return {
      // Ollama has no call ids (newer servers may send one): number the calls within the answer.
      id: typeof id === 'string' && id ? id : `call_${offset + i}`,
      name,
      arguments:
        typeof args === 'object' && args !== null && !Array.isArray(args)
          ? (args as Record<string, unknown>)
          : parseToolArguments(provider, name, typeof args === 'string' ? args : JSON.stringify(args)),
    };
  });
}

function classifyOllamaError(error: unknown, provider: string, signal: AbortSignal, headers: Headers | undefined): Error {
  // The SDK throws plain `Error`s from inside a stream: the server's `{"error": ...}` line, or a
  // missing `done` chunk. They have no type or status, so these two are told apart here.
  if (!signal.aborted && error instanceof Error && error.constructor === Error) {
    if (error.message === NO_DONE_MESSAGE) {
      return new ProviderError('malformed_output', `${provider}: stream ended without a done chunk`, { provider, cause: error });
    }
    return new ProviderError('provider_5xx', `${provider}: ${error.message}`, { provider, cause: error });
  }
  return classifyProviderError(error, { provider, signal, ...(headers === undefined ? {} : { headers }) });
}
