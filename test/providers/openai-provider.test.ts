import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { OpenAIProvider, type ProviderRequest } from '../../src/index.js';
import { failure, failureContract, helloRequest } from './provider-test-kit.js';
import { startOpenAIServer, type OpenAIFakeServer } from '../fakes/openai-server.js';

let fake: OpenAIFakeServer;
let provider: OpenAIProvider;

beforeAll(async () => {
  fake = await startOpenAIServer();
  provider = new OpenAIProvider({ apiKey: 'sk-test', baseURL: `${fake.url}/v1` });
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.requests.length = 0;
});

const request = (overrides: Partial<ProviderRequest> = {}): ProviderRequest => helloRequest('gpt-4o-mini', overrides);

const lastBody = (): Record<string, unknown> => fake.requests.at(-1)?.body as Record<string, unknown>;

describe('OpenAIProvider against a local Chat Completions server', () => {
  it('answers with text, usage, model and finish reason', async () => {
    fake.enqueue({ text: 'Hello there', usage: { prompt_tokens: 12, completion_tokens: 3 } });
    const response = await provider.complete(request({ system: 'Be brief', options: { temperature: 0.2, max_tokens: 50, top_p: 0.9, stop: ['\n'], seed: 7 } }));

    expect(response).toMatchObject({ text: 'Hello there', usage: { input_tokens: 12, output_tokens: 3 }, finishReason: 'stop', model: 'gpt-4o-mini' });
    expect(fake.requests).toHaveLength(1);
    const sent = fake.requests[0]!;
    expect(sent.path).toBe('/v1/chat/completions');
    expect(sent.headers['authorization']).toBe('Bearer sk-test');
    expect(sent.headers['idempotency-key']).toBe('run-1/step-a/1');
    expect(sent.body).toMatchObject({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief' },
        { role: 'user', content: 'Say hello' },
      ],
      temperature: 0.2,
      max_tokens: 50,
      top_p: 0.9,
      stop: ['\n'],
      seed: 7,
    });
    expect(lastBody()['stream']).toBeFalsy();
  });

  it('streams: onToken deltas concatenate to the final text, with usage', async () => {
    fake.enqueue({ text: 'Streaming is fun to watch', usage: { prompt_tokens: 5, completion_tokens: 6 } });
    const deltas: string[] = [];
    const response = await provider.complete(request({ onToken: (d) => deltas.push(d) }));

    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe('Streaming is fun to watch');
    expect(response).toMatchObject({ text: 'Streaming is fun to watch', usage: { input_tokens: 5, output_tokens: 6 }, finishReason: 'stop' });
    expect(lastBody()).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('sends the output schema as response_format json_schema', async () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    fake.enqueue({ json: { city: 'Paris' } });
    const response = await provider.complete(request({ outputSchema: schema }));

    expect(JSON.parse(response.text)).toEqual({ city: 'Paris' });
    expect(lastBody()['response_format']).toEqual({ type: 'json_schema', json_schema: { name: 'output', schema, strict: false } });
  });

  it('sends tools and parses tool calls back, and maps a tool conversation', async () => {
    const tools = [{ name: 'weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } }];
    fake.enqueue({ toolCalls: [{ id: 'call_9', name: 'weather', arguments: { city: 'Oslo' } }] });
    const first = await provider.complete(request({ tools }));

    expect(first.finishReason).toBe('tool_calls');
    expect(first.toolCalls).toEqual([{ id: 'call_9', name: 'weather', arguments: { city: 'Oslo' } }]);
    expect(lastBody()['tools']).toEqual([{ type: 'function', function: { name: 'weather', description: 'Weather for a city', parameters: tools[0]!.parameters } }]);

    fake.enqueue({ text: 'It is cold in Oslo' });
    await provider.complete(
      request({
        tools,
        messages: [
          { role: 'user', content: 'Weather in Oslo?' },
          { role: 'assistant', content: '', toolCalls: first.toolCalls! },
          { role: 'tool', toolCallId: 'call_9', content: '{"temp":-3}' },
        ],
      }),
    );
    expect(lastBody()['messages']).toEqual([
      { role: 'user', content: 'Weather in Oslo?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } }] },
      { role: 'tool', tool_call_id: 'call_9', content: '{"temp":-3}' },
    ]);
  });

  it('assembles streamed tool calls', async () => {
    fake.enqueue({ toolCalls: [{ id: 'call_1', name: 'lookup', arguments: { q: 'trellis library', limit: 3 } }] });
    const response = await provider.complete(request({ tools: [{ name: 'lookup', parameters: { type: 'object' } }], onToken: () => {} }));
    expect(response.toolCalls).toEqual([{ id: 'call_1', name: 'lookup', arguments: { q: 'trellis library', limit: 3 } }]);
    expect(response.finishReason).toBe('tool_calls');
  });

  it('rejects malformed tool arguments as malformed_output', async () => {
    fake.enqueue({ toolCalls: [{ name: 'lookup', arguments: '{"q": ' }] });
    const error = await failure(provider.complete(request()));
    expect(error).toMatchObject({ code: 'malformed_output', retryable: true, provider: 'openai' });
  });

  it('maps 429 to rate_limit with retryAfterMs, and the SDK does not retry', async () => {
    fake.enqueue({ status: 429, headers: { 'retry-after': '2' } }, { text: 'should not be reached' });
    const error = await failure(provider.complete(request()));

    expect(error).toMatchObject({ code: 'rate_limit', retryable: true, retryAfterMs: 2000, status: 429, provider: 'openai' });
    expect(error.cause).toBeInstanceOf(Error);
    expect(fake.requests).toHaveLength(1);
    // The reply queued for a retry is still there: consume it so later tests stay aligned.
    expect((await provider.complete(request())).text).toBe('should not be reached');
  });

  it('reads retry-after-ms and HTTP-date retry-after', async () => {
    fake.enqueue({ status: 429, headers: { 'retry-after-ms': '350' } });
    expect((await failure(provider.complete(request()))).retryAfterMs).toBe(350);
    fake.enqueue({ status: 429, headers: { 'retry-after': new Date(Date.now() + 30_000).toUTCString() } });
    const ms = (await failure(provider.complete(request()))).retryAfterMs;
    expect(ms).toBeGreaterThan(25_000);
    expect(ms).toBeLessThanOrEqual(30_000);
  });

  it('maps 500 to provider_5xx with one request only', async () => {
    fake.enqueue({ status: 500 });
    expect(await failure(provider.complete(request()))).toMatchObject({ code: 'provider_5xx', retryable: true, status: 500 });
    expect(fake.requests).toHaveLength(1);
  });

  it('maps a malformed stream to malformed_output', async () => {
    fake.enqueue({ malformed: true });
    expect(await failure(provider.complete(request({ onToken: () => {} })))).toMatchObject({ code: 'malformed_output' });
  });

  it('maps a dropped connection to network', async () => {
    fake.enqueue({ reset: true });
    expect(await failure(provider.complete(request()))).toMatchObject({ code: 'network', retryable: true });
  });

  it('maps a refused connection to network', async () => {
    const closed = await startOpenAIServer();
    await closed.close();
    const offline = new OpenAIProvider({ apiKey: 'k', baseURL: `${closed.url}/v1` });
    expect(await failure(offline.complete(request()))).toMatchObject({ code: 'network' });
  });

  it('uses the configured name on errors', async () => {
    const vllm = new OpenAIProvider({ name: 'vllm', baseURL: `${fake.url}/v1` });
    expect(vllm.name).toBe('vllm');
    fake.enqueue({ status: 503 });
    expect(await failure(vllm.complete(request()))).toMatchObject({ code: 'provider_5xx', provider: 'vllm' });
  });

  it('fails an answer withheld by the content filter as content_filter', async () => {
    fake.enqueue({ text: '', finishReason: 'content_filter' });
    expect(await failure(provider.complete(request()))).toMatchObject({ code: 'content_filter', retryable: false });
  });

  it('does not send anything when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    expect(await failure(provider.complete(request({ signal: controller.signal })))).toMatchObject({ code: 'cancelled' });
    expect(fake.requests).toHaveLength(0);
  });

  it('without any API key fails as auth before calling, and picks up OPENAI_API_KEY', async () => {
    vi.stubEnv('OPENAI_API_KEY', undefined);
    try {
      const keyless = new OpenAIProvider();
      expect(await failure(keyless.complete(request()))).toMatchObject({ code: 'auth', retryable: false });
      vi.stubEnv('OPENAI_API_KEY', 'sk-from-env');
      fake.enqueue({ text: 'ok' });
      const fromEnv = new OpenAIProvider({ baseURL: `${fake.url}/v1` });
      await fromEnv.complete(request());
      expect(fake.requests.at(-1)?.headers['authorization']).toBe('Bearer sk-from-env');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

failureContract(() => ({ provider, fake, request }));
