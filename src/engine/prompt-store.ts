/** `engine.prompts`: versioned prompt templates with `{{var}}` placeholders. */
import type { Storage } from '../storage/storage.js';
import type { PromptRecord } from '../storage/records.js';
import type { Clock } from '../kernel/clock.js';
import { TrellisError } from '../kernel/errors.js';
import { placeholderPaths } from '../expressions/placeholders.js';

/** What a caller gives to create or update a prompt. */
export interface PromptInput {
  readonly id: string;
  readonly name?: string;
  readonly template: string;
  readonly system?: string;
  /** Declared input variables; defaults to the template's placeholders. */
  readonly variables?: readonly string[];
  readonly provider_model?: string;
}

/** CRUD over prompts; every save is a new version. */
export class PromptStore {
  readonly #storage: () => Promise<Storage>;
  readonly #clock: Clock;

  /** @internal */
  constructor(storage: () => Promise<Storage>, clock: Clock) {
    this.#storage = storage;
    this.#clock = clock;
  }

  /** Saves a new version of the prompt (version 1 when it is new). */
  async save(input: PromptInput): Promise<PromptRecord> {
    if (!input.id || !/^[A-Za-z0-9_.-]+$/.test(input.id)) throw new TrellisError('validation_failed', `Prompt id "${input.id}" must be letters, digits, _ . or -`);
    if (typeof input.template !== 'string' || input.template.length === 0) throw new TrellisError('validation_failed', `Prompt "${input.id}" needs a non-empty template`);
    const found = placeholderPaths(input.template).map((v) => v.split(/[.[]/)[0]!);
    const storage = await this.#storage();
    const latest = await storage.getPrompt(input.id);
    const record: PromptRecord = {
      id: input.id,
      version: (latest?.version ?? 0) + 1,
      name: input.name ?? input.id,
      template: input.template,
      variables: input.variables ?? [...new Set(found)],
      created_at: this.#clock.now(),
      ...(input.system === undefined ? {} : { system: input.system }),
      ...(input.provider_model === undefined ? {} : { provider_model: input.provider_model }),
    };
    await storage.savePrompt(record);
    return record;
  }

  /** A version of a prompt (latest when absent). */
  async get(id: string, version?: number): Promise<PromptRecord | undefined> {
    return (await this.#storage()).getPrompt(id, version);
  }

  /** Latest version of every prompt. */
  async list(): Promise<PromptRecord[]> {
    return (await this.#storage()).listPrompts();
  }

  async delete(id: string): Promise<void> {
    await (await this.#storage()).deletePrompt(id);
  }
}
