/**
 * A run's event stream opened by a real browser's `EventSource` (headless Chromium, driven by
 * playwright-core), from a page served by the host app. `EventSource` cannot send an
 * `Authorization` header, so a host whose `authorize` checks one cannot open the stream from a page
 * as is; a stream token, or a cookie that `authorize` reads, can.
 *
 * Needs Chromium (Debian's `chromium` package; CI installs it). Elsewhere the file is skipped,
 * unless CI is set, where a missing browser fails it.
 */
import { existsSync } from 'node:fs';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { workflow, Engine, MemoryStorage, TrellisError, type WorkflowExecution } from '../src/index.js';
import { createRouter } from '../src/express/index.js';
import { serveOnLoopback, until } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveBrowser = existsSync(CHROMIUM) || process.env.CI !== undefined;

/** The host's page: opens the run's stream with `EventSource`, by token or plainly, and records what arrives. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>run events</title>
<script type="module">
  const params = new URLSearchParams(location.search);
  const id = params.get('run');
  window.received = [];
  window.failed = false;
  let url = '/api/workflow-executions/' + encodeURIComponent(id) + '/events';
  if (params.get('auth') === 'token') {
    // The page's own credentials get a token; the stream is then opened with it in the URL.
    const reply = await fetch('/api/workflow-executions/' + encodeURIComponent(id) + '/events/token', { method: 'POST', headers: { authorization: 'Bearer user-1' } });
    url = (await reply.json()).url;
  }
  const stream = new EventSource(url);
  for (const name of ['snapshot', 'node:completed', 'execution:resumed', 'execution:completed', 'end']) {
    stream.addEventListener(name, (event) => window.received.push({ name, data: JSON.parse(event.data) }));
  }
  stream.addEventListener('end', () => stream.close());
  stream.onerror = () => { if (stream.readyState === EventSource.CLOSED) window.failed = true; };
</script>`;

describe.skipIf(!haveBrowser)('EventSource in a real browser', () => {
  const cleanups: (() => unknown)[] = [];
  let browser: Browser;
  let engine: Engine;
  let origin: string;
  const asked: string[] = [];

  beforeAll(async () => {
    engine = new Engine({ storage: new MemoryStorage() });
    cleanups.push(() => engine.close());
    const app = express();
    app.get('/page.html', (_req, res) => void res.type('html').send(PAGE));
    app.use(
      '/api',
      createRouter(engine, {
        // The README's authorize: a bearer token, or (for pages) a session cookie.
        authorize: (req, action) => {
          asked.push(`${action} ${req.get('authorization') ? 'header' : /(^|;\s*)session=user-1(;|$)/.test(req.get('cookie') ?? '') ? 'cookie' : 'nothing'}`);
          if (req.get('authorization') === 'Bearer user-1') return true;
          if (/(^|;\s*)session=user-1(;|$)/.test(req.get('cookie') ?? '')) return true;
          throw new TrellisError('auth', 'Send Authorization: Bearer <token>');
        },
        streamTokenSecret: 'a-secret-of-at-least-32-bytes-long!!',
      }),
    );
    origin = await serveOnLoopback(app, cleanups);
    await engine.workflows.create(workflow('review').approval('check', { message: 'Ship?' }).end({ by: 'check.data.by' }));
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
    });
    cleanups.push(() => browser.close());
  });
  afterAll(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A run paused at its approval, as the page will find it. */
  async function pausedRun(): Promise<string> {
    const id = await engine.startStored('review', {});
    await until(async () => (await engine.get(id))?.status === 'paused');
    return id;
  }

  /** Opens the page for run `id`; resolves once the stream has opened or failed. */
  async function openPage(id: string, auth: 'token' | 'plain', cookie?: string): Promise<Page> {
    const context = await browser.newContext();
    if (cookie) await context.addCookies([{ name: 'session', value: cookie, url: origin }]);
    const page = await context.newPage();
    await page.goto(`${origin}/page.html?run=${encodeURIComponent(id)}&auth=${auth}`);
    await page.waitForFunction(() => (window as unknown as { failed: boolean }).failed || (window as unknown as { received: unknown[] }).received.length > 0);
    return page;
  }

  const received = (page: Page): Promise<{ name: string; data: any }[]> => page.evaluate(() => (window as unknown as { received: { name: string; data: unknown }[] }).received) as Promise<{ name: string; data: any }[]>;

  it('cannot open the stream when authorize checks only the Authorization header', async () => {
    const page = await openPage(await pausedRun(), 'plain');
    expect(await page.evaluate(() => (window as unknown as { failed: boolean }).failed)).toBe(true);
    expect(await received(page)).toEqual([]);
    await page.context().close();
  });

  it('receives the run\'s events through a stream token the page got with its own credentials', async () => {
    const id = await pausedRun();
    asked.length = 0;
    const page = await openPage(id, 'token');
    const [snapshot] = await received(page);
    expect(snapshot).toMatchObject({ name: 'snapshot', data: { id, status: 'paused' } });
    // authorize was asked once, for the token (with the header); the stream itself went by the token.
    expect(asked).toEqual(['execution:read header']);

    await engine.approve(id, 'check', { by: 'ada' });
    await page.waitForFunction(() => (window as unknown as { received: { name: string }[] }).received.some((e) => e.name === 'end'));
    const events = await received(page);
    const names = events.map((e) => e.name);
    expect(names[0]).toBe('snapshot');
    expect(names).toContain('execution:resumed');
    expect(names.filter((n) => n === 'node:completed')).toHaveLength(2); // check, end
    expect(names.slice(-2)).toEqual(['execution:completed', 'end']);
    expect((events.find((e) => e.name === 'execution:completed')!.data as { output: unknown }).output).toEqual({ by: 'ada' });
    expect(((await engine.get(id)) as WorkflowExecution).status).toBe('completed');
    await page.context().close();
  });

  it('opens the stream with a session cookie when authorize reads it', async () => {
    const id = await pausedRun();
    asked.length = 0;
    const page = await openPage(id, 'plain', 'user-1');
    expect((await received(page))[0]).toMatchObject({ name: 'snapshot', data: { id } });
    expect(asked).toEqual(['execution:read cookie']);
    await page.context().close();
  });
});
