/**
 * The page's only way to the server: the REST API (createRouter) and the dashboard's own data
 * routes, at the paths the server wrote into the page's meta tags. Same-origin requests carry the
 * host's cookies, which is what `authorize` reads.
 */
function meta(name: string): string {
  return document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? '';
}

export const API_BASE = meta('trellis-api');
export const DASHBOARD_BASE = meta('trellis-dashboard');

/** An error answer of the API: its status and `{ error: { code, message } }`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

async function request<T>(url: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(url, { credentials: 'same-origin', ...init, headers: { accept: 'application/json', ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers } });
  if (res.status === 204) return undefined as T;
  const body: unknown = await res.json().catch(() => undefined);
  if (!res.ok) {
    const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(res.status, error?.code ?? 'http', error?.message ?? `${res.status} ${res.statusText}`);
  }
  return body as T;
}

/** `path` with each `{}` replaced by the next value, URL-encoded. */
export function path(template: TemplateStringsArray, ...values: readonly (string | number)[]): string {
  return template.reduce((out, part, i) => out + part + (i < values.length ? encodeURIComponent(String(values[i])) : ''), '');
}

export const api = {
  get: <T>(p: string) => request<T>(API_BASE + p),
  post: <T>(p: string, body?: unknown) => request<T>(API_BASE + p, { method: 'POST', body: JSON.stringify(body ?? {}) }),
  put: <T>(p: string, body: unknown) => request<T>(API_BASE + p, { method: 'PUT', body: JSON.stringify(body) }),
  data: <T>(p: string) => request<T>(`${DASHBOARD_BASE}/data${p}`),
  eventsUrl: (executionId: string) => API_BASE + path`/workflow-executions/${executionId}/events`,
};
