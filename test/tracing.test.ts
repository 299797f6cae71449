/**
 * OpenTelemetry spans (issue 19, "Tracing"), read from the SDK's in-memory exporter: the span
 * tree of a run, the GenAI attributes of model calls, errors, the caller's span as the run's
 * parent, and a run recovered by another engine linking back to the span that started it.
 */
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import * as otelApi from '@opentelemetry/api';
import { context, trace, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, TraceIdRatioBasedSampler, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Engine, MemoryStorage, ScriptedProvider, SqliteStorage, workflow, type ProviderRequest, type ToolDefinition } from '../src/index.js';
import { FakeClock } from '../src/testing/index.js';
import { makeEngine } from './helpers.js';
import { scratch } from './scratch.js';
import type { OtelApi, OtelTracerProvider } from '../src/kernel/otel-api.js';

const space = scratch('tracing');
const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
// What makes "the span active where engine.start is called" mean something in Node (NodeSDK registers one).
const contextManager = new AsyncLocalStorageContextManager().enable();
context.setGlobalContextManager(contextManager);

const engines: Engine[] = [];
afterEach(async () => {
  await Promise.allSettled(engines.splice(0).map((e) => e.close()));
  exporter.reset();
  trace.disable();
});
afterAll(() => context.disable());

const spans = (name?: string): ReadableSpan[] => exporter.getFinishedSpans().filter((s) => name === undefined || s.name === name);
const one = (name: string): ReadableSpan => {
  const found = spans(name);
  expect(found.map((s) => s.name)).toEqual([name]);
  return found[0]!;
};
const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;
const idOf = (span: ReadableSpan): string => span.spanContext().spanId;
const stepSpan = (path: string): ReadableSpan => {
  const found = spans('workflow.step').filter((s) => s.attributes['trellis.step_path'] === path);
  expect(found).toHaveLength(1);
  return found[0]!;
};

const tools: Record<string, ToolDefinition> = {
  add: {
    parameters: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
    execute: (args) => (args.a as number) + (args.b as number),
  },
};

/** Answers tool calls once for the agent, `usage` always. */
const agentScript = (request: ProviderRequest) =>
  request.messages.at(-1)?.content === 'agent'
    ? ScriptedProvider.respond({ toolCalls: [{ id: 'c1', name: 'add', arguments: { a: 1, b: 2 } }], usage: { input_tokens: 7, output_tokens: 3 } })
    : ScriptedProvider.respond({ text: `answer to ${String(request.messages[0]?.content)}`, usage: { input_tokens: 11, output_tokens: 5 } });

const chainParallelTool = workflow('traced')
  .prompt('classify', { model: 'mock:small', template: 'classify' })
  .parallel({
    en: (b) => b.prompt('en', { model: 'mock:small', template: 'en' }),
    fr: (b) => b.prompt('fr', { model: 'mock:small', template: 'fr' }),
  }, { id: 'fan' })
  .prompt('agent', { model: 'mock:large', template: 'agent', tools: ['add'] })
  .end({ text: 'agent.text' });

describe('tracing', () => {
  it('makes a run span, a step span per step under it, and chat and tool spans under their step, with the GenAI attributes', async () => {
    const { engine } = makeEngine(agentScript, { tools, tracerProvider });
    engines.push(engine);
    const run = await engine.run(chainParallelTool, {});
    expect(run.status).toBe('completed');

    const root = one('workflow.run');
    expect(parentOf(root)).toBeUndefined();
    expect(root.attributes).toMatchObject({ 'trellis.run_id': run.id, 'trellis.workflow': 'traced', 'trellis.run.status': 'completed' });
    expect(root.status.code).toBe(SpanStatusCode.UNSET);

    const steps = spans('workflow.step');
    expect(steps.map((s) => s.attributes['trellis.step_path']).sort()).toEqual(run.execution_trace.map((s) => s.path).sort());
    for (const step of steps) {
      expect(parentOf(step)).toBe(idOf(root));
      expect(step.spanContext().traceId).toBe(root.spanContext().traceId);
      expect(step.attributes).toMatchObject({ 'trellis.run_id': run.id, 'trellis.workflow': 'traced', 'trellis.step.status': 'completed', 'trellis.step.attempt': 1 });
    }
    expect(stepSpan('fan').attributes['trellis.node_type']).toBe('parallel');

    // One chat span per provider request, under the step that made it.
    const chats = spans().filter((s) => s.name.startsWith('chat '));
    expect(chats.map((s) => parentOf(s) === idOf(stepSpan(String(s.attributes['trellis.step_path'])))).every(Boolean)).toBe(true);
    expect(chats.map((s) => s.attributes['trellis.step_path']).sort()).toEqual(['agent', 'agent', 'classify', 'en', 'fr']);
    const classify = chats.find((s) => s.attributes['trellis.step_path'] === 'classify')!;
    expect(classify.name).toBe('chat small');
    expect(classify.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'mock',
      'gen_ai.request.model': 'small',
      'gen_ai.usage.input_tokens': 11,
      'gen_ai.usage.output_tokens': 5,
      'gen_ai.response.finish_reasons': ['stop'],
    });
    const agentTurns = chats.filter((s) => s.attributes['trellis.step_path'] === 'agent');
    expect(agentTurns.map((s) => s.attributes['gen_ai.response.finish_reasons'])).toEqual([['tool_calls'], ['stop']]);

    const tool = one('execute_tool add');
    expect(parentOf(tool)).toBe(idOf(stepSpan('agent')));
    expect(tool.attributes).toMatchObject({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'add', 'gen_ai.tool.call.id': 'c1' });
  });

  it('records a failing provider call, its step and its run as errors, with the exception', async () => {
    const script = (request: ProviderRequest) => (request.messages[0]?.content === 'second' ? ScriptedProvider.fail('bad_request', 'the model refused') : 'fine');
    const { engine } = makeEngine(script, { tracerProvider });
    engines.push(engine);
    const run = await engine.run(workflow('failing').prompt('first', { model: 'mock:m', template: 'first' }).prompt('second', { model: 'mock:m', template: 'second' }), {});
    expect(run.status).toBe('failed');

    const chat = spans('chat m').find((s) => s.attributes['trellis.step_path'] === 'second')!;
    expect(chat.status).toEqual({ code: SpanStatusCode.ERROR, message: 'the model refused' });
    expect(chat.attributes['error.type']).toBe('bad_request');
    expect(chat.events.map((e) => [e.name, e.attributes?.['exception.message']])).toEqual([['exception', 'the model refused']]);
    const step = stepSpan('second');
    expect(step.status.code).toBe(SpanStatusCode.ERROR);
    expect(step.attributes['trellis.step.status']).toBe('failed');
    expect(step.events[0]?.name).toBe('exception');
    expect(stepSpan('first').status.code).toBe(SpanStatusCode.UNSET);
    const root = one('workflow.run');
    expect(root.status.code).toBe(SpanStatusCode.ERROR);
    expect(root.attributes['trellis.run.status']).toBe('failed');
  });

  it('makes the span active where the run was started its parent', async () => {
    const { engine, storage } = makeEngine(() => 'ok', { tracerProvider });
    engines.push(engine);
    const caller = tracerProvider.getTracer('host');
    const [handler, id] = await caller.startActiveSpan('POST /tickets', async (span) => {
      const started = await engine.start(workflow('child_of_caller').prompt('p', { model: 'mock:m', template: 'hi' }), {});
      span.end();
      return [span, started] as const;
    });
    expect((await engine.wait(id)).status).toBe('completed');
    const root = one('workflow.run');
    expect(parentOf(root)).toBe(handler.spanContext().spanId);
    expect(root.spanContext().traceId).toBe(handler.spanContext().traceId);
    // The run row keeps the run span's traceparent, for whichever process takes the run over.
    expect((await storage.getRun(id))?.trace_context).toBe(`00-${root.spanContext().traceId}-${idOf(root)}-01`);
  });

  it('a sub-workflow step is the parent of its child run, and its span ends when the step waits', async () => {
    const { engine } = makeEngine(() => 'child answer', { tracerProvider });
    engines.push(engine);
    await engine.workflows.create(workflow('child', { id: 'child' }).prompt('ask', { model: 'mock:m', template: 'child' }).end({ out: 'ask.text' }));
    const run = await engine.run(workflow('parent').subWorkflow('call', { workflow_id: 'child' }).end({ out: 'call' }), {});
    expect(run.status).toBe('completed');

    const runs = spans('workflow.run');
    const parentRun = runs.find((s) => s.attributes['trellis.workflow'] !== 'child')!;
    const childRun = runs.find((s) => s.attributes['trellis.workflow'] === 'child')!;
    const calls = spans('workflow.step').filter((s) => s.attributes['trellis.step_path'] === 'call' && s.attributes['trellis.run_id'] === run.id);
    expect(calls.map((s) => s.attributes['trellis.step.status'])).toEqual(['waiting', 'completed']);
    expect(calls.every((s) => parentOf(s) === idOf(parentRun))).toBe(true);
    expect(parentOf(childRun)).toBe(idOf(calls[0]!));
    expect(childRun.spanContext().traceId).toBe(parentRun.spanContext().traceId);
  });

  it('a run recovered by another engine on the same SQLite file starts a new trace linked to the span that started it', async () => {
    const file = join(space.dir, 'recovered.sqlite');
    const gate: { opened?: () => void } = {};
    const hanging = new ScriptedProvider(async (request: ProviderRequest) => {
      await new Promise<void>((resolve, reject) => {
        gate.opened = resolve;
        request.signal.addEventListener('abort', () => reject(request.signal.reason), { once: true });
      });
      return 'never';
    });
    const engineOn = (provider: ScriptedProvider, instanceId: string) => {
      const engine = new Engine({ storage: new SqliteStorage({ path: file }), providers: { mock: provider }, clock: new FakeClock(), instanceId, tracerProvider });
      engines.push(engine);
      return engine;
    };
    const twoSteps = workflow('recovered').prompt('first', { model: 'mock:m', template: 'one' }).prompt('second', { model: 'mock:m', template: 'two' });
    const first = engineOn(hanging, 'a');
    const id = await first.start(twoSteps, {});
    while (gate.opened === undefined) await new Promise((r) => setImmediate(r));
    await first.close();

    const original = one('workflow.run');
    expect(original.attributes['trellis.run.status']).toBe('detached');
    expect(stepSpan('first').status.code).toBe(SpanStatusCode.ERROR); // aborted by the close
    exporter.reset();

    const next = engineOn(new ScriptedProvider(() => 'answer'), 'b');
    expect(await next.recover()).toEqual([id]);
    expect((await next.wait(id)).status).toBe('completed');
    const resumed = one('workflow.run');
    expect(parentOf(resumed)).toBeUndefined();
    expect(resumed.spanContext().traceId).not.toBe(original.spanContext().traceId);
    expect(resumed.links.map((l) => [l.context.traceId, l.context.spanId])).toEqual([[original.spanContext().traceId, idOf(original)]]);
    expect(resumed.attributes).toMatchObject({ 'trellis.run_id': id, 'trellis.run.status': 'completed' });
    expect(spans('workflow.step').every((s) => parentOf(s) === idOf(resumed))).toBe(true);
  });

  it('uses a globally registered provider, unless the engine option says false; a sampled-out run makes no spans', async () => {
    trace.setGlobalTracerProvider(tracerProvider);
    const traced = new Engine({ storage: new MemoryStorage(), providers: { mock: new ScriptedProvider(() => 'ok') } });
    const silent = new Engine({ storage: new MemoryStorage(), providers: { mock: new ScriptedProvider(() => 'ok') }, tracerProvider: false });
    engines.push(traced, silent);
    const flow = workflow('global').prompt('p', { model: 'mock:m', template: 'hi' });
    expect((await silent.run(flow, {})).status).toBe('completed');
    expect(spans()).toEqual([]);
    expect((await traced.run(flow, {})).status).toBe('completed');
    expect(spans().map((s) => s.name).sort()).toEqual(['chat m', 'workflow.run', 'workflow.step', 'workflow.step', 'workflow.step']);

    exporter.reset();
    const never = new BasicTracerProvider({ sampler: new TraceIdRatioBasedSampler(0), spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const sampledOut = new Engine({ storage: new MemoryStorage(), providers: { mock: new ScriptedProvider(() => 'ok') }, tracerProvider: never });
    engines.push(sampledOut);
    const run = await sampledOut.run(flow, {});
    expect(run.status).toBe('completed');
    expect(spans()).toEqual([]);
  });

  it('an engine without a tracer provider makes no spans and stores no trace context', async () => {
    const { engine, storage } = makeEngine(() => 'ok');
    engines.push(engine);
    const run = await engine.run(workflow('untraced').prompt('p', { model: 'mock:m', template: 'hi' }), {});
    expect(run.status).toBe('completed');
    expect(spans()).toEqual([]);
    expect((await storage.getRun(run.id))?.trace_context).toBeUndefined();
  });

  it('refuses a tracerProvider that is not one, naming the option', () => {
    expect(() => makeEngine(undefined, { tracerProvider: {} as never })).toThrowError(/Engine option "tracerProvider" must be an OpenTelemetry TracerProvider/);
  });
});

describe('the OpenTelemetry shapes Trellis declares itself (so its types need no @opentelemetry/api)', () => {
  it('are met by the real API and SDK (checked by tsc)', () => {
    const api: OtelApi = otelApi;
    const provider: OtelTracerProvider = new BasicTracerProvider();
    expect(api.trace.setSpan(api.ROOT_CONTEXT, provider.getTracer('shape').startSpan('shape'))).toBeDefined();
  });
});
