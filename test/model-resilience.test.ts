import { describe, expect, it } from 'vitest';
import {
  workflow,
  type TrellisEvents,
  type Provider,
  type ProviderRequest,
  type ProviderResponse,
  ScriptedProvider,
  type ScriptedAnswer,
} from '../src/index.js';
import { FakeClock } from '../src/testing/index.js';
import { CircuitBreaker } from '../src/calls/circuit-breaker.js';
import { TokenBucket } from '../src/calls/rate-limiter.js';
import { edge, makeEngine, node, until } from './helpers.js';

/** A provider whose calls stay open until released; counts calls in flight. */
class GatedProvider implements Provider {
  readonly name = 'mock';
  readonly calls: ProviderRequest[] = [];
  active = 0;
  peak = 0;
  readonly #waiting: (() => void)[] = [];

  async complete(request: ProviderRequest): Promise<ProviderResponse> {
    this.calls.push(request);
    this.active++;
    this.peak = Math.max(this.peak, this.active);
    try {
      await new Promise<void>((resolve, reject) => {
        this.#waiting.push(resolve);
        request.signal.addEventListener('abort', () => reject(request.signal.reason), { once: true });
      });
      return { text: 'ok', usage: { input_tokens: 1, output_tokens: 1 } };
    } finally {
      this.active--;
    }
  }

  /** Lets every open call answer. */
  releaseAll(): void {
    for (const resolve of this.#waiting.splice(0)) resolve();
  }
}

const single = (template = 'Hello', extra: Record<string, unknown> = {}) => ({
  name: 'single',
  definition: {
    nodes: [node('start', 'start'), node('ask', 'prompt_execution', { provider_model: 'mock:m', template, ...extra }), node('end', 'end')],
    edges: [edge('start', 'ask'), edge('ask', 'end')],
  },
});

const fanOut = workflow('fan').parallel({
  a: (b) => b.prompt('pa', { model: 'mock:m', template: 'a' }),
  b: (b) => b.prompt('pb', { model: 'mock:m', template: 'b' }),
  c: (b) => b.prompt('pc', { model: 'mock:m', template: 'c' }),
});

describe('per-provider limits', () => {
  it('caps calls in flight per provider across runs of one engine', async () => {
    const gated = new GatedProvider();
    const { engine } = makeEngine(undefined, { providers: { mock: gated }, limits: { mock: { concurrency: 2 } } });
    const ids = [await engine.start(fanOut), await engine.start(fanOut)];
    await until(() => gated.calls.length === 2);
    await new Promise((r) => setTimeout(r, 20));
    expect(gated.active).toBe(2);
    expect(engine.metrics().providers.mock).toMatchObject({ active: 2, queued: 4 });
    while (gated.calls.length < 6 || gated.active > 0) {
      gated.releaseAll();
      await new Promise((r) => setTimeout(r, 5));
    }
    const runs = await Promise.all(ids.map((id) => engine.wait(id)));
    expect(runs.map((r) => r.status)).toEqual(['completed', 'completed']);
    expect(gated.peak).toBe(2);
    expect(engine.metrics().providers.mock).toMatchObject({ calls: 6, active: 0, queued: 0 });
  });

  it('limits requests per minute on the engine clock', async () => {
    const { engine, mock, clock } = makeEngine(() => 'ok', { limits: { mock: { requestsPerMinute: 2 } } });
    const ids = await Promise.all([1, 2, 3].map(() => engine.start(single())));
    await until(() => mock.calls.length === 2);
    await new Promise((r) => setTimeout(r, 20));
    expect(mock.calls).toHaveLength(2);
    expect(engine.metrics().providers.mock!.queued).toBe(1);
    await clock.advance(29_000);
    expect(mock.calls).toHaveLength(2);
    await clock.advance(1_000); // 2 per minute refill one request every 30 s
    await until(() => mock.calls.length === 3);
    expect((await Promise.all(ids.map((id) => engine.wait(id)))).map((r) => r.status)).toEqual(['completed', 'completed', 'completed']);
  });

  it('limits tokens per minute: estimate before the call, actual usage after', async () => {
    const answer = ScriptedProvider.respond({ text: 'ok', usage: { input_tokens: 50, output_tokens: 50 } });
    const { engine, mock, clock } = makeEngine(() => answer, { limits: { mock: { tokensPerMinute: 100 } } });
    const prompt = 'x'.repeat(200); // estimated at 50 tokens
    expect((await engine.run(single(prompt))).status).toBe('completed'); // reserves 50, then uses 100: the bucket is empty
    const second = await engine.start(single(prompt));
    await new Promise((r) => setTimeout(r, 20));
    expect(mock.calls).toHaveLength(1);
    await clock.advance(29_000);
    expect(mock.calls).toHaveLength(1);
    await clock.advance(1_000); // 50 tokens at 100 per minute
    expect((await engine.wait(second)).status).toBe('completed');
    expect(mock.calls).toHaveLength(2);
  });

  it('a cancelled step leaves the queue without calling the provider', async () => {
    const gated = new GatedProvider();
    const { engine } = makeEngine(undefined, { providers: { mock: gated }, limits: { mock: { concurrency: 1 } } });
    const first = await engine.start(single());
    await until(() => gated.calls.length === 1);
    const second = await engine.start(single('Second'));
    await until(() => engine.metrics().providers.mock!.queued === 1);
    await engine.cancel(second);
    expect(engine.metrics().providers.mock!.queued).toBe(0);
    gated.releaseAll();
    expect((await engine.wait(first)).status).toBe('completed');
    expect((await engine.wait(second)).status).toBe('cancelled');
    expect(gated.calls).toHaveLength(1);
  });

  it('rejects bad limits at construction, naming the option', () => {
    expect(() => makeEngine(undefined, { limits: { mock: { concurrency: 0 } } })).toThrowError(/"limits.mock.concurrency" must be a positive number, got 0/);
    expect(() => makeEngine(undefined, { circuitBreaker: { failureThreshold: 1.5 } })).toThrowError(/circuitBreaker.failureThreshold/);
  });

  it('token buckets serve waiters in order and let an aborted waiter leave', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(clock, 60); // one per second
    const never = new AbortController().signal;
    await bucket.take(60, never);
    const order: string[] = [];
    const gone = new AbortController();
    const a = bucket.take(1, never).then(() => order.push('a'));
    const b = bucket.take(1, gone.signal).then(() => order.push('b'), () => order.push('b aborted'));
    const c = bucket.take(1, never).then(() => order.push('c'));
    gone.abort(new Error('stop'));
    await clock.advance(1_000);
    await clock.advance(1_000);
    await Promise.all([a, b, c]);
    expect(order).toEqual(['b aborted', 'a', 'c']);
  });
});

describe('circuit breakers', () => {
  function failing() {
    let answer: ScriptedAnswer = ScriptedProvider.fail('provider_5xx', 'upstream down');
    return { script: () => answer, heal: () => (answer = 'ok') };
  }

  it('opens after N consecutive failures, fails fast, half-opens after the cool-down and closes on success', async () => {
    const { script, heal } = failing();
    const { engine, mock, clock } = makeEngine(script, { circuitBreaker: { failureThreshold: 3, cooldownMs: 10_000 } });
    const events: TrellisEvents['provider:circuit'][] = [];
    engine.events.on('provider:circuit', (e) => events.push(e));
    for (let i = 0; i < 3; i++) expect((await engine.run(single())).status).toBe('failed');
    expect(events).toEqual([{ provider: 'mock', state: 'open', timestamp: clock.now() }]);
    expect(engine.metrics().providers.mock).toMatchObject({ calls: 3, failures: 3, circuit: 'open' });

    const fast = await engine.run(single());
    expect(fast.status).toBe('failed');
    expect(fast.execution_trace.find((s) => s.node_id === 'ask')).toMatchObject({ error_code: 'circuit_open' });
    expect(mock.calls).toHaveLength(3); // failed fast: the provider was not called

    await clock.advance(10_000);
    expect(engine.metrics().providers.mock!.circuit).toBe('half_open');
    heal();
    expect((await engine.run(single())).status).toBe('completed');
    expect(events.map((e) => e.state)).toEqual(['open', 'half_open', 'closed']);
    expect(engine.metrics().providers.mock).toMatchObject({ calls: 4, failures: 3, rejected: 1, circuit: 'closed' });
  });

  it('re-opens when the half-open probe fails, and lets only one probe through', async () => {
    const clock = new FakeClock();
    const states: string[] = [];
    const breaker = new CircuitBreaker('p', clock, { failureThreshold: 2, cooldownMs: 1_000 }, (s) => states.push(s));
    breaker.admit();
    breaker.failure('timeout');
    breaker.admit();
    breaker.failure('bad_request'); // the provider answered: the streak ends
    breaker.admit();
    breaker.failure('network');
    expect(breaker.state).toBe('closed');
    breaker.admit();
    breaker.failure('network');
    expect(breaker.state).toBe('open');
    expect(() => breaker.admit()).toThrowError(expect.objectContaining({ code: 'circuit_open', retryable: true, retryAfterMs: 1_000 }));
    await clock.advance(1_000);
    breaker.admit(); // the probe
    expect(() => breaker.admit()).toThrowError(expect.objectContaining({ code: 'circuit_open' }));
    breaker.failure('provider_5xx');
    expect(states).toEqual(['open', 'half_open', 'open']);
  });

  it('skips a primary whose breaker is open and records which model answered', async () => {
    const { script } = failing();
    const backup = new ScriptedProvider(() => 'from backup', { name: 'backup' });
    const primary = new ScriptedProvider(script);
    const { engine } = makeEngine(undefined, { providers: { mock: primary, backup }, circuitBreaker: { failureThreshold: 1, cooldownMs: 60_000 } });
    expect((await engine.run(single())).status).toBe('failed');
    expect(engine.metrics().providers.mock!.circuit).toBe('open');
    const run = await engine.run(single('Hello', { fallback: ['backup:b'] }));
    expect(run.status).toBe('completed');
    expect(run.context.ask).toEqual({ text: 'from backup', model: 'backup:b' });
    expect(primary.calls).toHaveLength(1); // only the call that opened the breaker
    const records = await engine.calls.list({ workflow_execution_id: run.id });
    expect(records.map((r) => [r.provider_model, r.status])).toEqual([['backup:b', 'completed']]);
    expect(engine.metrics().providers.mock).toMatchObject({ calls: 1, rejected: 1 });
  });
});
