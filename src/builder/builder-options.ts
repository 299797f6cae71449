/**
 * The workflow-level parts of the builder: checking `workflow()` options, converting output
 * schemas, and assembling the final definition around the compiled graph.
 */
import type { z } from 'zod';
import {
  definitionSchemas,
  type WorkflowDefinition,
  type WorkflowEdge,
  type WorkflowNode,
  type WorkflowVariable,
} from '../definition/definition.js';
import { builderError, toPlainJson } from './builder-steps.js';
import { loadZod } from '../kernel/lazy-modules.js';
import type { OutputSchema, WorkflowOptions } from './builder-types.js';

type Graph = WorkflowDefinition['definition'];

/** Wraps the compiled nodes and edges in the definition, applying the schema's defaults explicitly. */
export function assembleDefinition(
  name: string,
  o: WorkflowOptions,
  nodes: readonly WorkflowNode[],
  edges: readonly WorkflowEdge[],
): WorkflowDefinition {
  // structuredClone: every build() hands out its own copy, so callers may mutate it freely.
  return structuredClone({
    ...(o.id === undefined ? {} : { id: o.id }),
    name,
    ...(o.description === undefined ? {} : { description: o.description }),
    version: o.version ?? 1,
    status: o.status ?? 'active',
    ...(o.tags === undefined ? {} : { tags: [...o.tags] }),
    definition: {
      nodes: [...nodes],
      edges: [...edges],
      variables: resolveVariables(o.variables),
      ...(o.additional_input === undefined ? {} : { additional_input: o.additional_input }),
      triggers: (o.triggers ?? []).map((t) => ({ config: {}, ...(toPlainJson(t, 'trigger') as object) })) as Graph['triggers'],
      ...(o.settings === undefined ? {} : { settings: toPlainJson(o.settings, 'settings') as Graph['settings'] }),
    },
  });
}

/** Checks variables, triggers and settings once, when the workflow is started. */
export function checkWorkflowOptions(opts: WorkflowOptions): void {
  const problems: string[] = [];
  const { WorkflowVariableSchema, WorkflowTriggerSchema, WorkflowSettingsSchema } = definitionSchemas();
  for (const v of resolveVariables(opts.variables)) {
    const r = WorkflowVariableSchema.safeParse(v);
    if (!r.success) problems.push(`variable "${v.name}": ${r.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join(', ')}`);
  }
  for (const t of opts.triggers ?? []) if (!WorkflowTriggerSchema.safeParse(t).success) problems.push(`trigger ${JSON.stringify(t)}`);
  if (opts.settings !== undefined && !WorkflowSettingsSchema.safeParse(opts.settings).success) problems.push('settings');
  if (problems.length > 0) throw builderError(`workflow(): invalid options: ${problems.join('; ')}.`);
}

/** The `config.output_schema` of a prompt: zod schemas converted with `z.toJSONSchema`, JSON Schemas copied. */
export function toOutputSchema(id: string, output: OutputSchema | undefined): Record<string, unknown> | undefined {
  if (output === undefined) return undefined;
  if (!isZodSchema(output)) return { ...output };
  try {
    return loadZod().z.toJSONSchema(output) as Record<string, unknown>;
  } catch (cause) {
    throw builderError(`Prompt node "${id}": its output schema cannot be converted to JSON Schema (${String(cause)}).`, id);
  }
}

function isZodSchema(value: OutputSchema): value is z.core.$ZodType {
  return '_zod' in value && typeof value._zod === 'object';
}

function resolveVariables(input: WorkflowOptions['variables']): WorkflowVariable[] {
  if (input === undefined) return [];
  const list = Array.isArray(input)
    ? (input as readonly WorkflowVariable[])
    : Object.entries(input as Record<string, unknown>).map(([name, v]) => ({ name, ...(typeof v === 'string' ? { type: v } : (v as object)) }));
  return list.map((v) => toPlainJson(v, `variable ${JSON.stringify((v as { name?: unknown }).name)}`) as WorkflowVariable);
}
