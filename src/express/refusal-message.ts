/**
 * The sentence a 403 answers with: "Not allowed to list workflows", "Not allowed to run workflow
 * "greet"". Built from the action's verb and the resource, so an action added to the router reads
 * as English without a table to keep in step.
 */
import type { RouterAction, RouterResource } from './router-options.js';

/** Verbs that read better than the action's own word. */
const VERBS: Readonly<Record<string, string>> = { execute: 'run', approve: 'answer the approvals of' };
/** Resource types whose name as a word differs from the type. */
const NOUNS: Readonly<Record<string, string>> = { template: 'workflow template' };

/** What a refused request was not allowed to do, as a sentence. */
export function refusalMessage(action: RouterAction, resource: RouterResource): string {
  if (action === 'dashboard:read') return 'Not allowed to open the dashboard';
  const word = action.slice(action.indexOf(':') + 1);
  const noun = NOUNS[resource.type] ?? resource.type;
  // A collection action (list, create) has no id and reads in the plural.
  const target = resource.id === undefined ? `${noun}s` : `${noun} "${resource.id}"`;
  return `Not allowed to ${VERBS[word] ?? word} ${target}`;
}
