/**
 * Host tools a prompt node may let its model call. The model caller runs the loop (model → tool
 * calls → tools → results as `tool` messages → model ...); this file resolves the tools a node
 * names and runs one turn's tool calls.
 */
import type { Json } from '../kernel/json.js';
import type { JsonSchema, ProviderMessage, ProviderToolCall, ProviderToolDefinition } from '../providers/provider.js';
import { TrellisError, isTrellisError } from '../kernel/errors.js';
import { checkJson } from '../definition/json-schema-check.js';
import type { OtelContext as Context } from '../kernel/otel-api.js';
import type { Tracing } from '../telemetry/tracing.js';

/** What a tool sees besides its arguments. */
export interface ToolContext {
  /** Aborted when the run is cancelled or the step times out. */
  readonly signal: AbortSignal;
  /** The run (workflow execution) id. */
  readonly executionId: string;
  readonly nodeId: string;
  /** Step path, e.g. `loop[2].lookup`. */
  readonly path: string;
}

/**
 * A host function a model may call, registered with the engine option `tools`.
 *
 * @example
 * const tools: Record<string, ToolDefinition> = {
 *   get_weather: {
 *     description: 'Current weather of a city',
 *     parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
 *     execute: async ({ city }) => ({ city: String(city), celsius: 21 }),
 *   },
 * };
 */
export interface ToolDefinition {
  readonly description?: string;
  /** JSON Schema of the arguments object; arguments that do not match are sent back to the model as an error. */
  readonly parameters: JsonSchema;
  execute(args: Readonly<Record<string, unknown>>, context: ToolContext): Promise<Json> | Json;
}

/** One tool call as recorded in the call record and returned to the prompt node. */
export interface ToolCallRecord {
  readonly id: string;
  readonly name: string;
  readonly arguments: Json;
  /** What the tool returned. */
  readonly result?: Json;
  /** Why the call failed (unknown tool, invalid arguments, or the tool threw); sent to the model. */
  readonly error?: string;
}

/** The provider-facing definitions of the tools a node names; throws when one is not registered. */
export function resolveTools(names: readonly string[], registry: ReadonlyMap<string, ToolDefinition>, nodeId: string): ProviderToolDefinition[] {
  return names.map((name) => {
    const tool = registry.get(name);
    if (!tool) {
      const known = [...registry.keys()];
      throw new TrellisError('validation_failed', `Node "${nodeId}" lists tool "${name}", which is not registered (engine option "tools" has ${known.length ? known.map((k) => `"${k}"`).join(', ') : 'none'})`, {
        nodeId,
        retryable: false,
      });
    }
    return { name, parameters: tool.parameters, ...(tool.description === undefined ? {} : { description: tool.description }) };
  });
}

/**
 * Runs one turn's tool calls concurrently. A tool error (or an unknown tool, or invalid arguments)
 * becomes an `{ error }` result the model can react to; only cancellation escapes.
 */
export async function runToolCalls(
  calls: readonly ProviderToolCall[],
  registry: ReadonlyMap<string, ToolDefinition>,
  allowed: ReadonlySet<string>,
  context: ToolContext,
  trace?: { readonly tracing: Tracing; readonly parent: Context },
): Promise<ToolCallRecord[]> {
  if (trace === undefined) return Promise.all(calls.map((call) => runToolCall(call, registry, allowed, context)));
  const { tracing, parent } = trace;
  return Promise.all(
    calls.map(async (call): Promise<ToolCallRecord> => {
      const traced = tracing.startTool(parent, call.name, call.id);
      try {
        const record = await tracing.with(traced, () => runToolCall(call, registry, allowed, context));
        if (record.error === undefined) traced.span.end();
        else tracing.failWith(traced.span, 'tool_error', record.error);
        return record;
      } catch (error) {
        tracing.fail(traced.span, error);
        throw error;
      }
    }),
  );
}

/** One tool call; a tool's error becomes the record's `error`, only cancellation escapes. */
async function runToolCall(call: ProviderToolCall, registry: ReadonlyMap<string, ToolDefinition>, allowed: ReadonlySet<string>, context: ToolContext): Promise<ToolCallRecord> {
  const base = { id: call.id, name: call.name, arguments: call.arguments as Json };
  const tool = allowed.has(call.name) ? registry.get(call.name) : undefined;
  if (!tool) return { ...base, error: `Unknown tool "${call.name}"; available: ${[...allowed].join(', ')}` };
  const problem = checkJson(tool.parameters, call.arguments);
  if (problem !== undefined) return { ...base, error: `Invalid arguments for tool "${call.name}": ${problem}` };
  try {
    const result = await tool.execute(call.arguments, context);
    return { ...base, result: result ?? null };
  } catch (error) {
    if (context.signal.aborted) throw context.signal.reason;
    if (isTrellisError(error) && error.code === 'cancelled') throw error;
    return { ...base, error: error instanceof Error ? error.message : String(error) };
  }
}

/** The messages that continue the conversation after a tool turn: the assistant's calls, then one result each. */
export function toolMessages(assistantText: string, calls: readonly ProviderToolCall[], results: readonly ToolCallRecord[]): ProviderMessage[] {
  return [
    { role: 'assistant', content: assistantText, toolCalls: calls },
    ...results.map((r): ProviderMessage => ({ role: 'tool', toolCallId: r.id, content: JSON.stringify(r.error === undefined ? (r.result ?? null) : { error: r.error }) })),
  ];
}
