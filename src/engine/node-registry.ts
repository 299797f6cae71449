/**
 * The node types an engine runs: the built-in handlers plus the host's, and what validation
 * needs to know of them (which types exist, and the config schema each registered handler
 * declares), handed to the definition layer as data. Internal to the engine.
 */
import type { ZodType } from 'zod';
import type { NodeHandler } from '../nodes/node-handler.js';
import type { ValidateWorkflowOptions } from '../definition/validation/validation.js';
import { TrellisError } from '../kernel/errors.js';

/** Handlers by node type. */
export class NodeRegistry {
  readonly #handlers = new Map<string, NodeHandler>();
  #validation: ValidateWorkflowOptions | undefined;

  constructor(handlers: Iterable<NodeHandler>) {
    for (const handler of handlers) this.#handlers.set(handler.type, handler);
  }

  /** The handlers, read by every run (the same map as more are registered). */
  get handlers(): ReadonlyMap<string, NodeHandler> {
    return this.#handlers;
  }

  /** Adds (or replaces) a node type. */
  register(handler: NodeHandler): void {
    if (!handler || typeof handler.type !== 'string' || typeof handler.execute !== 'function') {
      throw new TrellisError('invalid_options', 'registerNode expects { type: string, execute(ctx) }');
    }
    const schema: unknown = handler.configSchema;
    if (schema !== undefined && typeof schema !== 'function' && typeof (schema as Partial<ZodType>).safeParse !== 'function') {
      throw new TrellisError('invalid_options', `registerNode: configSchema of node type "${handler.type}" must be a zod schema or a function returning one`);
    }
    this.#handlers.set(handler.type, handler);
    this.#validation = undefined;
  }

  /** What validation checks a workflow against: the known types and their handlers' config schemas (built on first use). */
  validation(): ValidateWorkflowOptions {
    if (this.#validation) return this.#validation;
    const configSchemas = new Map<string, ZodType>();
    for (const handler of this.#handlers.values()) {
      const schema = handler.configSchema;
      if (schema !== undefined) configSchemas.set(handler.type, typeof schema === 'function' ? schema() : schema);
    }
    return (this.#validation = { nodeTypes: [...this.#handlers.keys()], configSchemas });
  }
}
