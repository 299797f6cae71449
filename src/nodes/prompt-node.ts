import type { NodeConfigs } from '../definition/definition.js';
import { NotFoundError, TrellisError } from '../kernel/errors.js';
import { getPath } from '../expressions/data-paths.js';
import { plainMaker } from '../kernel/plain.js';
import type { Json } from '../kernel/json.js';
import type { ModelCall } from '../calls/model-call.js';
import type { CompletedResult, NodeHandler } from './node-handler.js';
import type { Mutable } from '../kernel/mutable.js';

// Kept with the step: made with `new`, not as literals (see kernel/plain.ts).
const newOutput = plainMaker<{ [key: string]: Json }>();
const newInput = plainMaker<{ [key: string]: Json }>();


/**
 * `prompt_execution`: renders a template (inline, or a stored prompt by id and version) and calls
 * the model. Output: `{ text, json?, model?, tool_calls? }` (`json` when the answer is a JSON
 * object or array, `model` when a fallback answered, `tool_calls` when the model used tools).
 * `input_mapping` binds template variables to context paths; `output_mapping` writes output
 * fields (dot paths into the output) to context paths.
 */
export const promptNode: NodeHandler<NodeConfigs['prompt_execution']> = {
  type: 'prompt_execution',
  async execute(ctx) {
    const config = ctx.config;
    let template = config.template;
    let system = config.system;
    if (template === undefined) {
      if (config.prompt_id === undefined) throw new TrellisError('validation_failed', `Node "${ctx.node.id}" has neither template nor prompt_id`, { nodeId: ctx.node.id });
      const prompt = await ctx.services.getPrompt(config.prompt_id, config.prompt_version);
      if (!prompt) throw new NotFoundError(`Prompt "${config.prompt_id}"${config.prompt_version ? ` version ${config.prompt_version}` : ''} not found (node "${ctx.node.id}")`, { nodeId: ctx.node.id });
      template = prompt.template;
      system ??= prompt.system;
    }
    let extra: Record<string, unknown> | undefined;
    if (config.input_mapping) {
      extra = {};
      for (const [name, path] of Object.entries(config.input_mapping)) extra[name] = getPath(ctx.context, path);
    }
    const prompt = ctx.render(template, extra);
    const renderedSystem = system === undefined ? undefined : ctx.render(system, extra);
    // Built field by field (no conditional spreads): this runs for every LLM step.
    const call: Mutable<ModelCall> = { providerModel: config.provider_model, prompt, render: (replacement) => ctx.render(replacement, extra) };
    if (renderedSystem !== undefined) call.system = renderedSystem;
    if (config.options !== undefined) call.options = config.options;
    if (config.output_schema !== undefined) call.outputSchema = config.output_schema;
    if (config.fallback !== undefined) call.fallback = config.fallback;
    if (config.stream !== undefined) call.stream = config.stream;
    if (config.tools !== undefined) call.tools = config.tools;
    if (config.max_tool_steps !== undefined) call.maxToolSteps = config.max_tool_steps;
    const result = await ctx.services.callModel(call);
    // Output and input are kept with the step: made with `new`, not as literals (see kernel/plain.ts).
    const output = newOutput();
    output.text = result.text;
    if (result.json !== undefined) output.json = result.json;
    if (result.model !== config.provider_model) output.model = result.model;
    if (result.toolCalls?.length) output.tool_calls = result.toolCalls as unknown as Json;
    let writes: Record<string, Json> | undefined;
    if (config.output_mapping) {
      writes = {};
      for (const [contextPath, field] of Object.entries(config.output_mapping)) writes[contextPath] = getPath(output, field) as Json;
    }
    const input = newInput();
    input.prompt = result.prompt ?? prompt;
    input.model = config.provider_model;
    if (renderedSystem !== undefined) input.system = renderedSystem;
    const done: Mutable<CompletedResult> = { status: 'completed', output, input, callId: result.callId };
    if (writes) done.writes = writes;
    return done;
  },
};
