/**
 * The config of each trigger type, as zod schemas. They are part of the definition (validation
 * reads their keys, so a misspelt key is reported when the workflow is checked); the triggers
 * layer parses stored configs with them (triggers/trigger-config.ts).
 */
import { loadZod } from '../kernel/lazy-modules.js';

/** Builds the trigger config schemas; like the definition's (definition.ts), on first use only. */
function buildSchemas({ z }: ReturnType<typeof loadZod>) {
  const inputMapping = z.record(z.string(), z.string().min(1));
  return {
    schedule: z.object({
      /** Five fields (minute precision) or six (seconds first). */
      cron: z.string().min(1),
      /** IANA zone the pattern is read in, e.g. `Europe/Paris`. @default the process's zone */
      timezone: z.string().min(1).optional(),
      /** What to do with fires that were due while no process was running. @default 'skip' */
      catch_up: z.enum(['skip', 'run_once']).default('skip'),
      /** The run input of every fire. @default {} */
      input: z.record(z.string(), z.unknown()).default({}),
    }),
    webhook: z.object({
      /** HMAC-SHA256 secret. Prefer `secret_env` so the secret is not stored with the workflow. */
      secret: z.string().min(1).optional(),
      /** Name of the environment variable holding the secret. */
      secret_env: z.string().min(1).optional(),
      /** Largest accepted age of the signature's timestamp, in seconds. @default 300 */
      tolerance_seconds: z.number().int().min(1).default(300),
      /** Run input key ← dot path in the body. @default the whole body is the input */
      input_mapping: inputMapping.optional(),
      /** Dot path in the body of a delivery id; repeated deliveries with the same id start one run. */
      idempotency_field: z.string().min(1).optional(),
    }),
    event: z.object({
      /** Event name, e.g. `order.created`, or `workflow.completed` / `workflow.failed` to chain. */
      event: z.string().min(1),
      /** Expression over `event` (the payload); the run starts only when it is true. */
      filter: z.string().min(1).optional(),
      /** Run input key ← dot path in the payload. @default the whole payload is the input */
      input_mapping: inputMapping.optional(),
    }),
  };
}

/** The config schema of each trigger type that has a config. */
export type TriggerConfigSchemas = ReturnType<typeof buildSchemas>;
let schemas: TriggerConfigSchemas | undefined;

/** The trigger config schemas, built (and zod loaded) on the first call. */
export function triggerConfigSchemas(): TriggerConfigSchemas {
  return (schemas ??= buildSchemas(loadZod()));
}

