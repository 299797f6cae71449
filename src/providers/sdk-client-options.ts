/**
 * The SDK client options a provider passes through, typed here rather than taken from the SDKs:
 * Trellis's published types must hold without the optional SDKs installed (a consumer with
 * `skipLibCheck: false` and no `openai` would fail on `import type ... from 'openai'`).
 */

/** Further options for the SDK's client, passed through as given (retries stay off: the engine owns them). */
export interface SdkClientOptions {
  /** Milliseconds before a request times out. @default the SDK's (10 minutes) */
  readonly timeout?: number;
  /** A `fetch` to use instead of the global one (a proxy, a test double). */
  readonly fetch?: typeof fetch;
  /** Passed to every `fetch` call (e.g. a `dispatcher` for a proxy). */
  readonly fetchOptions?: Readonly<Record<string, unknown>>;
  /** Headers sent with every request; `null` removes one the SDK would send. */
  readonly defaultHeaders?: Readonly<Record<string, string | null | undefined>>;
  /** Query parameters added to every request (e.g. `api-version` for Azure). */
  readonly defaultQuery?: Readonly<Record<string, string | undefined>>;
}
