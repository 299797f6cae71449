/**
 * `engine.templates`: built-in workflow recipes. A template is a function from a few knobs
 * (model, concurrency, iteration cap) to a builder; instantiating one builds the JSON definition,
 * applies the caller's overrides and stores it as a new workflow through `engine.workflows`.
 */
import type { WorkflowRecord } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { WorkflowDefinition, WorkflowVariable } from '../definition/definition.js';
import { NotFoundError, TrellisError } from '../kernel/errors.js';
import { classifyAndRoute } from './classify-and-route.js';
import { draftCritiqueRevise } from './draft-critique-revise.js';
import { mapReduceSummary } from './map-reduce-summary.js';
import { PLACEHOLDER_MODEL, type ResolvedTemplateOptions, type WorkflowTemplate } from './workflow-template.js';

export { PLACEHOLDER_MODEL } from './workflow-template.js';
export type { ResolvedTemplateOptions, WorkflowTemplate } from './workflow-template.js';

/** The templates every engine offers, in listing order. */
export const BUILTIN_TEMPLATES: readonly WorkflowTemplate[] = Object.freeze([classifyAndRoute, mapReduceSummary, draftCritiqueRevise]);

/** What `templates.list()` shows of a template: metadata and the variables its workflow declares. */
export interface TemplateInfo {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  /** The declared variables of the workflow it builds (what a run's input may carry). */
  readonly variables: readonly WorkflowVariable[];
  readonly tags: readonly string[];
}

/** Where instantiated templates are stored: `engine.workflows` is one. */
export interface TemplateHost {
  /** Validates and stores a new workflow; refused when its id exists. */
  create(definition: WorkflowDefinition): Promise<WorkflowRecord>;
}

/** Changes applied to a template when it is instantiated. */
export interface TemplateOverrides {
  /** `provider:model` for every prompt step. @default 'openai:gpt-4o-mini' */
  readonly model?: string;
  /** Items worked on at once by a `for_each`. @default 4 */
  readonly concurrency?: number;
  /** Iteration cap of a `while` loop. @default 5 */
  readonly maxIterations?: number;
  /** New `default_value`s of declared variables, by name. Unknown names are refused. */
  readonly variables?: Readonly<Record<string, Json>>;
  /** Extra tags, added to the template's own and `template:<id>`. */
  readonly tags?: readonly string[];
}

/** Options of {@link Templates.instantiate}. */
export interface InstantiateOptions {
  /** Name of the stored workflow. @default the template's workflow name */
  readonly name?: string;
  /** Id of the stored workflow; it must not exist yet. @default derived from the name */
  readonly id?: string;
  readonly overrides?: TemplateOverrides;
}

/**
 * The template catalogue of one engine.
 *
 * @example
 * const stored = await engine.templates.instantiate('map-reduce-summary', { id: 'digest', overrides: { model: 'anthropic:claude-3-5-haiku-latest' } });
 * const run = await engine.run(stored.definition, { documents: ['first text', 'second text'] });
 */
export class Templates {
  readonly #workflows: TemplateHost;
  readonly #byId = new Map<string, WorkflowTemplate>();

  /** @internal Use `engine.templates`. */
  constructor(workflows: TemplateHost, templates: readonly WorkflowTemplate[] = BUILTIN_TEMPLATES) {
    this.#workflows = workflows;
    for (const template of templates) this.register(template);
  }

  /** Adds (or replaces) a template of this catalogue. */
  register(template: WorkflowTemplate): void {
    if (!template || typeof template.id !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(template.id) || typeof template.build !== 'function') {
      throw new TrellisError('invalid_options', `A template needs a kebab-case id and a build(options) function, got id ${JSON.stringify(template?.id)}`);
    }
    this.#byId.set(template.id, template);
  }

  /** Every template, with the variables its workflow declares. */
  list(): TemplateInfo[] {
    return [...this.#byId.values()].map(describe);
  }

  /** One template's info, or undefined. */
  get(id: string): TemplateInfo | undefined {
    const template = this.#byId.get(id);
    return template && describe(template);
  }

  /** The definition a template builds with `overrides`, without storing it. Throws on unknown ids or bad overrides. */
  build(id: string, options: InstantiateOptions = {}): WorkflowDefinition {
    const template = this.#byId.get(id);
    if (!template) throw new NotFoundError(`Template "${id}" not found; known: ${[...this.#byId.keys()].join(', ')}`);
    const overrides = options.overrides ?? {};
    const def = template.build(resolveOverrides(overrides)).build();
    return {
      ...def,
      ...(options.name === undefined ? {} : { name: options.name }),
      ...(options.id === undefined ? {} : { id: options.id }),
      tags: [...new Set([...(def.tags ?? []), ...template.tags, `template:${template.id}`, ...(overrides.tags ?? [])])],
      definition: { ...def.definition, variables: withDefaults(id, def.definition.variables, overrides.variables) },
    };
  }

  /** Builds a template and stores it as a new workflow (validated; refused when the id exists). */
  async instantiate(id: string, options: InstantiateOptions = {}): Promise<WorkflowRecord> {
    return this.#workflows.create(this.build(id, options));
  }
}

/**
 * The catalogue `engine.templates` returns.
 *
 * @example
 * const templates = createTemplates(engine.workflows);
 */
export function createTemplates(workflows: TemplateHost, templates?: readonly WorkflowTemplate[]): Templates {
  return new Templates(workflows, templates);
}

function describe(template: WorkflowTemplate): TemplateInfo {
  const def = template.build(resolveOverrides({})).build();
  return { id: template.id, name: template.name, description: template.description, variables: def.definition.variables, tags: template.tags };
}

function resolveOverrides(overrides: TemplateOverrides): ResolvedTemplateOptions {
  return {
    model: overrides.model ?? PLACEHOLDER_MODEL,
    concurrency: positiveInteger('concurrency', overrides.concurrency, 4),
    maxIterations: positiveInteger('maxIterations', overrides.maxIterations, 5),
  };
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new TrellisError('invalid_options', `Template override "${name}" must be a whole number >= 1, got ${JSON.stringify(value)}`);
  return value;
}

function withDefaults(id: string, variables: readonly WorkflowVariable[], defaults: Readonly<Record<string, Json>> | undefined): WorkflowVariable[] {
  if (defaults === undefined) return [...variables];
  const unknown = Object.keys(defaults).filter((name) => !variables.some((v) => v.name === name));
  if (unknown.length > 0) {
    throw new TrellisError('invalid_options', `Template "${id}" declares no variable ${unknown.map((n) => `"${n}"`).join(', ')}; it declares ${variables.map((v) => v.name).join(', ')}`);
  }
  return variables.map((v) => (Object.hasOwn(defaults, v.name) ? { ...v, default_value: defaults[v.name] } : v));
}
