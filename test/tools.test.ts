import { describe, expect, it } from 'vitest';
import { type ToolContext, type ToolDefinition, type ProviderRequest, ScriptedProvider } from '../src/index.js';
import { edge, makeEngine, node } from './helpers.js';

const flow = (config: Record<string, unknown>) => ({
  name: 'tools',
  definition: {
    nodes: [node('start', 'start'), node('agent', 'prompt_execution', { provider_model: 'mock:m', template: 'What is 1 + 2, and the colour of x?', ...config }), node('end', 'end')],
    edges: [edge('start', 'agent'), edge('agent', 'end')],
  },
});

function hostTools(seen: { name: string; args: unknown; ctx: ToolContext }[] = []): Record<string, ToolDefinition> {
  return {
    add: {
      description: 'Adds two numbers',
      parameters: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
      execute: (args, ctx) => {
        seen.push({ name: 'add', args, ctx });
        return (args.a as number) + (args.b as number);
      },
    },
    lookup: {
      parameters: { type: 'object', properties: { key: { type: 'string' } }, required: ['key'] },
      execute: async (args, ctx) => {
        seen.push({ name: 'lookup', args, ctx });
        if (args.key === 'boom') throw new Error('lookup service down');
        return { key: args.key as string, colour: 'blue' };
      },
    },
  };
}

const usage = { input_tokens: 10, output_tokens: 5 };

describe('tool calling', () => {
  it('runs the loop: tool calls, results fed back as messages, final answer; records every call', async () => {
    const script = (request: ProviderRequest) =>
      request.messages.length === 1
        ? ScriptedProvider.respond({
            toolCalls: [
              { id: 'c1', name: 'add', arguments: { a: 1, b: 2 } },
              { id: 'c2', name: 'lookup', arguments: { key: 'x' } },
            ],
            usage,
          })
        : ScriptedProvider.respond({ text: '3, and x is blue', usage });
    const seen: { name: string; args: unknown; ctx: ToolContext }[] = [];
    const { engine, mock } = makeEngine(script, { tools: hostTools(seen) });
    const run = await engine.run(flow({ tools: ['add', 'lookup'] }));
    expect(run.status).toBe('completed');

    expect(mock.calls[0]!.tools).toEqual([
      { name: 'add', description: 'Adds two numbers', parameters: hostTools().add!.parameters },
      { name: 'lookup', parameters: hostTools().lookup!.parameters },
    ]);
    expect(mock.calls[1]!.messages).toEqual([
      { role: 'user', content: 'What is 1 + 2, and the colour of x?' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'add', arguments: { a: 1, b: 2 } }, { id: 'c2', name: 'lookup', arguments: { key: 'x' } }] },
      { role: 'tool', toolCallId: 'c1', content: '3' },
      { role: 'tool', toolCallId: 'c2', content: '{"key":"x","colour":"blue"}' },
    ]);
    expect(seen.map((s) => [s.name, s.args, s.ctx.executionId, s.ctx.nodeId, s.ctx.path, s.ctx.signal instanceof AbortSignal])).toEqual([
      ['add', { a: 1, b: 2 }, run.id, 'agent', 'agent', true],
      ['lookup', { key: 'x' }, run.id, 'agent', 'agent', true],
    ]);

    const toolCalls = [
      { id: 'c1', name: 'add', arguments: { a: 1, b: 2 }, result: 3 },
      { id: 'c2', name: 'lookup', arguments: { key: 'x' }, result: { key: 'x', colour: 'blue' } },
    ];
    expect(run.context.agent).toEqual({ text: '3, and x is blue', tool_calls: toolCalls });
    const records = await engine.calls.list({ workflow_execution_id: run.id });
    expect(records.map((r) => (r.response as { tool_calls?: unknown }).tool_calls)).toEqual([toolCalls, undefined]);
    expect(records.map((r) => r.idempotency_key)).toEqual([`${run.id}:agent:1`, `${run.id}:agent:1:1`]);
    expect(run.execution_trace.find((s) => s.node_id === 'agent')!.call_id).toBe(records[1]!.id);
  });

  it('sends tool failures, unknown tools and invalid arguments back to the model as errors', async () => {
    const script = (request: ProviderRequest) =>
      request.messages.length === 1
        ? ScriptedProvider.respond({
            toolCalls: [
              { id: 'c1', name: 'lookup', arguments: { key: 'boom' } },
              { id: 'c2', name: 'add', arguments: { a: 'one' } },
              { id: 'c3', name: 'delete_everything', arguments: {} },
            ],
          })
        : 'sorry';
    const { engine, mock } = makeEngine(script, { tools: hostTools() });
    const run = await engine.run(flow({ tools: ['add', 'lookup'] }));
    expect(run.status).toBe('completed');
    const results = mock.calls[1]!.messages.filter((m) => m.role === 'tool').map((m) => JSON.parse(m.content) as { error: string });
    expect(results[0]).toEqual({ error: 'lookup service down' });
    expect(results[1]!.error).toMatch(/^Invalid arguments for tool "add": a: /);
    expect(results[2]).toEqual({ error: 'Unknown tool "delete_everything"; available: add, lookup' });
  });

  it('fails the node when the model keeps calling tools past max_tool_steps', async () => {
    const again = ScriptedProvider.respond({ toolCalls: [{ id: 'c', name: 'add', arguments: { a: 1, b: 1 } }] });
    const { engine, mock } = makeEngine(() => again, { tools: hostTools() });
    const run = await engine.run(flow({ tools: ['add'], max_tool_steps: 2 }));
    expect(run.status).toBe('failed');
    const step = run.execution_trace.find((s) => s.node_id === 'agent')!;
    expect(step.error_code).toBe('max_iterations');
    expect(step.error_message).toBe('Node "agent" exceeded max_tool_steps (2): the model asked for tools again after 2 tool turns');
    expect(mock.calls).toHaveLength(3);
    expect(await engine.calls.list({ workflow_execution_id: run.id })).toHaveLength(3);
  });

  it('defaults max_tool_steps to 5', async () => {
    const again = ScriptedProvider.respond({ toolCalls: [{ id: 'c', name: 'add', arguments: { a: 1, b: 1 } }] });
    const { engine, mock } = makeEngine(() => again, { tools: hostTools() });
    expect((await engine.run(flow({ tools: ['add'] }))).status).toBe('failed');
    expect(mock.calls).toHaveLength(6);
  });

  it('refuses a workflow listing a tool the engine does not have, before the run starts', async () => {
    const { engine, mock } = makeEngine(() => 'never', { tools: hostTools() });
    const error = await engine.run(flow({ tools: ['add', 'serch'] })).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'validation_failed', issues: [{ code: 'unknown_tool', nodeId: 'agent', path: ['definition', 'nodes', 1, 'config', 'tools', 1] }] });
    expect((error as Error).message).toContain('Node "agent" config.tools[1] is "serch", but this engine has no tool "serch" (tools: "add", "lookup")');
    expect(mock.calls).toHaveLength(0);
    expect(await engine.list()).toEqual([]);
  });

  it('rejects malformed tool options at construction', () => {
    expect(() => makeEngine(undefined, { tools: { add: { parameters: {}, execute: 'nope' } as never } })).toThrowError(/"tools.add.execute" must be a function/);
  });
});
