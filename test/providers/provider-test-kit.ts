/** What every provider adapter test needs: a request builder and a way to catch a typed failure. */
import { isTrellisError, type TrellisError, type Provider, type ProviderRequest } from '../../src/index.js';
import { describe, expect, it } from 'vitest';

/** A request to `model` saying hello, with `overrides` applied. */
export function helloRequest(model: string, overrides: Partial<ProviderRequest> = {}): ProviderRequest {
  return {
    model,
    prompt: 'Say hello',
    messages: [{ role: 'user', content: 'Say hello' }],
    options: {},
    signal: new AbortController().signal,
    idempotencyKey: 'run-1/step-a/1',
    ...overrides,
  };
}

/** The TrellisError `promise` rejects with; fails the test when it resolves or rejects with something else. */
export async function failure(promise: Promise<unknown>): Promise<TrellisError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isTrellisError(error)) throw new Error(`expected a TrellisError, got ${String(error)}`);
  return error;
}

/** The fake server calls every adapter test drives. */
export interface FakeProviderServer {
  enqueue(...replies: ({ status: number; message?: string } | { hang: true } | { malformed: true } | { text: string; stall: true })[]): void;
  readonly requests: readonly unknown[];
}

/**
 * Failures every adapter maps the same way: 401 → auth, 400 → bad_request, a hung call cut by a
 * timeout signal → timeout, a cancelled signal → cancelled, a malformed body → malformed_output.
 */
export function failureContract(env: () => { readonly provider: Provider; readonly fake: FakeProviderServer; readonly request: (overrides?: Partial<ProviderRequest>) => ProviderRequest }): void {
  describe('failures shared by every adapter', () => {
    it('maps 401 to auth (not retryable) and 400 to bad_request', async () => {
      const { provider, fake, request } = env();
      fake.enqueue({ status: 401 });
      expect(await failure(provider.complete(request()))).toMatchObject({ code: 'auth', retryable: false, status: 401 });
      fake.enqueue({ status: 400 });
      expect(await failure(provider.complete(request()))).toMatchObject({ code: 'bad_request', retryable: false, status: 400 });
    });

    it('aborts a hung request when the signal times out', async () => {
      const { provider, fake, request } = env();
      fake.enqueue({ hang: true });
      // The server never answers: the call can only end through the signal (or the test times out).
      expect(await failure(provider.complete(request({ signal: AbortSignal.timeout(150) })))).toMatchObject({ code: 'timeout', retryable: true });
    });

    it('maps a cancelled signal to cancelled, streamed or not', async () => {
      const { provider, fake, request } = env();
      for (const stream of [false, true]) {
        fake.enqueue({ hang: true });
        const controller = new AbortController();
        setTimeout(() => controller.abort(), 50);
        const call = provider.complete(request({ signal: controller.signal, ...(stream ? { onToken: () => undefined } : {}) }));
        expect(await failure(call)).toMatchObject({ code: 'cancelled', retryable: false });
      }
    });

    it('aborts mid-stream: tokens so far were delivered, the call fails as cancelled', async () => {
      const { provider, fake, request } = env();
      fake.enqueue({ text: 'partial answer then silence', stall: true });
      const controller = new AbortController();
      const deltas: string[] = [];
      const pending = provider.complete(
        request({
          signal: controller.signal,
          onToken: (d) => {
            deltas.push(d);
            if (deltas.join('') === 'partial answer then silence') setTimeout(() => controller.abort(), 20);
          },
        }),
      );
      expect(await failure(pending)).toMatchObject({ code: 'cancelled' });
      expect(deltas.join('')).toBe('partial answer then silence');
    });

    it('maps a malformed body to malformed_output', async () => {
      const { provider, fake, request } = env();
      fake.enqueue({ malformed: true });
      expect(await failure(provider.complete(request()))).toMatchObject({ code: 'malformed_output', retryable: true });
    });
  });
}
