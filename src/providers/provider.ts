/**
 * The Provider port: one request shape and one response shape for every LLM API. Adapters map
 * to and from their API; the engine owns retries, rate limits, breakers, budgets and recording.
 */

/** A JSON Schema object, as written in a workflow definition. */
export type JsonSchema = Readonly<Record<string, unknown>>;

/** One message of a conversation. */
export interface ProviderMessage {
  readonly role: 'user' | 'assistant' | 'tool';
  readonly content: string;
  /** For `role: 'tool'`: the id of the tool call this message answers. */
  readonly toolCallId?: string;
  /** For `role: 'assistant'`: the tool calls the model made in this turn. */
  readonly toolCalls?: readonly ProviderToolCall[];
}

/** A tool the model may call. */
export interface ProviderToolDefinition {
  readonly name: string;
  readonly description?: string;
  /** JSON Schema of the tool's arguments object. */
  readonly parameters: JsonSchema;
}

/** A tool call the model made. */
export interface ProviderToolCall {
  readonly id: string;
  readonly name: string;
  readonly arguments: Readonly<Record<string, unknown>>;
}

/** Generation options common to the providers; unknown keys pass through to the adapter. */
export interface ProviderOptions {
  readonly temperature?: number;
  readonly max_tokens?: number;
  readonly top_p?: number;
  readonly stop?: readonly string[];
  readonly [key: string]: unknown;
}

/** What the engine asks a provider for. */
export interface ProviderRequest {
  /** The model name: the part of `provider_model` after the colon. */
  readonly model: string;
  /** The rendered prompt text (also the last user message in `messages`). */
  readonly prompt: string;
  /** System prompt, when the node has one. */
  readonly system?: string;
  /** The whole conversation, ending with the user's prompt (longer during tool loops). */
  readonly messages: readonly ProviderMessage[];
  readonly options: ProviderOptions;
  /** When present, the answer must be JSON matching this schema; use the API's native JSON mode. */
  readonly outputSchema?: JsonSchema;
  readonly tools?: readonly ProviderToolDefinition[];
  /** Aborted when the run is cancelled or the step times out. */
  readonly signal: AbortSignal;
  /** Stable across re-runs of the same step attempt (run id + step path + attempt): send it where the API deduplicates. */
  readonly idempotencyKey: string;
  /** When present, stream: call it with each text delta as it arrives. */
  readonly onToken?: (delta: string) => void;
}

/** Token usage of one call. */
export interface ProviderUsage {
  readonly input_tokens: number;
  readonly output_tokens: number;
}

/** What a provider answers. */
export interface ProviderResponse {
  readonly text: string;
  readonly toolCalls?: readonly ProviderToolCall[];
  readonly usage: ProviderUsage;
  /** e.g. `stop`, `length`, `tool_calls`, `content_filter`. */
  readonly finishReason?: string;
  /** The model that answered, when the API says. */
  readonly model?: string;
  /** The API's raw response body, for the execution record. */
  readonly raw?: unknown;
}

/**
 * An LLM API adapter. Throw a `ProviderError` with a classified code (`rate_limit`, `timeout`,
 * `provider_5xx`, `auth`, `bad_request`, `content_filter`, `network`) on failure.
 */
export interface Provider {
  /** The provider part of `provider_model`, e.g. `openai`. */
  readonly name: string;
  complete(request: ProviderRequest): Promise<ProviderResponse>;
  close?(): Promise<void>;
}
