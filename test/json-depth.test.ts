/**
 * Deeply nested JSON (issue 16 item 4): approval data nested 200,000 deep answered HTTP 500 with
 * `RangeError: Maximum call stack size exceeded`. Everywhere JSON enters (HTTP bodies, webhook
 * deliveries, run input, approval data, event payloads, model answers and tool arguments) it is
 * refused past MAX_JSON_DEPTH with `invalid_input` (400), and nothing is written.
 */
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { workflow, Engine, ScriptedProvider, MemoryStorage, isTrellisError } from '../src/index.js';
import { createHooksRouter, createRouter } from '../src/express/index.js';
import { exceedsJsonDepth, MAX_JSON_DEPTH } from '../src/kernel/json-depth.js';
import { parseToolArguments } from '../src/providers/classify-error.js';
import { serveOnLoopback } from './helpers.js';

const DEEP = 200_000;
const deepText = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
/** Built in a loop: a recursive builder would overflow before the code under test is reached. */
function deepValue(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { k: value };
  return value;
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function makeEngine(answer: (prompt: string) => string = () => 'ok'): Engine {
  const engine = new Engine({ storage: new MemoryStorage(), providers: { mock: new ScriptedProvider((req) => answer(req.prompt)) } });
  cleanups.push(() => engine.close());
  return engine;
}

async function expectInvalidInput(promise: Promise<unknown>): Promise<void> {
  const error: unknown = await promise.then(() => undefined, (e: unknown) => e);
  expect(isTrellisError(error) && error.code).toBe('invalid_input');
  expect((error as Error).message).toMatch(/more than 256 levels/);
}

describe('exceedsJsonDepth', () => {
  it('counts containers, stops at the limit and cannot overflow', () => {
    expect(MAX_JSON_DEPTH).toBe(256);
    expect(exceedsJsonDepth(1)).toBe(false);
    expect(exceedsJsonDepth({})).toBe(false);
    expect(exceedsJsonDepth(deepValue(256))).toBe(false);
    expect(exceedsJsonDepth(deepValue(257))).toBe(true);
    expect(exceedsJsonDepth(JSON.parse(deepText(DEEP)))).toBe(true);
    expect(exceedsJsonDepth({ wide: Array.from({ length: 10_000 }, (_, i) => ({ i })) })).toBe(false);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(exceedsJsonDepth(cycle)).toBe(true);
  });
});

describe('engine API', () => {
  it('refuses deep run input, approval data and event payloads with invalid_input, leaving the run waiting', async () => {
    const engine = makeEngine();
    await engine.workflows.create(workflow('gate').approval('check').end({ by: 'check.data' }).build());
    await expectInvalidInput(engine.startStored('gate', { x: deepValue(DEEP) }));
    await expectInvalidInput(engine.startStored('gate', { x: deepValue(300) }));
    const id = await engine.startStored('gate', { x: deepValue(200) });
    await expect.poll(async () => (await engine.get(id))?.status).toBe('paused');
    await expectInvalidInput(engine.approve(id, 'check', deepValue(DEEP) as never));
    await expectInvalidInput(engine.emit('order.created', { x: deepValue(DEEP) } as never));
    expect((await engine.get(id))?.status).toBe('paused');
    await engine.approve(id, 'check', { ok: true });
    expect((await engine.wait(id)).status).toBe('completed');
  });

  it('keeps a model answer nested too deep as text, never parsed, and the run completes', async () => {
    const engine = makeEngine(() => deepText(DEEP));
    const run = await engine.run(workflow('deep-answer').prompt('p', { model: 'mock:x', template: 'go' }).build(), {});
    expect(run.status).toBe('completed');
    const output = run.context.p as { text: string; json?: unknown };
    expect(output.text).toHaveLength(2 * DEEP);
    expect(output.json).toBeUndefined();
    const shallow = await engine.run(workflow('ok-answer').prompt('p', { model: 'mock:x', template: 'go' }).build(), {});
    expect(shallow.status).toBe('completed');
  });

  it('refuses tool call arguments nested too deep as malformed_output', () => {
    const refusal: unknown = (() => {
      try {
        return parseToolArguments('openai', 'lookup', `{"a":${deepText(DEEP)}}`);
      } catch (error) {
        return error;
      }
    })();
    expect(isTrellisError(refusal) && refusal.code).toBe('malformed_output');
    expect(parseToolArguments('openai', 'lookup', '{"a":[[1]]}')).toEqual({ a: [[1]] });
  });
});

describe('HTTP', () => {
  async function serve(engine: Engine) {
    const app = express();
    app.use('/api', createRouter(engine, { allowUnauthenticated: true, bodyLimit: '2mb' }));
    app.use(createHooksRouter(engine, { onError: () => undefined }));
    const base = await serveOnLoopback(app, cleanups);
    return async (path: string, body: string) => {
      const res = await fetch(base + path, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      return { status: res.status, body: (await res.json()) as any };
    };
  }

  it('answers approval data, run input and webhook bodies nested 200,000 deep with 400 invalid_input', async () => {
    const engine = makeEngine();
    await engine.workflows.create(workflow('gate', { triggers: [{ id: 'open', type: 'webhook', config: {} }] }).approval('check').end({ by: 'check.data' }).build());
    const post = await serve(engine);
    const started = await post('/api/workflows/gate/execute', '{}');
    const id = started.body.execution_id as string;
    await expect.poll(async () => (await engine.get(id))?.status).toBe('paused');

    const approval = await post(`/api/workflow-executions/${id}/approvals/check`, `{"approved":true,"data":${deepText(DEEP)}}`);
    expect(approval.status).toBe(400);
    expect(approval.body.error).toMatchObject({ code: 'invalid_input', details: [{ path: ['body'], code: 'too_deep' }] });
    const input = await post('/api/workflows/gate/execute', `{"input_data":{"x":${deepText(DEEP)}}}`);
    expect(input.status).toBe(400);
    expect(input.body.error.code).toBe('invalid_input');
    const hook = await post('/hooks/gate/open', `{"x":${deepText(DEEP)}}`);
    expect(hook.status).toBe(400);
    expect(hook.body.error.code).toBe('invalid_input');

    expect((await engine.get(id))?.status).toBe('paused');
    expect(await engine.list({ workflow_id: 'gate' })).toHaveLength(1);
    expect((await post(`/api/workflow-executions/${id}/approvals/check`, '{"approved":true,"data":[[1]]}')).status).toBe(200);
  });
});
