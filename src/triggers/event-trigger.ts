/**
 * Event triggers: which stored triggers an emitted event starts. Pure: no storage, no engine.
 */
import { compileExpression } from '../expressions/expressions.js';
import { isTrellisError } from '../kernel/errors.js';
import type { EventTriggerConfig, StoredTrigger } from './trigger-config.js';

/** Names of the events the trigger manager emits itself when a run ends, for chaining workflows. */
export const WORKFLOW_COMPLETED = 'workflow.completed';
export const WORKFLOW_FAILED = 'workflow.failed';

/** Outcome of matching one trigger: started, filtered out, or its filter failed. */
export type EventMatch = { readonly matches: true } | { readonly matches: false; readonly error?: unknown };

/**
 * Whether `trigger` fires for event `name` with `payload`. The filter sees `{ event: payload }`
 * and must be exactly `true`; a filter reading a key the payload lacks is a non-match, not an
 * error, since payloads of one event name often vary in shape.
 */
export function matchEventTrigger(trigger: StoredTrigger<EventTriggerConfig>, name: string, payload: unknown): EventMatch {
  if (trigger.config.event !== name) return { matches: false };
  if (trigger.config.filter === undefined) return { matches: true };
  try {
    return { matches: compileExpression(trigger.config.filter).evaluate({ event: payload }) === true };
  } catch (error) {
    if (isTrellisError(error) && error.code === 'missing_variable') return { matches: false };
    return { matches: false, error };
  }
}
