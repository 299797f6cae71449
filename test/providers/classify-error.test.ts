import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ProviderError, type TrellisError } from '../../src/index.js';
import { abortError, classifyProviderError, parseRetryAfter, parseToolArguments } from '../../src/providers/classify-error.js';

/** Shaped like the Stainless SDKs' APIError: status, Headers, and the parsed error body. */
class FakeAPIError extends Error {
  constructor(
    readonly status: number,
    readonly error: unknown,
    readonly headers: Headers = new Headers(),
  ) {
    super(`${status} fake`);
  }
}

const classify = (error: unknown, signal?: AbortSignal): TrellisError =>
  classifyProviderError(error, { provider: 'p', ...(signal === undefined ? {} : { signal }) });

describe('classifyProviderError', () => {
  it.each([
    [429, 'rate_limit', true],
    [408, 'timeout', true],
    [500, 'provider_5xx', true],
    [502, 'provider_5xx', true],
    [529, 'provider_5xx', true],
    [401, 'auth', false],
    [403, 'auth', false],
    [400, 'bad_request', false],
    [404, 'bad_request', false],
    [422, 'bad_request', false],
  ] as const)('maps HTTP %i to %s (retryable: %s)', (status, code, retryable) => {
    const cause = new FakeAPIError(status, {});
    const error = classify(cause);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code, retryable, status, provider: 'p' });
    expect(error.cause).toBe(cause);
  });

  it('maps content-filter bodies to content_filter', () => {
    expect(classify(new FakeAPIError(400, { code: 'content_filter', message: 'filtered' }))).toMatchObject({ code: 'content_filter', retryable: false });
    expect(classify(new FakeAPIError(400, { code: 'content_policy_violation' })).code).toBe('content_filter');
  });

  it('keeps an insufficient_quota 429 as rate_limit but not retryable', () => {
    expect(classify(new FakeAPIError(429, { code: 'insufficient_quota' }))).toMatchObject({ code: 'rate_limit', retryable: false });
  });

  it('reads retry-after on 503 too', () => {
    expect(classify(new FakeAPIError(503, {}, new Headers({ 'retry-after': '1.5' }))).retryAfterMs).toBe(1500);
  });

  it('uses status_code and context headers for SDKs without them on the error (Ollama)', () => {
    const error = Object.assign(new Error('slow down'), { status_code: 429 });
    const result = classifyProviderError(error, { provider: 'ollama', headers: { 'Retry-After': '7' } });
    expect(result).toMatchObject({ code: 'rate_limit', retryAfterMs: 7000, status: 429 });
  });

  it('maps connection failures by cause code, and timeouts', () => {
    const refused = new TypeError('fetch failed', { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) });
    expect(classify(refused)).toMatchObject({ code: 'network', retryable: true });
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(classify(reset).code).toBe('network');
    class APIConnectionTimeoutError extends Error {}
    expect(classify(new APIConnectionTimeoutError('Request timed out.')).code).toBe('timeout');
  });

  it('maps SyntaxError to malformed_output and unknown errors to provider_error', () => {
    expect(classify(new SyntaxError('Unexpected end of JSON input')).code).toBe('malformed_output');
    expect(classify(new Error('weird'))).toMatchObject({ code: 'provider_error', retryable: false });
  });

  it('maps aborts to cancelled, or timeout when the signal timed out', () => {
    const controller = new AbortController();
    controller.abort();
    const cancelled = classify(new Error('Request was aborted.'), controller.signal);
    expect(cancelled).toMatchObject({ code: 'cancelled', retryable: false, provider: 'p' });
    expect(cancelled).not.toBeInstanceOf(ProviderError);

    const timedOut = new AbortController();
    timedOut.abort(new DOMException('The operation timed out.', 'TimeoutError'));
    expect(classify(new Error('aborted'), timedOut.signal)).toMatchObject({ code: 'timeout', retryable: true });
    expect(abortError('p', timedOut.signal).code).toBe('timeout');

    expect(classify(new DOMException('This operation was aborted', 'AbortError')).code).toBe('cancelled');
  });

  it('passes Trellis errors through unchanged', () => {
    const original = new ProviderError('auth', 'no key');
    expect(classify(original)).toBe(original);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  it('prefers retry-after-ms, then seconds, then an HTTP date', () => {
    expect(parseRetryAfter(new Headers({ 'retry-after-ms': '250', 'retry-after': '9' }), now)).toBe(250);
    expect(parseRetryAfter(new Headers({ 'retry-after': '9' }), now)).toBe(9000);
    expect(parseRetryAfter(new Headers({ 'retry-after': 'Wed, 01 Jan 2025 00:00:30 GMT' }), now)).toBe(30_000);
    expect(parseRetryAfter(new Headers({ 'retry-after': 'Tue, 31 Dec 2024 23:00:00 GMT' }), now)).toBe(0);
    expect(parseRetryAfter(new Headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});

describe('parseToolArguments', () => {
  it('parses objects, treats empty as {}, and rejects the rest as malformed_output', () => {
    expect(parseToolArguments('p', 't', '{"a":1}')).toEqual({ a: 1 });
    expect(parseToolArguments('p', 't', '')).toEqual({});
    expect(() => parseToolArguments('p', 't', '{"a":')).toThrow(expect.objectContaining({ code: 'malformed_output' }));
    expect(() => parseToolArguments('p', 't', '[1]')).toThrow(expect.objectContaining({ code: 'malformed_output' }));
  });
});

describe('provider SDKs load lazily', () => {
  it.each([
    ['openai-provider.ts', 'openai'],
    ['anthropic-provider.ts', '@anthropic-ai/sdk'],
    ['ollama-provider.ts', 'ollama'],
  ])('%s has no static import of %s once compiled', (file, sdk) => {
    const source = readFileSync(new URL(`../../src/providers/${file}`, import.meta.url), 'utf8');
    const output = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    }).outputText;
    const staticImports = [...output.matchAll(/^import\s[^;]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]);
    expect(staticImports.filter((specifier) => specifier === sdk || specifier?.startsWith(`${sdk}/`))).toEqual([]);
    expect(output).toContain(`import('${sdk}')`);
  });
});
