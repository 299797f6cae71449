/** `trellis/testing`: deterministic fakes for testing workflows. */
export { FakeClock } from './fake-clock.js';
export { ScriptedProvider } from '../providers/scripted-provider.js';
export type { Script, ScriptedAnswer, ScriptedFailure, ScriptedProviderOptions, ScriptedResponse } from '../providers/scripted-provider.js';
export { sequentialIds } from '../kernel/ids.js';
