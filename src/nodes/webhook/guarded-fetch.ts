/**
 * The webhook node's default transport: a `fetch` over `node:http` / `node:https` whose sockets
 * resolve names through the host policy's `connectLookup`. The global `fetch` resolves a name
 * again when it connects, after the policy checked it, so a name whose answer changes in between
 * (DNS rebinding) reached any address; here the address checked is the address connected to.
 */
import { createRequire } from 'node:module';
import type * as Http from 'node:http';
import type * as Https from 'node:https';
import type { LookupFunction } from 'node:net';
import type * as Stream from 'node:stream';
import type * as Zlib from 'node:zlib';

// Loaded on the first request, not when Trellis is imported (node:http pulls in node:net; see
// kernel/lazy-modules.ts and test/lazy-loading.test.ts).
const requireHere = createRequire(import.meta.url);
interface Modules {
  readonly http: typeof Http;
  readonly https: typeof Https;
  readonly stream: typeof Stream;
  readonly zlib: typeof Zlib;
}
let modules: Modules | undefined;
function load(): Modules {
  return (modules ??= {
    http: requireHere('node:http') as typeof Http,
    https: requireHere('node:https') as typeof Https,
    stream: requireHere('node:stream') as typeof Stream,
    zlib: requireHere('node:zlib') as typeof Zlib,
  });
}

/**
 * A `fetch` for what the webhook node sends (a URL, a method, headers, a string body, a signal,
 * `redirect: 'manual'`): redirects are returned, not followed, and gzip, deflate and br bodies
 * are decoded like `fetch` does.
 */
export function createGuardedFetch(lookup: LookupFunction): typeof fetch {
  return ((input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = new Headers(init.headers);
    if (!headers.has('accept-encoding')) headers.set('accept-encoding', 'gzip, deflate, br');
    const body = init.body === null || init.body === undefined ? undefined : Buffer.from(String(init.body as string));
    if (body !== undefined) headers.set('content-length', String(body.length));
    const method = init.method ?? 'GET';
    const { http, https } = load();
    const send: typeof http.request = url.protocol === 'https:' ? https.request : http.request;
    const outgoing: Record<string, string> = {};
    headers.forEach((value, name) => (outgoing[name] = value));
    return new Promise<Response>((resolve, reject) => {
      const req = send(url, { method, headers: outgoing, lookup, ...(init.signal ? { signal: init.signal } : {}) }, (res) => {
        resolve(toResponse(res, method));
      });
      req.on('error', reject);
      req.end(body);
    });
  }) as typeof fetch;
}

function toResponse(res: Http.IncomingMessage, method: string): Response {
  const status = res.statusCode ?? 502;
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
  }
  if (method === 'HEAD' || status === 204 || status === 304) {
    res.resume();
    return new Response(null, { status, statusText: res.statusMessage ?? '', headers });
  }
  return new Response(load().stream.Readable.toWeb(decoded(res, headers.get('content-encoding'))) as ReadableStream<Uint8Array>, { status, statusText: res.statusMessage ?? '', headers });
}

function decoded(res: Http.IncomingMessage, encoding: string | null): Stream.Readable {
  const coding = encoding?.trim().toLowerCase();
  const { createBrotliDecompress, createGunzip, createInflate } = load().zlib;
  const decoder = coding === 'gzip' || coding === 'x-gzip' ? createGunzip() : coding === 'deflate' ? createInflate() : coding === 'br' ? createBrotliDecompress() : undefined;
  if (!decoder) return res;
  res.on('error', (error) => decoder.destroy(error));
  return res.pipe(decoder);
}
