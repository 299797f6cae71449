import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AnthropicProvider, type ProviderRequest } from '../../src/index.js';
import { failure, failureContract, helloRequest } from './provider-test-kit.js';
import { startAnthropicServer, type AnthropicFakeServer } from '../fakes/anthropic-server.js';

let fake: AnthropicFakeServer;
let provider: AnthropicProvider;

beforeAll(async () => {
  fake = await startAnthropicServer();
  provider = new AnthropicProvider({ apiKey: 'sk-ant-test', baseURL: fake.url });
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.requests.length = 0;
});

const request = (overrides: Partial<ProviderRequest> = {}): ProviderRequest => helloRequest('claude-test-1', overrides);

const lastBody = (): Record<string, unknown> => fake.requests.at(-1)?.body as Record<string, unknown>;

const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };

describe('AnthropicProvider against a local Messages API server', () => {
  it('answers with text and usage; system is top-level and max_tokens defaults to 1024', async () => {
    fake.enqueue({ text: 'Hello there', usage: { input_tokens: 21, output_tokens: 4 } });
    const response = await provider.complete(request({ system: 'Be brief', options: { temperature: 0.3, stop: ['END'], top_k: 5 } }));

    expect(response).toMatchObject({ text: 'Hello there', usage: { input_tokens: 21, output_tokens: 4 }, finishReason: 'stop', model: 'claude-test-1' });
    expect(fake.requests).toHaveLength(1);
    const sent = fake.requests[0]!;
    expect(sent.path).toBe('/v1/messages');
    // SDK 1.x sends the API key as a bearer token; older versions used x-api-key.
    expect(sent.headers['authorization'] ?? sent.headers['x-api-key']).toMatch(/sk-ant-test$/);
    expect(sent.headers['anthropic-version']).toBeDefined();
    expect(sent.body).toMatchObject({
      model: 'claude-test-1',
      max_tokens: 1024,
      system: 'Be brief',
      messages: [{ role: 'user', content: 'Say hello' }],
      temperature: 0.3,
      stop_sequences: ['END'],
      top_k: 5,
    });
  });

  it('passes max_tokens through when given', async () => {
    fake.enqueue({ text: 'ok' });
    await provider.complete(request({ options: { max_tokens: 77 } }));
    expect(lastBody()['max_tokens']).toBe(77);
  });

  it('streams text_delta events: onToken deltas concatenate to the final text, with usage', async () => {
    fake.enqueue({ text: 'Streaming is fun to watch', usage: { input_tokens: 8, output_tokens: 6 } });
    const deltas: string[] = [];
    const response = await provider.complete(request({ onToken: (d) => deltas.push(d) }));

    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe('Streaming is fun to watch');
    expect(response).toMatchObject({ text: 'Streaming is fun to watch', usage: { input_tokens: 8, output_tokens: 6 }, finishReason: 'stop' });
    expect(lastBody()['stream']).toBe(true);
  });

  it('structured output: forces the output tool with the schema and returns its input as JSON', async () => {
    fake.enqueue({ json: { city: 'Paris' } });
    const response = await provider.complete(request({ outputSchema: schema }));

    expect(JSON.parse(response.text)).toEqual({ city: 'Paris' });
    expect(response.toolCalls).toBeUndefined();
    expect(response.finishReason).toBe('stop');
    expect(lastBody()['tool_choice']).toEqual({ type: 'tool', name: 'output' });
    expect(lastBody()['tools']).toEqual([{ name: 'output', description: expect.any(String), input_schema: schema }]);
  });

  it('structured output while streaming: the JSON streams through onToken', async () => {
    fake.enqueue({ json: { city: 'Lisbon', country: 'Portugal' } });
    const deltas: string[] = [];
    const response = await provider.complete(request({ outputSchema: schema, onToken: (d) => deltas.push(d) }));
    expect(JSON.parse(response.text)).toEqual({ city: 'Lisbon', country: 'Portugal' });
    expect(deltas.join('')).toBe(response.text);
  });

  it('sends tools, parses tool_use blocks, and maps tool_result turns', async () => {
    const tools = [{ name: 'weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } }];
    fake.enqueue({ text: 'Let me check.', toolCalls: [{ id: 'toolu_9', name: 'weather', input: { city: 'Oslo' } }] });
    const first = await provider.complete(request({ tools }));

    expect(first).toMatchObject({ text: 'Let me check.', finishReason: 'tool_calls' });
    expect(first.toolCalls).toEqual([{ id: 'toolu_9', name: 'weather', arguments: { city: 'Oslo' } }]);
    expect(lastBody()['tools']).toEqual([{ name: 'weather', description: 'Weather for a city', input_schema: tools[0]!.parameters }]);

    fake.enqueue({ text: 'Cold.' });
    await provider.complete(
      request({
        tools,
        messages: [
          { role: 'user', content: 'Weather in Oslo and Bergen?' },
          {
            role: 'assistant',
            content: 'Let me check.',
            toolCalls: [
              { id: 'toolu_9', name: 'weather', arguments: { city: 'Oslo' } },
              { id: 'toolu_10', name: 'weather', arguments: { city: 'Bergen' } },
            ],
          },
          { role: 'tool', toolCallId: 'toolu_9', content: '-3C' },
          { role: 'tool', toolCallId: 'toolu_10', content: '2C' },
        ],
      }),
    );
    expect(lastBody()['messages']).toEqual([
      { role: 'user', content: 'Weather in Oslo and Bergen?' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Let me check.' },
          { type: 'tool_use', id: 'toolu_9', name: 'weather', input: { city: 'Oslo' } },
          { type: 'tool_use', id: 'toolu_10', name: 'weather', input: { city: 'Bergen' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_9', content: '-3C' },
          { type: 'tool_result', tool_use_id: 'toolu_10', content: '2C' },
        ],
      },
    ]);
  });

  it('tools plus a schema: tool_choice any, so the model can still call tools', async () => {
    fake.enqueue({ toolCalls: [{ name: 'weather', input: { city: 'Rome' } }] });
    const response = await provider.complete(request({ outputSchema: schema, tools: [{ name: 'weather', parameters: { type: 'object' } }] }));
    expect(lastBody()['tool_choice']).toEqual({ type: 'any' });
    expect(response.toolCalls).toEqual([{ id: 'toolu_1', name: 'weather', arguments: { city: 'Rome' } }]);
  });

  it('assembles streamed tool_use input_json_delta', async () => {
    fake.enqueue({ toolCalls: [{ id: 'toolu_1', name: 'lookup', input: { q: 'trellis library', limit: 3 } }] });
    const response = await provider.complete(request({ tools: [{ name: 'lookup', parameters: { type: 'object' } }], onToken: () => {} }));
    expect(response.toolCalls).toEqual([{ id: 'toolu_1', name: 'lookup', arguments: { q: 'trellis library', limit: 3 } }]);
    expect(response.finishReason).toBe('tool_calls');
  });

  it('maps 429 to rate_limit with retryAfterMs, and the SDK does not retry', async () => {
    fake.enqueue({ status: 429, headers: { 'retry-after': '3' } }, { text: 'should not be reached' });
    const error = await failure(provider.complete(request()));

    expect(error).toMatchObject({ code: 'rate_limit', retryable: true, retryAfterMs: 3000, status: 429, provider: 'anthropic' });
    expect(error.cause).toBeInstanceOf(Error);
    expect(fake.requests).toHaveLength(1);
    expect((await provider.complete(request())).text).toBe('should not be reached');
  });

  it('maps 500 and 529 (overloaded) to provider_5xx with one request each', async () => {
    fake.enqueue({ status: 500 });
    expect(await failure(provider.complete(request()))).toMatchObject({ code: 'provider_5xx', status: 500 });
    fake.enqueue({ status: 529 });
    expect(await failure(provider.complete(request()))).toMatchObject({ code: 'provider_5xx', status: 529, retryable: true });
    expect(fake.requests).toHaveLength(2);
  });

  it('maps an error event inside a 200 stream by its type', async () => {
    fake.enqueue({ streamError: 'overloaded_error' });
    expect(await failure(provider.complete(request({ onToken: () => {} })))).toMatchObject({ code: 'provider_5xx', retryable: true });
  });

  it('maps a malformed body (plain and streamed) to malformed_output', async () => {
    fake.enqueue({ malformed: true });
    expect(await failure(provider.complete(request()))).toMatchObject({ code: 'malformed_output', retryable: true });
    fake.enqueue({ malformed: true });
    expect(await failure(provider.complete(request({ onToken: () => {} })))).toMatchObject({ code: 'malformed_output' });
  });

  it('maps a dropped connection to network', async () => {
    fake.enqueue({ reset: true });
    expect(await failure(provider.complete(request()))).toMatchObject({ code: 'network', retryable: true });
  });
});

failureContract(() => ({ provider, fake, request }));
