/**
 * A custom Provider signals what went wrong the way the README's Provider section says: a `code`
 * (with `retryable`, `retryAfterMs`), or an HTTP `status`; retry policies then act on it.
 */
import { describe, expect, it } from 'vitest';
import { workflow, type Provider } from '../src/index.js';
import { makeEngine } from './helpers.js';

function flaky(first: unknown): Provider & { calls: number } {
  const provider = {
    name: 'custom',
    calls: 0,
    async complete() {
      provider.calls++;
      if (provider.calls === 1) throw first;
      return { text: 'ok', usage: { input_tokens: 1, output_tokens: 1 } };
    },
  };
  return provider;
}

const wf = workflow('custom').prompt('p', { model: 'custom:m', template: 'x', retry: { max_attempts: 2, delay_ms: 10, jitter: false } }).end({ out: 'p.text' });

describe('errors from a custom provider', () => {
  it.each([
    ['a declared code and retryable', Object.assign(new Error('overloaded'), { code: 'provider_5xx', retryable: true }), 'provider_5xx'],
    ['an HTTP status 429', Object.assign(new Error('too many'), { status: 429 }), 'rate_limit'],
    ['an HTTP status 503', Object.assign(new Error('unavailable'), { status: 503 }), 'provider_5xx'],
  ])('%s is retried by the step retry policy', async (_name, error, code) => {
    const provider = flaky(error);
    const { engine, clock } = makeEngine(undefined, { providers: { custom: provider } });
    const failures: string[] = [];
    engine.events.on('node:failed', (e) => void failures.push(e.error.code));
    const id = await engine.start(wf, {});
    await expect.poll(() => failures.length).toBe(1);
    await clock.advance(60_000);
    const run = await engine.wait(id);
    expect(run.status).toBe('completed');
    expect(failures).toEqual([code]);
    expect(provider.calls).toBe(2);
  });

  it('a plain error is provider_error and not retried; a declared non-retryable code is not either', async () => {
    for (const error of [new Error('boom'), Object.assign(new Error('no'), { code: 'bad_request', retryable: false })]) {
      const { engine } = makeEngine(undefined, { providers: { custom: flaky(error) } });
      const run = await engine.run(wf, {});
      expect(run.status).toBe('failed');
    }
  });
});
