import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  systemClock,
  isTrellisError,
  TrellisError,
  fillPlaceholders,
  type CompletedResult,
  type NodeHandler,
  type StepContext,
  isPrivateAddress,
  createWebhookNode,
  type WebhookConfig,
  type WebhookNodeOptions,
} from '../src/index.js';

// ---------------------------------------------------------------------------------------------
// A real HTTP server on 127.0.0.1, recording every request it sees.

interface Seen {
  readonly port: number;
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

const seen: Seen[] = [];

async function handle(port: number, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks).toString('utf8');
  seen.push({ port, method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const q = (name: string): string => url.searchParams.get(name) ?? '';
  if (url.pathname.startsWith('/echo')) {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'x-served-by': 'test' });
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
  } else if (url.pathname === '/json') {
    res.writeHead(200, { 'content-type': 'application/vnd.api+json' });
    res.end(JSON.stringify({ user: { id: 42, name: 'Ada' } }));
  } else if (url.pathname === '/text') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('hello');
  } else if (url.pathname === '/bad-json') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{oops');
  } else if (url.pathname === '/status') {
    res.writeHead(Number(q('code')), q('retry_after') ? { 'retry-after': q('retry_after') } : {});
    res.end('nope');
  } else if (url.pathname === '/hang') {
    // Never answers; the test aborts or times out.
  } else if (url.pathname === '/big') {
    const size = Number(q('n'));
    res.writeHead(200, q('chunked') ? { 'content-type': 'text/plain' } : { 'content-type': 'text/plain', 'content-length': String(size) });
    const chunk = Buffer.alloc(64 * 1024, 'a');
    let left = size;
    while (left > 0) {
      res.write(chunk.subarray(0, Math.min(left, chunk.length)));
      left -= chunk.length;
    }
    res.end();
  } else if (url.pathname === '/redirect') {
    res.writeHead(Number(q('code') || '302'), { location: q('to') });
    res.end();
  } else if (url.pathname === '/loop') {
    res.writeHead(302, { location: '/loop' });
    res.end();
  } else {
    res.writeHead(404);
    res.end();
  }
}

async function listen(): Promise<{ server: Server; port: number }> {
  let port = 0;
  const server = createServer((req, res) => void handle(port, req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  return { server, port };
}

let main: { server: Server; port: number };
let other: { server: Server; port: number };
let base: string;

beforeAll(async () => {
  main = await listen();
  other = await listen();
  base = `http://127.0.0.1:${main.port}`;
});

afterAll(async () => {
  for (const { server } of [main, other]) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

// Nothing in this file may leave 127.0.0.1: every request goes through this fetch, and every
// DNS lookup through this resolver.
const fetched: string[] = [];
const lookups: string[] = [];
const guardedFetch: typeof fetch = (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  fetched.push(url.href);
  if (url.hostname !== '127.0.0.1') throw new Error(`test tried to reach ${url.href}`);
  return fetch(input, init);
};
const fakeDns: Record<string, readonly string[]> = {
  'intranet.example': ['10.0.0.7'],
  'mixed.example': ['93.184.216.34', '10.0.0.7'],
  'rebind.example': ['::ffff:169.254.169.254'],
};
const fakeLookup = (host: string): Promise<readonly string[]> => {
  lookups.push(host);
  const found = fakeDns[host];
  return found ? Promise.resolve(found) : Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }));
};

beforeEach(() => {
  seen.length = 0;
  fetched.length = 0;
  lookups.length = 0;
});

function node(options: WebhookNodeOptions = {}): NodeHandler<WebhookConfig> {
  return createWebhookNode({ fetch: guardedFetch, lookup: fakeLookup, ...options });
}
const local = (options: WebhookNodeOptions = {}): NodeHandler<WebhookConfig> => node({ allowHosts: ['127.0.0.1'], ...options });

// ---------------------------------------------------------------------------------------------
// A hand-built step context: no engine involved.

const CONTEXT = {
  input: { name: 'a b/c', query: 'x&y=1#z', user: { id: 7 }, n: 3, ok: false, tags: ['x', 'y'] },
  variables: { token: 's3cr3t', api_key: 'k-123' },
};

function stepContext(config: WebhookConfig, signal?: AbortSignal, context: Record<string, unknown> = CONTEXT): StepContext<WebhookConfig> {
  return {
    executionId: 'run-1',
    workflowId: 'wf-1',
    node: { id: 'hook', type: 'webhook', name: 'Hook', position: { x: 0, y: 0 }, config, inputs: [], outputs: [] },
    config,
    path: 'hook',
    attempt: 1,
    idempotencyKey: 'run-1:hook:1',
    signal: signal ?? new AbortController().signal,
    clock: systemClock,
    context,
    arrived: [],
    hasOutput: () => false,
    evaluate: () => {
      throw new Error('not used');
    },
    render: (template, extra) => fillPlaceholders(template, extra ? { ...context, ...extra } : context),
    services: {
      callModel: () => Promise.reject(new Error('not used')),
      getPrompt: () => Promise.resolve(undefined),
      startChild: () => Promise.reject(new Error('not used')),
    },
  };
}

async function run(handler: NodeHandler<WebhookConfig>, config: WebhookConfig, signal?: AbortSignal): Promise<CompletedResult> {
  const result = await handler.execute(stepContext(config, signal));
  if (result.status !== 'completed') throw new Error(`unexpected ${result.status}`);
  return result;
}

async function failure(promise: Promise<unknown>): Promise<TrellisError> {
  try {
    await promise;
  } catch (error) {
    if (isTrellisError(error)) return error;
    throw error;
  }
  throw new Error('expected a failure');
}

type Echo = { method: string; url: string; headers: Record<string, string>; body: string };
const echoOf = (result: CompletedResult): Echo => (result.output as { body: Echo }).body;

// ---------------------------------------------------------------------------------------------

describe('webhook node: requests', () => {
  it('sends a GET by default and returns status, all headers and the JSON body', async () => {
    const result = await run(local(), { url: `${base}/echo` });
    const output = result.output as { status: number; headers: Record<string, string>; body: Echo };
    expect(output.status).toBe(200);
    expect(output.headers['x-served-by']).toBe('test');
    expect(output.headers['content-type']).toContain('application/json');
    expect(output.body.method).toBe('GET');
    expect(seen).toHaveLength(1);
  });

  it('returns text bodies as strings', async () => {
    const result = await run(local(), { url: `${base}/text` });
    expect((result.output as { body: unknown }).body).toBe('hello');
  });

  it('percent-encodes placeholders in the URL, except one that starts it', async () => {
    const context = { ...CONTEXT, variables: { ...CONTEXT.variables, base } };
    const ok = await local().execute(stepContext({ url: '{{variables.base}}/echo/{{input.name}}?q={{input.query}}' }, undefined, context));
    expect(ok.status).toBe('completed');
    expect(seen[0]?.url).toBe('/echo/a%20b%2Fc?q=x%26y%3D1%23z');
  });

  it('fails with missing_variable for an unset placeholder, before sending', async () => {
    const error = await failure(run(local(), { url: `${base}/echo/{{input.nope}}` }));
    expect(error.code).toBe('missing_variable');
    expect(fetched).toHaveLength(0);
  });

  it('renders header values and sends the idempotency key', async () => {
    const result = await run(local(), {
      url: `${base}/echo`,
      headers: { 'X-User': '{{input.user.id}}', Authorization: 'Bearer {{variables.token}}' },
    });
    const headers = echoOf(result).headers;
    expect(headers['x-user']).toBe('7');
    expect(headers.authorization).toBe('Bearer s3cr3t');
    expect(headers['idempotency-key']).toBe('run-1:hook:1');
  });

  it('lets a configured header override the idempotency key, and the option turn it off', async () => {
    const custom = await run(local(), { url: `${base}/echo`, headers: { 'idempotency-key': 'mine' } });
    expect(echoOf(custom).headers['idempotency-key']).toBe('mine');
    const off = await run(local({ idempotencyHeader: false }), { url: `${base}/echo` });
    expect(echoOf(off).headers['idempotency-key']).toBeUndefined();
    const renamed = await run(local({ idempotencyHeader: 'X-Request-Id' }), { url: `${base}/echo` });
    expect(echoOf(renamed).headers['x-request-id']).toBe('run-1:hook:1');
  });

  it('POSTs a JSON body whose whole-placeholder leaves keep their JSON type', async () => {
    const result = await run(local(), {
      url: `${base}/echo`,
      body: {
        user: '{{input.user}}',
        count: '{{ input.n }}',
        ok: '{{input.ok}}',
        greeting: 'Hi {{input.name}}',
        tags: ['{{input.tags}}', 'n={{input.n}}'],
        literal: 7,
        nothing: null,
      },
    });
    const echo = echoOf(result);
    expect(echo.method).toBe('POST');
    expect(echo.headers['content-type']).toBe('application/json');
    expect(JSON.parse(echo.body)).toEqual({
      user: { id: 7 },
      count: 3,
      ok: false,
      greeting: 'Hi a b/c',
      tags: [['x', 'y'], 'n=3'],
      literal: 7,
      nothing: null,
    });
  });

  it('renders a string body as a template and keeps the configured method and content type', async () => {
    const result = await run(local(), {
      url: `${base}/echo`,
      method: 'PUT',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'n={{input.n}}&user={{input.user.id}}',
    });
    const echo = echoOf(result);
    expect(echo.method).toBe('PUT');
    expect(echo.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(echo.body).toBe('n=3&user=7');
  });

  it('refuses a GET with a body as a configuration error', async () => {
    const error = await failure(run(local(), { url: `${base}/echo`, method: 'GET', body: { a: 1 } }));
    expect(error.code).toBe('validation_failed');
    expect(fetched).toHaveLength(0);
  });

  it('writes output_mapping paths from the output', async () => {
    const result = await run(local(), { url: `${base}/json`, output_mapping: { user_id: 'body.user.id', 'result.code': 'status', gone: 'body.nope' } });
    expect(result.writes).toEqual({ user_id: 42, 'result.code': 200, gone: null });
  });

  it('records the request as input with secrets redacted', async () => {
    const result = await run(local(), {
      url: `${base}/echo?api_key={{variables.api_key}}&page=2`,
      headers: { Authorization: 'Bearer {{variables.token}}', 'X-Api-Key': 'k', 'X-Auth-Token': 't', 'X-Trace': 'visible' },
      body: { password: 'p', user: 'u', nested: { client_secret: 's' } },
    });
    expect(result.input).toEqual({
      method: 'POST',
      url: `${base}/echo?api_key=%5Bredacted%5D&page=2`,
      headers: {
        authorization: '[redacted]',
        'x-api-key': '[redacted]',
        'x-auth-token': '[redacted]',
        'x-trace': 'visible',
        'content-type': 'application/json',
        'idempotency-key': 'run-1:hook:1',
      },
      body: { password: '[redacted]', user: 'u', nested: { client_secret: '[redacted]' } },
    });
    expect(JSON.stringify(result.input)).not.toContain('s3cr3t');
    // The receiver still gets the real values.
    expect(echoOf(result).headers.authorization).toBe('Bearer s3cr3t');
  });
});

describe('webhook node: statuses and failures', () => {
  it('fails a 4xx as node_failed, not retryable, with the status and the body start', async () => {
    const error = await failure(run(local(), { url: `${base}/status?code=404` }));
    expect(error).toMatchObject({ code: 'node_failed', status: 404, retryable: false, nodeId: 'hook' });
    expect(error.details).toMatchObject({ body: 'nope' });
  });

  it('fails a 5xx as retryable with the status', async () => {
    const error = await failure(run(local(), { url: `${base}/status?code=503` }));
    expect(error).toMatchObject({ code: 'node_failed', status: 503, retryable: true });
    expect(error.retryAfterMs).toBeUndefined();
  });

  it('fails a 429 as retryable with retryAfterMs from retry-after', async () => {
    const error = await failure(run(local(), { url: `${base}/status?code=429&retry_after=7` }));
    expect(error).toMatchObject({ code: 'node_failed', status: 429, retryable: true, retryAfterMs: 7000 });
  });

  it('checks expected_status as a number or a list', async () => {
    const wrong = await failure(run(local(), { url: `${base}/echo`, expected_status: 201 }));
    expect(wrong).toMatchObject({ code: 'node_failed', status: 200, retryable: false });
    const listed = await run(local(), { url: `${base}/status?code=404`, expected_status: [200, 404] });
    expect(listed.output).toMatchObject({ status: 404, body: 'nope' });
  });

  it('fails malformed JSON as malformed_output', async () => {
    const error = await failure(run(local(), { url: `${base}/bad-json` }));
    expect(error).toMatchObject({ code: 'malformed_output', retryable: false });
  });

  it('fails a refused connection as a retryable network error', async () => {
    const closed = await listen();
    closed.server.close();
    const error = await failure(run(local(), { url: `http://127.0.0.1:${closed.port}/` }));
    expect(error).toMatchObject({ code: 'network', retryable: true });
  });

  it('times out after config.timeout_ms against a hanging endpoint', async () => {
    const error = await failure(run(local(), { url: `${base}/hang`, timeout_ms: 100 }));
    expect(error).toMatchObject({ code: 'timeout', retryable: true });
    expect(error.message).toContain('100 ms');
  });

  it('aborts when ctx.signal aborts, passing a Trellis reason through', async () => {
    const controller = new AbortController();
    const pending = failure(run(local(), { url: `${base}/hang` }, controller.signal));
    await expect.poll(() => seen.length).toBe(1);
    controller.abort();
    expect((await pending).code).toBe('cancelled');

    const engine = new AbortController();
    const timedOut = failure(run(local(), { url: `${base}/hang` }, engine.signal));
    await expect.poll(() => seen.length).toBe(2);
    engine.abort(new TrellisError('timeout', 'Node "hook" timed out after 5 ms'));
    expect(await timedOut).toMatchObject({ code: 'timeout', message: 'Node "hook" timed out after 5 ms' });
  });

  it('fails a response larger than maxResponseBytes, with or without content-length', async () => {
    const small = local({ maxResponseBytes: 1000 });
    const declared = await failure(run(small, { url: `${base}/big?n=5000` }));
    expect(declared).toMatchObject({ code: 'payload_too_large', retryable: false });
    expect(declared.message).toContain('1000 bytes');
    const streamed = await failure(run(small, { url: `${base}/big?n=5000&chunked=1` }));
    expect(streamed.code).toBe('payload_too_large');
    expect((await run(small, { url: `${base}/big?n=1000&chunked=1` })).output).toMatchObject({ body: 'a'.repeat(1000) });
  });

  it('limits responses to 5 MiB by default', async () => {
    const limit = 5 * 1024 * 1024;
    expect((await failure(run(local(), { url: `${base}/big?n=${limit + 1}&chunked=1` }))).code).toBe('payload_too_large');
    const exact = await run(local(), { url: `${base}/big?n=${limit}` });
    expect(((exact.output as { body: string }).body).length).toBe(limit);
  });

  it('validates options at construction, naming the option', () => {
    expect(() => createWebhookNode({ maxResponseBytes: 0 })).toThrow(/maxResponseBytes/);
    expect(() => createWebhookNode({ allowHosts: [''] })).toThrow(/allowHosts\[0\]/);
    expect(() => createWebhookNode({ idempotencyHeader: 'bad header' })).toThrow(/idempotencyHeader/);
  });
});

describe('webhook node: redirects', () => {
  it('follows a redirect, turning a 302 POST into a GET', async () => {
    const result = await run(local(), { url: `${base}/redirect?code=302&to=/echo/next`, body: { a: 1 } });
    expect(echoOf(result)).toMatchObject({ method: 'GET', url: '/echo/next', body: '' });
    expect(seen.map((s) => s.method)).toEqual(['POST', 'GET']);
  });

  it('keeps the method and body on a 307', async () => {
    const result = await run(local(), { url: `${base}/redirect?code=307&to=/echo`, body: { a: 1 } });
    expect(echoOf(result)).toMatchObject({ method: 'POST', body: '{"a":1}' });
  });

  it('drops credentials, but not the idempotency key, on a cross-origin redirect', async () => {
    const to = encodeURIComponent(`http://127.0.0.1:${other.port}/echo`);
    const result = await run(local(), { url: `${base}/redirect?to=${to}`, headers: { Authorization: 'Bearer x', 'X-Keep': 'y' } });
    const headers = echoOf(result).headers;
    expect(headers.authorization).toBeUndefined();
    expect(headers['x-keep']).toBe('y');
    expect(headers['idempotency-key']).toBe('run-1:hook:1');
    expect(seen.map((s) => s.port)).toEqual([main.port, other.port]);
  });

  it('returns a redirect listed in expected_status instead of following it', async () => {
    const result = await run(local(), { url: `${base}/redirect?code=302&to=/echo`, expected_status: 302 });
    expect(result.output).toMatchObject({ status: 302, headers: { location: '/echo' } });
    expect(seen).toHaveLength(1);
  });

  it('stops after 5 redirects', async () => {
    const error = await failure(run(local(), { url: `${base}/loop` }));
    expect(error).toMatchObject({ code: 'node_failed', retryable: false });
    expect(error.message).toContain('more than 5 redirects');
    expect(seen).toHaveLength(6);
  });

  it.each([
    ['the metadata IP', 'http://169.254.169.254/latest/meta-data/', '169.254.169.254'],
    ['localhost', 'http://localhost:PORT/echo', 'localhost'],
    ['a private network', 'http://10.0.0.1/', '10.0.0.1'],
  ])('refuses a redirect from an allowed host to %s, before connecting', async (_name, target, host) => {
    const to = encodeURIComponent(target.replace('PORT', String(main.port)));
    const error = await failure(run(local(), { url: `${base}/redirect?to=${to}` }));
    expect(error).toMatchObject({ code: 'forbidden', retryable: false });
    expect(error.message).toContain(`"${host}"`);
    expect(fetched).toEqual([`${base}/redirect?to=${to}`]);
    expect(seen).toHaveLength(1);
  });
});

describe('webhook node: SSRF guard', () => {
  it.each([
    ['http://127.0.0.1:PORT/echo', '127.0.0.1'],
    ['http://localhost:PORT/echo', 'localhost'],
    ['http://LOCALHOST.:PORT/echo', 'localhost'],
    ['http://api.localhost:PORT/echo', 'api.localhost'],
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254'],
    ['http://[::1]:PORT/echo', '::1'],
    ['http://10.0.0.1/', '10.0.0.1'],
    ['http://172.20.1.1/', '172.20.1.1'],
    ['http://192.168.1.1/', '192.168.1.1'],
    ['http://0.0.0.0:PORT/echo', '0.0.0.0'],
    ['http://[::ffff:127.0.0.1]:PORT/echo', '::ffff:7f00:1'],
    ['http://[::ffff:169.254.169.254]/', '::ffff:a9fe:a9fe'],
    ['http://[fe80::1]/', 'fe80::1'],
    ['http://[fd00::1]/', 'fd00::1'],
    ['http://2130706433:PORT/echo', '127.0.0.1'], // 127.0.0.1 as one number
    ['http://0x7f.1:PORT/echo', '127.0.0.1'],
  ])('the default node refuses %s without sending anything', async (template, host) => {
    const url = template.replace('PORT', String(main.port));
    const error = await failure(run(node(), { url }));
    expect(error).toMatchObject({ code: 'forbidden', retryable: false, nodeId: 'hook', details: { host } });
    expect(error.message).toContain(`"${host}"`);
    expect(fetched).toEqual([]);
    expect(lookups).toEqual([]);
    expect(seen).toEqual([]);
  });

  it('refuses non-http schemes', async () => {
    for (const url of ['file:///etc/passwd', 'ftp://127.0.0.1/x', 'data:text/plain,hi']) {
      const error = await failure(run(local({ allowPrivateNetworks: true }), { url }));
      expect(error).toMatchObject({ code: 'forbidden', retryable: false });
    }
    expect(fetched).toEqual([]);
  });

  it('checks every address a host name resolves to', async () => {
    for (const host of ['intranet.example', 'mixed.example', 'rebind.example']) {
      const error = await failure(run(node(), { url: `http://${host}/` }));
      expect(error).toMatchObject({ code: 'forbidden', retryable: false });
      expect(error.message).toContain(`"${host}" (it resolves to`);
    }
    expect(lookups).toEqual(['intranet.example', 'mixed.example', 'rebind.example']);
    expect(fetched).toEqual([]);
  });

  it('fails an unresolvable name as a non-retryable network error', async () => {
    const error = await failure(run(node(), { url: 'http://nowhere.example/' }));
    expect(error).toMatchObject({ code: 'network', retryable: false });
    expect(fetched).toEqual([]);
  });

  it('allows private hosts listed in allowHosts, or all with allowPrivateNetworks', async () => {
    expect((await run(node({ allowHosts: [/^127\./] }), { url: `${base}/text` })).output).toMatchObject({ status: 200 });
    expect((await run(node({ allowPrivateNetworks: true }), { url: `${base}/text` })).output).toMatchObject({ status: 200 });
  });

  it('lets denyHosts win over allowHosts and allowPrivateNetworks, also for resolved addresses', async () => {
    const byName = await failure(run(node({ allowPrivateNetworks: true, denyHosts: ['127.0.0.1'] }), { url: `${base}/text` }));
    expect(byName).toMatchObject({ code: 'forbidden' });
    expect(byName.message).toContain('denyHosts');
    const byAddress = await failure(run(node({ allowPrivateNetworks: true, denyHosts: ['10.0.0.7'] }), { url: 'http://intranet.example/' }));
    expect(byAddress.message).toContain('resolves to 10.0.0.7');
    const wildcard = await failure(run(node({ denyHosts: ['*.example'] }), { url: 'https://api.example/' }));
    expect(wildcard.message).toContain('"api.example"');
    expect(fetched).toEqual([]);
  });

  it('classifies addresses', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.31.0.1', '192.168.0.1', '169.254.169.254', '100.100.100.200', '0.0.0.0', '::', '::1', '::ffff:10.0.0.1', '64:ff9b::a9fe:a9fe', 'fe80::1', 'fc00::1']) {
      expect(isPrivateAddress(a), a).toBe(true);
    }
    for (const a of ['8.8.8.8', '172.32.0.1', '93.184.216.34', '2001:4860:4860::8888', '::ffff:8.8.8.8', 'example.com']) {
      expect(isPrivateAddress(a), a).toBe(false);
    }
  });
});

describe('webhook node: global unicast only, checked when the socket connects (issue 16 item 5)', () => {
  it('treats special-purpose ranges as not public', () => {
    const special = [
      '192.0.2.1', // TEST-NET-1
      '198.51.100.7', // TEST-NET-2
      '203.0.113.9', // TEST-NET-3
      '192.88.99.1', // 6to4 relay anycast
      '::ffff:0:7f00:1', // SIIT ::ffff:0:0/96
      '::ffff:0:127.0.0.1',
      '64:ff9b:1::1', // local-use NAT64
      '2001::1', // Teredo
      '2001:db8::1', // documentation
      '100::1', // discard
      '255.255.255.255',
      'ff02::1',
    ];
    for (const a of special) expect(isPrivateAddress(a), a).toBe(true);
  });

  /** Answers each lookup of a name with the next list: what a rebinding DNS server does. */
  function flipping(...answers: (readonly string[])[]): { lookup: (host: string) => Promise<readonly string[]>; asked: string[] } {
    const asked: string[] = [];
    return {
      asked,
      lookup: (host) => {
        asked.push(host);
        return Promise.resolve(answers[Math.min(asked.length - 1, answers.length - 1)]!);
      },
    };
  }

  it('refuses at connect a name that resolved to a public address for the check and to 127.0.0.1 for the connection', async () => {
    const dns = flipping(['93.184.216.34'], ['127.0.0.1']);
    const error = await failure(run(createWebhookNode({ lookup: dns.lookup }), { url: `http://rebind.test:${main.port}/echo`, method: 'POST', body: { secret: 1 } }));
    expect(error).toMatchObject({ code: 'forbidden', retryable: false });
    expect(error.message).toContain('resolves to 127.0.0.1');
    expect(dns.asked).toEqual(['rebind.test', 'rebind.test']);
    expect(seen).toEqual([]);
  });

  it('connects through the default transport to an allowed name, to the address its lookup gave', async () => {
    const dns = flipping(['127.0.0.1']);
    const handler = createWebhookNode({ lookup: dns.lookup, allowHosts: ['svc.test'] });
    const posted = await run(handler, { url: `http://svc.test:${main.port}/echo`, method: 'POST', body: { n: 1 } });
    expect(posted.output).toMatchObject({ status: 200, body: { method: 'POST', body: '{"n":1}' } });
    expect((await run(handler, { url: `http://svc.test:${main.port}/json` })).output).toMatchObject({ body: { user: { id: 42 } } });
    expect((await run(handler, { url: `http://svc.test:${main.port}/redirect?to=/text` })).output).toMatchObject({ status: 200, body: 'hello' });
    expect(seen.map((s) => s.url)).toEqual(['/echo', '/json', '/redirect?to=/text', '/text']);
  });
});
