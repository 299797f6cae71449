/**
 * Debugging from the dashboard (headless Chromium, as test/dashboard.browser.test.ts): a run started
 * from the workflow page with a breakpoint pauses before that step; Step runs exactly one step and
 * pauses again; Resume runs to the end.
 *
 * Over the debug routes: `breakpoints` in the body of `POST /workflows/:id/execute`, and
 * `POST /workflow-executions/:id/step` (asked as `execution:resume`).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext } from 'playwright-core';
import { workflow, Engine, MemoryStorage, ScriptedProvider } from '../src/index.js';
import { createRouter } from '../src/express/index.js';
import { serveOnLoopback, until } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveBrowser = existsSync(CHROMIUM) || process.env.CI !== undefined;
const ARTIFACTS = join(import.meta.dirname, 'artifacts');
const WAIT = { timeout: 30_000 };

describe.skipIf(!haveBrowser)('debugging a run from the dashboard', () => {
  const cleanups: (() => unknown)[] = [];
  let engine: Engine;
  let origin: string;
  let context: BrowserContext;

  beforeAll(async () => {
    engine = new Engine({ storage: new MemoryStorage(), providers: { mock: new ScriptedProvider(() => 'ok') } });
    cleanups.push(() => engine.close());
    const app = express();
    app.use('/api', createRouter(engine, { allowUnauthenticated: true, dashboard: true }));
    origin = await serveOnLoopback(app, cleanups);
    await engine.workflows.create(
      workflow('stepper')
        .prompt('a', { model: 'mock:m', template: 'a' })
        .prompt('b', { model: 'mock:m', template: 'b' })
        .prompt('c', { model: 'mock:m', template: 'c' })
        .end({ c: 'c.text' }),
    );
    const { chromium } = await import('playwright-core');
    const userDataDir = await mkdtemp(join(tmpdir(), 'trellis-dashboard-debug-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1280, height: 800 },
    });
    cleanups.push(() => rm(userDataDir, { recursive: true, force: true }));
    cleanups.push(() => context.close());
  });
  afterAll(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('pauses at a breakpoint set in the run form, advances one step with Step, and finishes with Resume', async () => {
    const page = await context.newPage();
    await page.goto(`${origin}/api/dashboard/#/workflows/stepper`);
    await page.getByRole('group', { name: 'Breakpoints (pause before)' }).getByLabel('b', { exact: true }).check();
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.locator('.run-view[data-status="paused"]').waitFor(WAIT);
    const id = /#\/runs\/([^/?]+)/.exec(page.url())![1]!;
    const pausedBefore = page.locator('.paused-note');
    await expect.poll(() => pausedBefore.getAttribute('data-paused-before'), WAIT).toBe('b');
    expect(await page.locator('.react-flow__node[data-id="b"]').getAttribute('aria-label')).toContain('paused before it');
    // Before the breakpoint: a ran, b did not.
    expect((await engine.get(id))!.execution_trace.map((s) => `${s.node_id}:${s.status}`)).not.toContain('b:completed');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-debug-paused.png') });

    await page.getByRole('button', { name: 'Step' }).click();
    await until(async () => (await engine.get(id))!.execution_trace.some((s) => s.node_id === 'b' && s.status === 'completed'));
    await page.locator('.react-flow__node[data-id="b"] .graph-node.status-completed').waitFor(WAIT);
    const afterStep = await engine.get(id);
    expect(afterStep!.status).toBe('paused');
    expect(afterStep!.execution_trace.some((s) => s.node_id === 'c' && s.status === 'completed')).toBe(false);

    await page.getByRole('button', { name: 'Resume' }).click();
    await page.locator('.run-view[data-status="completed"]').waitFor(WAIT);
    expect((await engine.get(id))!.output_data).toEqual({ c: 'ok' });
    await page.close();
  });
});
