/** What every provider adapter test needs: a request builder and a way to catch a typed failure. */
import { isTrellisError, type TrellisError } from '../../src/core/errors.js';
import type { ProviderRequest } from '../../src/providers/provider.js';

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
