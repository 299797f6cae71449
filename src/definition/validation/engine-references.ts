/**
 * References a definition makes to what an engine is configured with: the provider of every
 * `provider_model` (and fallback) and the tools prompt nodes offer. `validateWorkflow` cannot know
 * them; the engine checks them when a run starts, before any step runs, so `nope:gpt` fails at
 * `engine.run` instead of after the paid steps ahead of it.
 */
import { parseProviderModel, type WorkflowDefinition } from '../definition.js';
import { didYouMean } from '../../kernel/did-you-mean.js';
import type { ValidationIssue } from '../../kernel/errors.js';
import { formatPath, type Path } from './issue-collector.js';

/** What an engine has, by name. */
export interface EngineNames {
  readonly providers: ReadonlySet<string>;
  readonly tools: ReadonlySet<string>;
}

function listed(names: ReadonlySet<string>): string {
  return names.size === 0 ? 'none' : [...names].map((n) => `"${n}"`).join(', ');
}

/**
 * Every provider and tool a definition names that the engine does not have, as issues
 * (`unknown_provider`, `unknown_tool`) with the engine's names and the likeliest one meant.
 */
export function engineReferenceIssues(def: WorkflowDefinition, names: EngineNames): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  def.definition.nodes.forEach((node, index) => {
    if (node.type !== 'prompt_execution') return;
    const add = (code: string, at: Path, message: string): void => {
      issues.push({ code, message, path: ['definition', 'nodes', index, 'config', ...at], nodeId: node.id });
    };
    const c = node.config;
    const models: [Path, unknown][] = [[['provider_model'], c['provider_model']]];
    if (Array.isArray(c['fallback'])) c['fallback'].forEach((m, i) => models.push([['fallback', i], m]));
    for (const [at, model] of models) {
      const provider = typeof model === 'string' ? parseProviderModel(model)?.provider : undefined;
      if (provider === undefined || names.providers.has(provider)) continue;
      const hint = didYouMean(provider, names.providers);
      const tail = hint === undefined ? '.' : `; did you mean "${hint}"?`;
      add('unknown_provider', at, `Node "${node.id}" config.${formatPath(at)} is "${String(model)}", but this engine has no provider "${provider}" (providers: ${listed(names.providers)})${tail}`);
    }
    const tools = Array.isArray(c['tools']) ? c['tools'] : [];
    tools.forEach((tool, i) => {
      if (typeof tool !== 'string' || names.tools.has(tool)) return;
      const hint = didYouMean(tool, names.tools);
      const tail = hint === undefined ? '.' : `; did you mean "${hint}"?`;
      add('unknown_tool', ['tools', i], `Node "${node.id}" config.tools[${i}] is "${tool}", but this engine has no tool "${tool}" (tools: ${listed(names.tools)})${tail}`);
    });
  });
  return issues;
}
