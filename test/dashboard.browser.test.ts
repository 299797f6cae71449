/**
 * The web dashboard in a real browser (headless Chromium through playwright-core) against a real
 * engine and router on 127.0.0.1: a run updates live to completion, an approval answered from the
 * inbox lets the run go on (also from an API process beside a worker), a model's answer holding HTML shows as text, an unauthorised browser
 * gets nothing, and no page breaks its Content-Security-Policy. Screenshots of each main view go to
 * test/artifacts/ (kept out of git).
 *
 * Needs Chromium (Debian's `chromium`; CI installs it). Elsewhere the file is skipped, unless CI is
 * set, where a missing browser fails it. test/global-setup.ts builds the page when it is stale.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { workflow, Engine, MemoryStorage, ScriptedProvider, TrellisError } from '../src/index.js';
import { createRouter } from '../src/express/index.js';
import { serveOnLoopback, until } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveBrowser = existsSync(CHROMIUM) || process.env.CI !== undefined;
const ARTIFACTS = join(import.meta.dirname, 'artifacts');
/** What the scripted model answers: markup that would run, and an element that would load, if it were parsed as HTML. */
const HOSTILE_ANSWER = '<script>window.__pwned = true</script><img src="x" onerror="window.__pwned = true"><b>bold?</b>';
/** A browser on a loaded machine is slow; these bound only a failing wait. */
const WAIT = { timeout: 30_000 };

describe.skipIf(!haveBrowser)('the dashboard in a real browser', () => {
  const cleanups: (() => unknown)[] = [];
  const cspViolations: string[] = [];
  let engine: Engine;
  let origin: string;
  let release: () => void = () => undefined;
  let context: BrowserContext;

  beforeAll(async () => {
    // The "slow" workflow's model waits for the test at each turn (a semaphore), so the page sees the
    // run running, then the first words streamed, then the end.
    let permits = 0;
    let waiter: (() => void) | undefined;
    const turn = () => (permits > 0 ? (permits--, Promise.resolve()) : new Promise<void>((resolve) => (waiter = resolve)));
    release = () => {
      const next = waiter;
      waiter = undefined;
      if (next) next();
      else permits++;
    };
    const model = new ScriptedProvider(async (request) => {
      if (JSON.stringify(request).includes('hostile')) return HOSTILE_ANSWER;
      if (JSON.stringify(request).includes('loop item')) return 'item done';
      if (request.onToken) {
        await turn();
        request.onToken('First words, ');
      }
      await turn();
      return 'a summary';
    });
    engine = new Engine({ storage: new MemoryStorage(), providers: { mock: model } });
    cleanups.push(() => engine.close());
    const app = express();
    app.use(
      '/api',
      createRouter(engine, {
        // A session cookie, as a host's login would set: what a page's fetch and EventSource send.
        authorize: (req) => {
          if (/(^|;\s*)session=user-1(;|$)/.test(req.get('cookie') ?? '')) return { principal: 'user-1' };
          throw new TrellisError('auth', 'Log in first');
        },
        dashboard: true,
      }),
    );
    origin = await serveOnLoopback(app, cleanups);

    await engine.workflows.create(
      workflow('slow', { variables: [{ name: 'topic', type: 'string', required: true }] })
        .prompt('draft', { model: 'mock:m', template: 'Write about {{input.topic}}', stream: true })
        .prompt('summarize', { model: 'mock:m', template: 'Summarize {{draft.text}}' })
        .end({ summary: 'summarize.text' }),
    );
    await engine.workflows.create(workflow('loop').forEach('input.items', (b) => b.prompt('summarize', { model: 'mock:m', template: 'loop item {{item}}' }), { id: 'items_loop' }).end({}));
    await engine.workflows.create(workflow('hostile').prompt('ask', { model: 'mock:m', template: 'hostile' }).end({ answer: 'ask.text' }));
    await engine.workflows.create(
      workflow('review', { variables: [{ name: 'amount', type: 'number', required: true }] })
        .approval('check', { message: 'Pay {{input.amount}} EUR?', data: { amount: 'input.amount' } })
        .end({ approved: 'check.data' }),
    );
    // A second version, so the workflow view has a diff to show.
    await engine.workflows.update('review', workflow('review', { variables: [{ name: 'amount', type: 'number', required: true }] }).approval('check', { message: 'Pay {{input.amount}} EUR now?', data: { amount: 'input.amount' } }).end({ approved: 'check.data' }));

    mkdirSync(ARTIFACTS, { recursive: true });
    const { chromium } = await import('playwright-core');
    const userDataDir = await mkdtemp(join(tmpdir(), 'trellis-dashboard-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1280, height: 800 },
    });
    cleanups.push(() => rm(userDataDir, { recursive: true, force: true }));
    cleanups.push(() => context.close());
    await context.addCookies([{ name: 'session', value: 'user-1', url: origin }]);
  });
  afterAll(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A page of the signed-in browser; every CSP violation it reports is kept for the last test. */
  async function open(hash: string): Promise<Page> {
    const page = await context.newPage();
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
    });
    page.on('pageerror', (error) => cspViolations.push(`page error: ${error.message}`));
    await page.goto(`${origin}/api/dashboard/#${hash}`);
    return page;
  }

  it('shows a run updating live, from running to completed, without a reload', async () => {
    const list = await open('/runs');
    const id = await engine.startStored('slow', { topic: 'trellises' });
    // The list polls: the new run appears on its own.
    await list.locator(`tr[data-run-id="${id}"]`).waitFor(WAIT);
    await list.screenshot({ path: join(ARTIFACTS, 'dashboard-runs.png') });
    await list.close();

    const page = await open(`/runs/${id}`);
    await page.locator('.run-view[data-status="running"]').waitFor(WAIT);
    await page.locator('.graph-node.status-running').first().waitFor(WAIT);
    // Tokens appear as they arrive, before the step ends.
    await page.locator('.react-flow__node[data-id="draft"]').click();
    await page.locator('.step-detail[data-step-path="draft"]').waitFor(WAIT);
    // Tokens are not stored: only a page whose stream is open when they are sent sees them.
    await page.locator('.connection.live').waitFor(WAIT);
    release();
    await expect.poll(() => page.locator('[aria-label="Streamed answer"]').textContent(), WAIT).toBe('First words, ');
    release();
    await until(async () => (await engine.get(id))?.execution_trace.some((s) => s.node_id === 'summarize') === true);
    release();
    await page.locator('.run-view[data-status="completed"]').waitFor(WAIT);
    await page.locator('.graph-node.status-completed >> text=summarize').waitFor(WAIT);
    expect(await page.locator('[aria-label="Run output"]').textContent()).toContain('a summary');
    // Selecting a node shows its step: the prompt as the model got it, and the answer.
    await page.locator('.react-flow__node[data-id="draft"]').click();
    await expect.poll(() => page.locator('[aria-label="Prompt as sent"]').first().textContent(), WAIT).toContain('Write about trellises');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-run.png') });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-run-narrow.png'), fullPage: true });
    await page.close();
  });

  it('answers an approval from the inbox, and the run goes on at once', async () => {
    const id = await engine.startStored('review', { amount: 120 });
    await until(async () => (await engine.get(id))?.status === 'paused');
    const page = await open('/approvals');
    const card = page.locator(`article[data-execution-id="${id}"]`);
    await card.waitFor(WAIT);
    expect(await card.locator('.message').textContent()).toBe('Pay 120 EUR now?');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-approvals.png') });
    expect(JSON.parse((await card.getByLabel('Data to review').textContent())!)).toEqual({ amount: 120 });
    // The reviewer corrects the data, then approves: the run goes on with the corrected data.
    await card.getByLabel('Edit the data before approving').check();
    await card.getByLabel('Data (JSON)').fill('{ "amount": 100 }');
    await card.getByRole('button', { name: 'Approve' }).click();
    await until(async () => (await engine.get(id))?.status === 'completed');
    expect((await engine.get(id))!.output_data).toEqual({ approved: { amount: 100 } });
    await card.waitFor({ state: 'detached', ...WAIT });
    await page.close();
  });

  it('on an API process beside a worker, marks an answered approval until the worker has applied it', async () => {
    // The worker drives the run to its approval and parks it, then stops: nobody applies the answer yet.
    const storage = new MemoryStorage();
    const flow = workflow('fleet_review').approval('check', { message: 'Ship it?' }).end({ approved: 'check.approved' });
    const first = new Engine({ storage, providers: {}, role: 'worker', instanceId: 'worker-1' });
    await first.startBackground();
    const api = new Engine({ storage, providers: {}, role: 'submit', instanceId: 'api' });
    cleanups.push(() => api.close());
    const id = await api.start(flow, {});
    await until(async () => (await storage.getRun(id))?.status === 'paused' && (await storage.getRun(id))?.owner === undefined);
    await first.close();
    const apiOrigin = await serveOnLoopback(express().use('/api', createRouter(api, { allowUnauthenticated: true, dashboard: true })), cleanups);

    const page = await context.newPage();
    await page.goto(`${apiOrigin}/api/dashboard/#/approvals`);
    const card = page.locator(`article[data-execution-id="${id}"]`);
    await card.waitFor(WAIT);
    await card.getByRole('button', { name: 'Approve' }).click();
    // Answered with 202: stored for the worker; the card stays (the step still waits) and cannot be answered again.
    await card.getByText('Answered; the run goes on where it is driven.').waitFor(WAIT);
    expect(await card.getByRole('button', { name: 'Approve' }).isDisabled()).toBe(true);
    expect(await card.getByRole('button', { name: 'Reject' }).isDisabled()).toBe(true);
    // Another reviewer's page, opened now, shows it answered too (the list says so).
    const other = await context.newPage();
    await other.goto(`${apiOrigin}/api/dashboard/#/approvals`);
    const seen = other.locator(`article[data-execution-id="${id}"]`);
    await seen.getByText('Answered; the run goes on where it is driven.').waitFor(WAIT);
    expect(await seen.getByRole('button', { name: 'Approve' }).isDisabled()).toBe(true);
    await other.close();

    const second = new Engine({ storage, providers: {}, role: 'worker', instanceId: 'worker-2' });
    cleanups.push(() => second.close());
    await second.startBackground();
    expect((await api.wait(id, { pollMs: 10 })).output_data).toEqual({ approved: true });
    await card.waitFor({ state: 'detached', ...WAIT });
    await page.close();
  });

  it("shows a loop body's iterations on its node, and opens each one", async () => {
    const id = await engine.startStored('loop', { items: ['a', 'b', 'c'] });
    await until(async () => (await engine.get(id))?.status === 'completed');
    const page = await open(`/runs/${id}`);
    const body = page.locator('.react-flow__node[data-id="summarize"]');
    await expect.poll(() => body.textContent(), WAIT).toContain('×3');
    await body.click();
    const iterations = page.getByRole('button', { name: /^items_loop\[\d\]\.summarize/ });
    await expect.poll(() => iterations.count(), WAIT).toBe(3);
    await page.getByRole('button', { name: /^items_loop\[1\]\.summarize/ }).click();
    await page.locator('.step-detail[data-step-path="items_loop[1].summarize"]').waitFor(WAIT);
    await expect.poll(() => page.locator('.step-detail [aria-label="Prompt as sent"]').first().textContent(), WAIT).toContain('loop item b');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-loop.png') });
    await page.close();
  });

  it('shows a model answer holding HTML as text, never as markup, and forks the run', async () => {
    const id = await engine.startStored('hostile', {});
    await until(async () => (await engine.get(id))?.status === 'completed');
    const page = await open(`/runs/${id}`);
    await page.locator('.run-view[data-status="completed"]').waitFor(WAIT);
    // By keyboard: a graph node takes focus, Enter opens its step.
    await page.locator('.react-flow__node[data-id="ask"]').focus();
    await page.keyboard.press('Enter');
    const answer = page.locator('[aria-label="Model answer"]').first();
    await expect.poll(() => answer.textContent(), WAIT).toBe(HOSTILE_ANSWER);
    expect(await page.locator('[aria-label="Run output"]').textContent()).toContain('<script>');
    expect(await page.evaluate(() => (window as unknown as { __pwned?: boolean }).__pwned)).toBeUndefined();
    expect(await page.locator('main img, main b').count()).toBe(0);
    // Fork from the model step with a changed prompt: the fork opens beside its original, step by step.
    await page.getByLabel('Fork from').selectOption('ask');
    await page.getByLabel('New template for it (optional)').fill('An edited hostile prompt');
    await page.getByRole('button', { name: 'Fork' }).click();
    await page.locator('table.compare').waitFor(WAIT);
    const forkId = new URL(page.url().replace('#/compare', '/compare')).searchParams.get('right')!;
    expect(forkId).not.toBe(id);
    expect((await engine.get(forkId))!.trigger).toMatchObject({ type: 'fork', source_execution_id: id, from_node: 'ask' });
    const forked = await engine.wait(forkId);
    expect({ status: forked.status, error: forked.error_message }).toEqual({ status: 'completed', error: undefined });
    expect(JSON.stringify((await engine.calls.list({ workflow_execution_id: forkId })).map((call) => call.request))).toContain('An edited hostile prompt');
    await expect.poll(() => page.locator('table.compare tbody th').allTextContents(), WAIT).toEqual(['start', 'ask', 'end']);
    await expect.poll(() => page.locator('table.compare tbody tr').first().locator('.badge').allTextContents(), WAIT).toEqual(['completed', 'completed']);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-fork.png') });
    await page.close();
  });

  it('shows workflows with a diff of their versions, and metrics as charts', async () => {
    const page = await open('/workflows/review');
    await page.locator('pre.diff').waitFor(WAIT);
    expect(await page.locator('.diff-added').allTextContents()).toContainEqual(expect.stringContaining('now?'));
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-workflow.png') });
    // Rollback stores version 1's definition again, as version 3.
    await page.getByRole('button', { name: 'Roll back to v1' }).click();
    await page.getByRole('status').filter({ hasText: 'stored again as version 3' }).waitFor(WAIT);
    const latest = await engine.workflows.get('review');
    expect(latest!.version).toBe(3);
    expect(JSON.stringify(latest!.definition)).toContain('Pay {{input.amount}} EUR?');
    // The run form, generated from the declared variables, starts a run and opens it.
    await page.getByLabel(/^amount/).fill('7');
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.locator('.run-view[data-status="paused"]').waitFor(WAIT);
    const started = /#\/runs\/([^/?]+)/.exec(page.url())![1]!;
    expect((await engine.get(started))!.input_data).toEqual({ amount: 7 });
    await page.goto(`${origin}/api/dashboard/#/metrics`);
    await page.locator('figure.chart').first().waitFor(WAIT);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-metrics.png') });
    for (const hash of ['/dead-letters', '/audit']) {
      await page.goto(`${origin}/api/dashboard/#${hash}`);
      await page.locator('table').waitFor(WAIT);
    }
    await page.close();
  });

  it('gives a browser without a session nothing: no page, no assets, no data, no events', async () => {
    const id = (await engine.list({ limit: 1 }))[0]!.id;
    // The browser itself, logged out: the page answers 401 and nothing of the app loads.
    await context.clearCookies();
    try {
      const page = await context.newPage();
      const answer = await page.goto(`${origin}/api/dashboard/#/runs/${id}`);
      expect(answer!.status()).toBe(401);
      expect(await page.locator('#root, script, table').count()).toBe(0);
      expect(await page.content()).not.toContain(id);
      await page.close();
    } finally {
      await context.addCookies([{ name: 'session', value: 'user-1', url: origin }]);
    }
    // A client of its own, without the session cookie: what a browser that never logged in sends.
    const api = await (await import('playwright-core')).request.newContext();
    const page = await api.get(`${origin}/api/dashboard/`);
    expect(page.status()).toBe(401);
    expect(await page.text()).not.toContain('<script');
    const html = await (await context.request.get(`${origin}/api/dashboard/`)).text();
    const asset = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)![1]!;
    expect((await api.get(`${origin}/api/dashboard/${asset}`)).status()).toBe(401);
    for (const path of ['/workflow-executions', `/workflow-executions/${id}`, `/workflow-executions/${id}/events`, '/approvals', `/dashboard/data/executions/${id}/calls`, '/dashboard/data/metrics']) {
      const res = await api.get(`${origin}/api${path}`);
      expect(res.status(), path).toBe(401);
      expect(await res.text(), path).not.toContain(id);
    }
    expect((await api.post(`${origin}/api/workflow-executions/${id}/cancel`, { data: {} })).status()).toBe(401);
    await api.dispose();
  });

  it('sends a strict Content-Security-Policy, which no page broke', async () => {
    const res = await context.request.get(`${origin}/api/dashboard/`);
    const csp = res.headers()['content-security-policy']!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe');
    expect(cspViolations).toEqual([]);
  });
});
