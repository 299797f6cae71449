import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OllamaProvider, type ProviderRequest } from '../../src/index.js';
import { failure, failureContract, helloRequest } from './provider-test-kit.js';
import { startOllamaServer, type OllamaFakeServer } from '../fakes/ollama-server.js';

let fake: OllamaFakeServer;
let provider: OllamaProvider;

beforeAll(async () => {
  fake = await startOllamaServer();
  provider = new OllamaProvider({ host: fake.url });
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.requests.length = 0;
});

const request = (overrides: Partial<ProviderRequest> = {}): ProviderRequest => helloRequest('llama3.2', overrides);

const lastBody = (): Record<string, unknown> => fake.requests.at(-1)?.body as Record<string, unknown>;

describe('OllamaProvider against a local /api/chat server', () => {
  it('answers with text and usage from prompt_eval_count / eval_count', async () => {
    fake.enqueue({ text: 'Hello there', usage: { prompt_eval_count: 30, eval_count: 4 } });
    const response = await provider.complete(
      request({ system: 'Be brief', options: { temperature: 0.1, max_tokens: 40, top_p: 0.8, stop: ['\n'], num_ctx: 4096, keep_alive: '5m' } }),
    );

    expect(response).toMatchObject({ text: 'Hello there', usage: { input_tokens: 30, output_tokens: 4 }, finishReason: 'stop', model: 'llama3.2' });
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.path).toBe('/api/chat');
    expect(fake.requests[0]!.body).toEqual({
      model: 'llama3.2',
      stream: false,
      keep_alive: '5m',
      messages: [
        { role: 'system', content: 'Be brief' },
        { role: 'user', content: 'Say hello' },
      ],
      options: { temperature: 0.1, top_p: 0.8, num_ctx: 4096, num_predict: 40, stop: ['\n'] },
    });
  });

  it('streams NDJSON: onToken deltas concatenate to the final text, with usage from the done chunk', async () => {
    fake.enqueue({ text: 'Streaming is fun to watch', usage: { prompt_eval_count: 9, eval_count: 6 } });
    const deltas: string[] = [];
    const response = await provider.complete(request({ onToken: (d) => deltas.push(d) }));

    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe('Streaming is fun to watch');
    expect(response).toMatchObject({ text: 'Streaming is fun to watch', usage: { input_tokens: 9, output_tokens: 6 }, finishReason: 'stop' });
    expect(lastBody()['stream']).toBe(true);
  });

  it('sends the output schema as format', async () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    fake.enqueue({ json: { city: 'Paris' } });
    const response = await provider.complete(request({ outputSchema: schema }));
    expect(JSON.parse(response.text)).toEqual({ city: 'Paris' });
    expect(lastBody()['format']).toEqual(schema);
  });

  it('sends tools, parses tool calls, and answers tool results by tool name', async () => {
    const tools = [{ name: 'weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } }];
    fake.enqueue({ toolCalls: [{ name: 'weather', arguments: { city: 'Oslo' } }] });
    const first = await provider.complete(request({ tools }));

    expect(first.finishReason).toBe('tool_calls');
    expect(first.toolCalls).toEqual([{ id: 'call_0', name: 'weather', arguments: { city: 'Oslo' } }]);
    expect(lastBody()['tools']).toEqual([{ type: 'function', function: { name: 'weather', description: 'Weather for a city', parameters: tools[0]!.parameters } }]);

    fake.enqueue({ text: 'Cold.' });
    await provider.complete(
      request({
        tools,
        messages: [
          { role: 'user', content: 'Weather in Oslo?' },
          { role: 'assistant', content: '', toolCalls: first.toolCalls! },
          { role: 'tool', toolCallId: 'call_0', content: '-3C' },
        ],
      }),
    );
    expect(lastBody()['messages']).toEqual([
      { role: 'user', content: 'Weather in Oslo?' },
      { role: 'assistant', content: '', tool_calls: [{ function: { name: 'weather', arguments: { city: 'Oslo' } } }] },
      { role: 'tool', content: '-3C', tool_name: 'weather' },
    ]);
  });

  it('collects tool calls from a stream', async () => {
    fake.enqueue({ toolCalls: [{ name: 'lookup', arguments: { q: 'trellis' } }, { name: 'lookup', arguments: { q: 'durable' } }] });
    const response = await provider.complete(request({ tools: [{ name: 'lookup', parameters: { type: 'object' } }], onToken: () => {} }));
    expect(response.toolCalls).toEqual([
      { id: 'call_0', name: 'lookup', arguments: { q: 'trellis' } },
      { id: 'call_1', name: 'lookup', arguments: { q: 'durable' } },
    ]);
  });

  it('maps 429 to rate_limit with retryAfterMs (headers kept by the wrapped fetch), one request', async () => {
    fake.enqueue({ status: 429, headers: { 'retry-after': '4' } }, { text: 'should not be reached' });
    const error = await failure(provider.complete(request()));
    expect(error).toMatchObject({ code: 'rate_limit', retryable: true, retryAfterMs: 4000, status: 429, provider: 'ollama' });
    expect(error.cause).toBeInstanceOf(Error);
    expect(fake.requests).toHaveLength(1);
    expect((await provider.complete(request())).text).toBe('should not be reached');
  });

  it('maps 500 to provider_5xx and 401 to auth', async () => {
    fake.enqueue({ status: 500 });
    expect(await failure(provider.complete(request()))).toMatchObject({ code: 'provider_5xx', status: 500 });
    fake.enqueue({ status: 401 });
    expect(await failure(provider.complete(request()))).toMatchObject({ code: 'auth', retryable: false, status: 401 });
    fake.enqueue({ status: 404, message: 'model "nope" not found, try pulling it first' });
    expect(await failure(provider.complete(request()))).toMatchObject({ code: 'bad_request', status: 404 });
  });

  it('maps a malformed body to malformed_output (plain and streamed)', async () => {
    fake.enqueue({ malformed: true });
    expect(await failure(provider.complete(request()))).toMatchObject({ code: 'malformed_output' });
    fake.enqueue({ malformed: true });
    expect(await failure(provider.complete(request({ onToken: () => {} })))).toMatchObject({ code: 'malformed_output' });
  });

  it('maps a stream that ends without its done chunk to malformed_output', async () => {
    fake.enqueue({ text: 'cut short', truncate: true });
    expect(await failure(provider.complete(request({ onToken: () => {} })))).toMatchObject({ code: 'malformed_output', retryable: true });
  });

  it('maps a refused connection to network', async () => {
    const closed = await startOllamaServer();
    await closed.close();
    const offline = new OllamaProvider({ host: closed.url });
    expect(await failure(offline.complete(request()))).toMatchObject({ code: 'network', retryable: true });
  });
});

failureContract(() => ({ provider, fake, request }));
