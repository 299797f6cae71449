/**
 * The Anthropic adapter: the Messages API through the official `@anthropic-ai/sdk`.
 */
import type { Anthropic, ClientOptions } from '@anthropic-ai/sdk';
import type * as AnthropicSdk from '@anthropic-ai/sdk';
import type {
  Message,
  MessageCreateParamsBase,
  MessageParam,
  RawMessageStreamEvent,
  Tool,
  ToolResultBlockParam,
} from '@anthropic-ai/sdk/resources/messages';
import { ProviderError } from '../kernel/errors.js';
import { assertInstalled, missingPackageOr } from '../kernel/optional-packages.js';
import { abortError, classifyProviderError, checkToolArguments, parseToolArguments } from './classify-error.js';
import type { SdkClientOptions } from './sdk-client-options.js';
import type { Provider, ProviderRequest, ProviderResponse, ProviderToolCall, ProviderUsage } from './provider.js';

/** Options of {@link AnthropicProvider}. */
export interface AnthropicProviderOptions {
  /** @default process.env.ANTHROPIC_API_KEY (then the SDK's own credential lookup) */
  readonly apiKey?: string;
  /** @default the SDK's (`https://api.anthropic.com`, or ANTHROPIC_BASE_URL) */
  readonly baseURL?: string;
  /** The provider part of `provider_model`. @default 'anthropic' */
  readonly name?: string;
  /**
   * `max_tokens` when the request's options have none (the API requires one).
   * @default 1024
   */
  readonly defaultMaxTokens?: number;
  /** Further SDK client options (timeout, fetch, defaultHeaders...). `maxRetries` is always 0. */
  readonly clientOptions?: SdkClientOptions;
}

/** The forced tool that carries structured output. */
const OUTPUT_TOOL = 'output';

type MessagesBody = MessageCreateParamsBase & Record<string, unknown>;

/**
 * A {@link Provider} for Anthropic's Messages API. The SDK is imported on the first call. The
 * SDK's own retries are off: the engine owns retries.
 *
 * Structured output uses a tool named `output` whose `input_schema` is the requested schema,
 * forced with `tool_choice`; its input becomes the answer's JSON text. When the request also
 * has tools, the choice is `any` so the model can still call them before answering.
 *
 * @example
 * const anthropic = new AnthropicProvider({ apiKey: process.env.ANTHROPIC_API_KEY });
 */
export class AnthropicProvider implements Provider {
  readonly name: string;
  readonly #options: AnthropicProviderOptions;
  #client: Promise<Anthropic> | undefined;

  /** @throws MissingPackageError when the `@anthropic-ai/sdk` package is not installed. */
  constructor(options: AnthropicProviderOptions = {}) {
    assertInstalled('@anthropic-ai/sdk', 'AnthropicProvider');
    this.name = options.name ?? 'anthropic';
    this.#options = options;
  }

  /** Calls the Messages API, streaming when `request.onToken` is set. */
  async complete(request: ProviderRequest): Promise<ProviderResponse> {
    this.#client ??= this.#createClient();
    const client = await this.#client;
    const body = toMessagesBody(request, this.#options.defaultMaxTokens ?? 1024);
    const options = { signal: request.signal, maxRetries: 0 };
    try {
      if (request.onToken) {
        const stream = await client.messages.create({ ...body, stream: true }, options);
        return await readStream(this.name, stream, request);
      }
      const message = await client.messages.create({ ...body, stream: false }, options);
      return fromMessage(this.name, message, request);
    } catch (error) {
      throw classifyProviderError(error, { provider: this.name, signal: request.signal });
    }
  }

  async #createClient(): Promise<Anthropic> {
    const { apiKey, baseURL, clientOptions } = this.#options;
    const key = apiKey ?? process.env['ANTHROPIC_API_KEY'];
    let sdk: typeof AnthropicSdk;
    try {
      sdk = await import('@anthropic-ai/sdk');
    } catch (error) {
      throw missingPackageOr(error, '@anthropic-ai/sdk', 'AnthropicProvider');
    }
    return new sdk.default({
      ...(clientOptions as ClientOptions | undefined),
      ...(key === undefined ? {} : { apiKey: key }),
      ...(baseURL === undefined ? {} : { baseURL }),
      maxRetries: 0,
    });
  }
}

function toMessagesBody(request: ProviderRequest, defaultMaxTokens: number): MessagesBody {
  const { temperature, max_tokens, top_p, stop, ...rest } = request.options;
  const tools: Tool[] = (request.tools ?? []).map((tool) => ({
    name: tool.name,
    input_schema: { type: 'object', ...tool.parameters },
    ...(tool.description === undefined ? {} : { description: tool.description }),
  }));
  if (request.outputSchema !== undefined) {
    tools.push({
      name: OUTPUT_TOOL,
      description: 'Give the final answer as this JSON object.',
      input_schema: { type: 'object', ...request.outputSchema },
    });
  }
  return {
    ...rest,
    model: request.model,
    max_tokens: max_tokens ?? defaultMaxTokens,
    messages: toMessages(request),
    ...(request.system === undefined ? {} : { system: request.system }),
    ...(temperature === undefined ? {} : { temperature }),
    ...(top_p === undefined ? {} : { top_p }),
    ...(stop === undefined ? {} : { stop_sequences: [...stop] }),
    ...(tools.length ? { tools } : {}),
    ...(request.outputSchema === undefined
      ? {}
      : { tool_choice: request.tools?.length ? { type: 'any' } : { type: 'tool', name: OUTPUT_TOOL } }),
  };
}

function toMessages(request: ProviderRequest): MessageParam[] {
  const messages: MessageParam[] = [];
  for (const message of request.messages) {
    if (message.role === 'tool') {
      const block: ToolResultBlockParam = { type: 'tool_result', tool_use_id: message.toolCallId ?? '', content: message.content };
      // All results of one assistant turn go back in a single user message.
      const previous = messages.at(-1);
      if (previous?.role === 'user' && Array.isArray(previous.content) && previous.content.every((b) => b.type === 'tool_result')) {
        previous.content.push(block);
      } else {
        messages.push({ role: 'user', content: [block] });
      }
    } else if (message.role === 'assistant' && message.toolCalls?.length) {
      messages.push({
        role: 'assistant',
        content: [
          ...(message.content === '' ? [] : [{ type: 'text' as const, text: message.content }]),
          ...message.toolCalls.map((call) => ({ type: 'tool_use' as const, id: call.id, name: call.name, input: call.arguments })),
        ],
      });
    } else {
      messages.push({ role: message.role, content: message.content });
    }
  }
  return messages;
}

function fromMessage(provider: string, message: Message, request: ProviderRequest): ProviderResponse {
  if (!Array.isArray(message?.content)) {
    throw new ProviderError('malformed_output', `${provider}: response has no content blocks`, { provider, details: { raw: message } });
  }
  let text = '';
  let output: string | undefined;
  const toolCalls: ProviderToolCall[] = [];
  for (const block of message.content) {
    if (block.type === 'text') text += block.text;
    else if (block.type === 'tool_use' && isOutputTool(block.name, request)) output = JSON.stringify(block.input);
    else if (block.type === 'tool_use') toolCalls.push({ id: block.id, name: block.name, arguments: toArguments(provider, block.name, block.input) });
  }
  return assemble(output ?? text, toolCalls, output !== undefined, message.stop_reason, toUsage(message.usage), message.model, message);
}

async function readStream(provider: string, stream: AsyncIterable<RawMessageStreamEvent>, request: ProviderRequest): Promise<ProviderResponse> {
  let text = '';
  let output: string | undefined;
  let model: string | undefined;
  let stopReason: string | null | undefined;
  let stopped = false;
  let usage: { input_tokens: number; output_tokens: number } = { input_tokens: 0, output_tokens: 0 };
  const blocks = new Map<number, { id: string; name: string; json: string }>();
  for await (const event of stream) {
    switch (event.type) {
      case 'message_start':
        model = event.message.model;
        usage = toUsage(event.message.usage);
        break;
      case 'content_block_start':
        if (event.content_block.type === 'tool_use') {
          const { id, name } = event.content_block;
          blocks.set(event.index, { id, name, json: '' });
          if (isOutputTool(name, request)) output = '';
        }
        break;
      case 'content_block_delta':
        if (event.delta.type === 'text_delta') {
          text += event.delta.text;
          request.onToken?.(event.delta.text);
        } else if (event.delta.type === 'input_json_delta') {
          const block = blocks.get(event.index);
          if (!block) break;
          block.json += event.delta.partial_json;
          // The output tool's JSON is the answer text, so it streams like text does.
          if (isOutputTool(block.name, request)) {
            output = block.json;
            request.onToken?.(event.delta.partial_json);
          }
        }
        break;
      case 'message_delta':
        stopReason = event.delta.stop_reason;
        usage = {
          input_tokens: event.usage.input_tokens ?? usage.input_tokens,
          output_tokens: event.usage.output_tokens ?? usage.output_tokens,
        };
        break;
      case 'message_stop':
        stopped = true;
        break;
      default:
        break;
    }
  }
  // The SDK ends a stream quietly when its signal aborts, so check rather than trust the loop end.
  if (request.signal.aborted) throw abortError(provider, request.signal);
  if (!stopped) throw new ProviderError('network', `${provider}: stream ended before message_stop`, { provider });
  const toolCalls: ProviderToolCall[] = [];
  for (const block of blocks.values()) {
    const args = parseToolArguments(provider, block.name, block.json);
    if (!isOutputTool(block.name, request)) toolCalls.push({ id: block.id, name: block.name, arguments: args });
  }
  const raw = { streamed: true, text, output, stop_reason: stopReason, usage, model };
  return assemble(output ?? text, toolCalls, output !== undefined, stopReason, usage, model, raw);
}

function assemble(
  text: string,
  toolCalls: readonly ProviderToolCall[],
  structured: boolean,
  stopReason: string | null | undefined,
  usage: ProviderUsage,
  model: string | undefined,
  raw: unknown,
): ProviderResponse {
  // The forced output tool ends the turn with `tool_use`; to the caller that is a normal stop.
  const finishReason = structured && !toolCalls.length ? 'stop' : normalizeStopReason(stopReason);
  return {
    text,
    usage,
    raw,
    ...(toolCalls.length ? { toolCalls } : {}),
    ...(finishReason === undefined ? {} : { finishReason }),
    ...(model === undefined ? {} : { model }),
  };
}

/** Anthropic stop reasons in the shared vocabulary (`stop`, `length`, `tool_calls`, `content_filter`). */
function normalizeStopReason(reason: string | null | undefined): string | undefined {
  switch (reason) {
    case null:
    case undefined:
      return undefined;
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'max_tokens':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return reason;
  }
}

function isOutputTool(name: string, request: ProviderRequest): boolean {
  return request.outputSchema !== undefined && name === OUTPUT_TOOL;
}

function toArguments(provider: string, name: string, input: unknown): Record<string, unknown> {
  return typeof input === 'string' ? parseToolArguments(provider, name, input) : checkToolArguments(provider, name, input);
}

function toUsage(usage: { input_tokens?: number | null; output_tokens?: number | null } | null | undefined): { input_tokens: number; output_tokens: number } {
  return { input_tokens: usage?.input_tokens ?? 0, output_tokens: usage?.output_tokens ?? 0 };
}
