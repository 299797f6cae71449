/**
 * The OpenAI adapter: the Chat Completions API through the official `openai` SDK. It also serves
 * OpenAI-compatible servers (vLLM, LM Studio, llama.cpp server) through `baseURL`.
 */
import type { ClientOptions, OpenAI } from 'openai';
import type * as OpenAISdk from 'openai';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParamsBase,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import { ProviderError } from '../kernel/errors.js';
import { assertInstalled, missingPackageOr } from '../kernel/optional-packages.js';
import { abortError, classifyProviderError, parseToolArguments } from './classify-error.js';
import type { SdkClientOptions } from './sdk-client-options.js';
import type { Provider, ProviderRequest, ProviderResponse, ProviderToolCall, ProviderUsage } from './provider.js';

/** Options of {@link OpenAIProvider}. */
export interface OpenAIProviderOptions {
  /**
   * API key. Local OpenAI-compatible servers usually ignore it; with a `baseURL` and no key, a
   * placeholder is sent.
   * @default process.env.OPENAI_API_KEY
   */
  readonly apiKey?: string;
  /** e.g. `http://localhost:8000/v1` for vLLM. @default the SDK's (`https://api.openai.com/v1`) */
  readonly baseURL?: string;
  /** The provider part of `provider_model`. @default 'openai' */
  readonly name?: string;
  readonly organization?: string;
  /** Further SDK client options (timeout, fetch, defaultHeaders...). `maxRetries` is always 0. */
  readonly clientOptions?: SdkClientOptions;
}

type ChatBody = ChatCompletionCreateParamsBase & Record<string, unknown>;

/**
 * A {@link Provider} for OpenAI's Chat Completions API. The SDK is imported on the first call,
 * so importing Trellis does not load it. The SDK's own retries are off: the engine owns retries.
 *
 * @example
 * const openai = new OpenAIProvider({ apiKey: process.env.OPENAI_API_KEY });
 * const local = new OpenAIProvider({ name: 'vllm', baseURL: 'http://localhost:8000/v1' });
 */
export class OpenAIProvider implements Provider {
  readonly name: string;
  readonly #options: OpenAIProviderOptions;
  #client: Promise<OpenAI> | undefined;

  /** @throws MissingPackageError when the `openai` package is not installed. */
  constructor(options: OpenAIProviderOptions = {}) {
    assertInstalled('openai', 'OpenAIProvider');
    this.name = options.name ?? 'openai';
    this.#options = options;
  }

  /** Calls Chat Completions, streaming when `request.onToken` is set. */
  async complete(request: ProviderRequest): Promise<ProviderResponse> {
    const client = await this.#getClient();
    const body = toChatBody(request);
    const options = { signal: request.signal, maxRetries: 0, headers: { 'Idempotency-Key': request.idempotencyKey } };
    try {
      if (request.onToken) {
        const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } }, options);
        return await readStream(this.name, stream, request);
      }
      const completion = await client.chat.completions.create({ ...body, stream: false }, options);
      return fromCompletion(this.name, completion);
    } catch (error) {
      throw classifyProviderError(error, { provider: this.name, signal: request.signal });
    }
  }

  #getClient(): Promise<OpenAI> {
    this.#client ??= this.#createClient();
    return this.#client;
  }

  async #createClient(): Promise<OpenAI> {
    const { apiKey, baseURL, organization, clientOptions } = this.#options;
    const key = apiKey ?? process.env['OPENAI_API_KEY'] ?? (baseURL === undefined ? undefined : 'no-key');
    if (key === undefined) {
      this.#client = undefined; // the environment may be fixed before the next call
      throw new ProviderError('auth', `${this.name}: no API key: pass apiKey or set OPENAI_API_KEY`, {
        provider: this.name,
        retryable: false,
      });
    }
    let sdk: typeof OpenAISdk;
    try {
      sdk = await import('openai');
    } catch (error) {
      throw missingPackageOr(error, 'openai', 'OpenAIProvider');
    }
    return new sdk.default({
      ...(clientOptions as ClientOptions | undefined),
      apiKey: key,
      ...(baseURL === undefined ? {} : { baseURL }),
      ...(organization === undefined ? {} : { organization }),
      maxRetries: 0,
    });
  }
}

function toChatBody(request: ProviderRequest): ChatBody {
  const { temperature, max_tokens, top_p, stop, ...rest } = request.options;
  const messages: ChatCompletionMessageParam[] = request.system === undefined ? [] : [{ role: 'system', content: request.system }];
  for (const message of request.messages) {
    if (message.role === 'tool') {
      messages.push({ role: 'tool', tool_call_id: message.toolCallId ?? '', content: message.content });
    } else if (message.role === 'assistant' && message.toolCalls?.length) {
      messages.push({
        role: 'assistant',
        content: message.content === '' ? null : message.content,
        tool_calls: message.toolCalls.map((call) => ({
          id: call.id,
          type: 'function',
          function: { name: call.name, arguments: JSON.stringify(call.arguments) },
        })),
      });
    } else {
      messages.push({ role: message.role, content: message.content });
    }
  }
  return {
    ...rest,
    model: request.model,
    messages,
    ...(temperature === undefined ? {} : { temperature }),
    ...(max_tokens === undefined ? {} : { max_tokens }),
    ...(top_p === undefined ? {} : { top_p }),
    ...(stop === undefined ? {} : { stop: [...stop] }),
    ...(request.outputSchema === undefined
      ? {}
      : {
          response_format: {
            type: 'json_schema',
            json_schema: { name: 'output', schema: { ...request.outputSchema }, strict: false },
          },
        }),
    ...(request.tools?.length
      ? {
          tools: request.tools.map((tool) => ({
            type: 'function' as const,
            function: {
              name: tool.name,
              parameters: { ...tool.parameters },
              ...(tool.description === undefined ? {} : { description: tool.description }),
            },
          })),
        }
      : {}),
  };
}

function fromCompletion(provider: string, completion: ChatCompletion): ProviderResponse {
  const choice = Array.isArray(completion?.choices) ? completion.choices[0] : undefined;
  if (!choice?.message) {
    throw new ProviderError('malformed_output', `${provider}: response has no choices[0].message`, { provider, details: { raw: completion } });
  }
  const toolCalls: ProviderToolCall[] = [];
  for (const call of choice.message.tool_calls ?? []) {
    if (call.type !== 'function') continue;
    toolCalls.push({ id: call.id, name: call.function.name, arguments: parseToolArguments(provider, call.function.name, call.function.arguments) });
  }
  return finish(provider, {
    text: choice.message.content ?? '',
    toolCalls,
    usage: toUsage(completion.usage),
    finishReason: choice.finish_reason ?? undefined,
    model: completion.model,
    raw: completion,
  });
}

interface PartialToolCall {
  id: string;
  name: string;
  arguments: string;
}

async function readStream(provider: string, stream: AsyncIterable<ChatCompletionChunk>, request: ProviderRequest): Promise<ProviderResponse> {
  let text = '';
  let finishReason: string | undefined;
  let model: string | undefined;
  let usage: ProviderUsage | undefined;
  const partials: PartialToolCall[] = [];
  for await (const chunk of stream) {
    model ??= chunk.model;
    if (chunk.usage) usage = toUsage(chunk.usage);
    const choice = chunk.choices?.[0];
    if (!choice) continue;
    const content = choice.delta?.content;
    if (content) {
      text += content;
      request.onToken?.(content);
    }
    for (const delta of choice.delta?.tool_calls ?? []) {
      const partial = (partials[delta.index] ??= { id: '', name: '', arguments: '' });
      if (delta.id) partial.id = delta.id;
      if (delta.function?.name) partial.name += delta.function.name;
      if (delta.function?.arguments) partial.arguments += delta.function.arguments;
    }
    if (choice.finish_reason) finishReason = choice.finish_reason;
  }
  // The SDK ends a stream quietly when its signal aborts, so check rather than trust the loop end.
  if (request.signal.aborted) throw abortError(provider, request.signal);
  if (finishReason === undefined) {
    throw new ProviderError('network', `${provider}: stream ended before a finish_reason`, { provider });
  }
  const toolCalls = partials
    .filter((p) => p !== undefined)
    .map((p) => ({ id: p.id, name: p.name, arguments: parseToolArguments(provider, p.name, p.arguments) }));
  return finish(provider, {
    text,
    toolCalls,
    usage: usage ?? { input_tokens: 0, output_tokens: 0 },
    finishReason,
    ...(model === undefined ? {} : { model }),
    raw: { streamed: true, text, finish_reason: finishReason, usage, model },
  });
}

interface Assembled {
  readonly text: string;
  readonly toolCalls: readonly ProviderToolCall[];
  readonly usage: ProviderUsage;
  readonly finishReason: string | undefined;
  readonly model?: string;
  readonly raw: unknown;
}

function finish(provider: string, answer: Assembled): ProviderResponse {
  // A filtered answer with nothing in it is a failure, not an empty success.
  if (answer.finishReason === 'content_filter' && answer.text === '' && answer.toolCalls.length === 0) {
    throw new ProviderError('content_filter', `${provider}: the answer was withheld by the content filter`, {
      provider,
      details: { raw: answer.raw },
    });
  }
  return {
    text: answer.text,
    usage: answer.usage,
    raw: answer.raw,
    ...(answer.toolCalls.length ? { toolCalls: answer.toolCalls } : {}),
    ...(answer.finishReason === undefined ? {} : { finishReason: answer.finishReason }),
    ...(answer.model === undefined ? {} : { model: answer.model }),
  };
}

function toUsage(usage: { prompt_tokens?: number; completion_tokens?: number } | null | undefined): ProviderUsage {
  return { input_tokens: usage?.prompt_tokens ?? 0, output_tokens: usage?.completion_tokens ?? 0 };
}
