/**
 * `trellis/testing`: deterministic fakes for testing workflows, and the storage conformance suite
 * for checking a `Storage` of your own. Loads no test runner: the suite is handed vitest's functions.
 */

// Time and ids under the test's control.
export { FakeClock } from './fake-clock.js';
export { sequentialIds } from '../kernel/ids.js';

// A provider that answers from a script instead of an LLM.
export { ScriptedProvider } from '../providers/scripted-provider.js';
export type { Script, ScriptedAnswer, ScriptedFailure, ScriptedProviderOptions, ScriptedResponse } from '../providers/scripted-provider.js';

// The Storage contract as a test suite.
export { describeStorageConformance } from './storage-conformance.js';
export type { StorageConformanceOptions } from './storage-conformance.js';
export type { ConformanceTestApi } from './conformance-section.js';
