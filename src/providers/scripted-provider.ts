/**
 * A provider that answers from a script: how users unit-test their pipelines without a network.
 * Answers may be a function of the request, an array used in order, or a record from prompt text
 * to answer. Every call is recorded in `.calls`.
 */
import { ProviderError, type TrellisErrorCode } from '../kernel/errors.js';
import type { Provider, ProviderRequest, ProviderResponse, ProviderToolCall } from './provider.js';

/** One scripted answer: text, an object (sent as JSON text), a full response, or an error to throw. */
export type ScriptedAnswer = string | Record<string, unknown> | unknown[] | ScriptedResponse | ScriptedFailure;

/** A full response, for tool calls or exact usage. */
export interface ScriptedResponse {
  readonly kind: 'response';
  readonly text?: string;
  readonly toolCalls?: readonly ProviderToolCall[];
  readonly usage?: { readonly input_tokens: number; readonly output_tokens: number };
  readonly finishReason?: string;
}

/** A scripted failure: the provider throws a ProviderError with this code. */
export interface ScriptedFailure {
  readonly kind: 'failure';
  readonly code: TrellisErrorCode;
  readonly message: string;
  readonly retryAfterMs?: number;
  readonly status?: number;
}

/** The script: a function, a list used in order (the last answer repeats), or prompt text → answer. */
export type Script =
  | ((request: ProviderRequest) => ScriptedAnswer | Promise<ScriptedAnswer>)
  | readonly ScriptedAnswer[]
  | Readonly<Record<string, ScriptedAnswer>>;

/** Options of {@link ScriptedProvider}. */
export interface ScriptedProviderOptions {
  /** The provider name. @default 'mock' */
  readonly name?: string;
  /** Wait this long before answering (real time; aborts with the request's signal). @default 0 */
  readonly latencyMs?: number;
  /** When set, streamed answers are split into deltas of this many characters. @default 8 */
  readonly chunkSize?: number;
}

/**
 * A scripted {@link Provider}.
 *
 * @example
 * const mock = new ScriptedProvider((req) => req.prompt.includes('refund') ? { label: 'billing' } : { label: 'other' });
 * const engine = new Engine({ providers: { mock } });
 */
export class ScriptedProvider implements Provider {
  readonly name: string;
  /** Every request received, in order. */
  readonly calls: ProviderRequest[] = [];
  readonly #script: Script;
  readonly #options: ScriptedProviderOptions;
  #next = 0;

  constructor(script: Script, options: ScriptedProviderOptions = {}) {
    this.#script = script;
    this.#options = options;
    this.name = options.name ?? 'mock';
  }

  /** A scripted failure, e.g. `ScriptedProvider.fail('rate_limit', 'slow down', { retryAfterMs: 1000 })`. */
  static fail(code: TrellisErrorCode, message: string = code, extra: { retryAfterMs?: number; status?: number } = {}): ScriptedFailure {
    return { kind: 'failure', code, message, ...extra };
  }

  /** A full response, e.g. with tool calls. */
  static respond(response: Omit<ScriptedResponse, 'kind'>): ScriptedResponse {
    return { kind: 'response', ...response };
  }

  /** Calls made for a prompt containing `text`. */
  callsMatching(text: string): ProviderRequest[] {
    return this.calls.filter((c) => c.prompt.includes(text));
  }

  async complete(request: ProviderRequest): Promise<ProviderResponse> {
    this.calls.push(request);
    if (this.#options.latencyMs) await delay(this.#options.latencyMs, request.signal);
    else await Promise.resolve();
    request.signal.throwIfAborted();
    const answer = await this.#answerFor(request);
    if (isFailure(answer)) {
      throw new ProviderError(answer.code, answer.message, {
        provider: this.name,
        ...(answer.retryAfterMs === undefined ? {} : { retryAfterMs: answer.retryAfterMs }),
        ...(answer.status === undefined ? {} : { status: answer.status }),
      });
    }
    const response = toResponse(answer, request);
    if (request.onToken && response.text) {
      const size = this.#options.chunkSize ?? 8;
      for (let i = 0; i < response.text.length; i += size) request.onToken(response.text.slice(i, i + size));
    }
    return response;
  }

  async #answerFor(request: ProviderRequest): Promise<ScriptedAnswer> {
    const script = this.#script;
    if (typeof script === 'function') return script(request);
    if (Array.isArray(script)) {
      if (script.length === 0) throw new ProviderError('bad_request', 'ScriptedProvider has no answers', { provider: this.name, retryable: false });
      const answer = script[Math.min(this.#next, script.length - 1)] as ScriptedAnswer;
      this.#next++;
      return answer;
    }
    const record = script as Readonly<Record<string, ScriptedAnswer>>;
    if (Object.hasOwn(record, request.prompt)) return record[request.prompt]!;
    throw new ProviderError('bad_request', `ScriptedProvider has no answer for prompt: ${JSON.stringify(request.prompt.slice(0, 200))}`, { provider: this.name, retryable: false });
  }
}

function isFailure(answer: ScriptedAnswer): answer is ScriptedFailure {
  return typeof answer === 'object' && answer !== null && !Array.isArray(answer) && (answer as { kind?: unknown }).kind === 'failure';
}

function toResponse(answer: ScriptedAnswer, request: ProviderRequest): ProviderResponse {
  if (typeof answer === 'object' && answer !== null && !Array.isArray(answer) && (answer as { kind?: unknown }).kind === 'response') {
    const r = answer as ScriptedResponse;
    const text = r.text ?? '';
    return {
      text,
      usage: r.usage ?? estimateUsage(request.prompt, text),
      finishReason: r.finishReason ?? (r.toolCalls?.length ? 'tool_calls' : 'stop'),
      ...(r.toolCalls ? { toolCalls: r.toolCalls } : {}),
    };
  }
  const text = typeof answer === 'string' ? answer : JSON.stringify(answer);
  return { text, usage: estimateUsage(request.prompt, text), finishReason: 'stop', model: request.model };
}

/** About four characters per token: good enough for tests and budgets in tests. */
function estimateUsage(prompt: string, text: string): { input_tokens: number; output_tokens: number } {
  return { input_tokens: Math.ceil(prompt.length / 4), output_tokens: Math.ceil(text.length / 4) };
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
