import { encodeLoggedStep, logEntry } from '../../src/storage/step-log.js';
import { attachCalls, stepCallId } from '../../src/storage/step-calls.js';
const run = 'run_019ac0e1f2a3b4c5d6e7f8a9b0c1';
const steps = Array.from({ length: 10 }, (_, i) => ({ run_id: run, path: `each[${i + 100}].work`, node_id: 'work', seq: i + 200, status: 'completed' as const, attempt: 1, input_data: { prompt: `i${i}`, model: 'bench:m' }, output_data: { text: `i${i}+` }, execution_id: stepCallId(`exec_019ac0e1f2a3b4c5d6e7f8a9b${i}`, run, `each[${i + 100}].work`), started_at: 1795660754585, completed_at: 1795660754586, duration_ms: 1 }));
const bare = Array.from({ length: 10 }, (_, i) => ({ run_id: run, path: `each[${i + 110}].work`, node_id: 'work', seq: i + 210, status: 'running' as const, attempt: 1, started_at: 1795660754586 }));
const execs = steps.map((s) => ({ id: s.execution_id, status: 'completed' as const, provider_model: 'bench:m', workflow_execution_id: run, workflow_node_id: 'work', step_path: s.path, attempt: 1, idempotency_key: `${run}:${s.path}:1`, request: { seq: 0, model: 'm', prompt: 'i1', options: {} }, created_at: 1795660754585, started_at: 1795660754585, completed_at: 1795660754586, duration_ms: 1, response: { text: 'i1+', finish_reason: null, model: null }, usage: { input_tokens: 1, output_tokens: 1 } }));
const all = [...steps, ...bare];
let sink = 0;
function once() {
  const calls = attachCalls(run, all, execs, ',');
  const lines = all.map((s) => encodeLoggedStep(s, calls.byPath.get(s.path), 1 << 20).text);
  sink += logEntry(lines).length;
}
for (let i = 0; i < 20000; i++) once();
const t = performance.now(); const N = 50000;
for (let i = 0; i < N; i++) once();
console.log('per commit of 10 items', ((performance.now() - t) / N * 1000).toFixed(2), 'µs', sink > 0);
function only(fn: () => void, label: string) { for (let i = 0; i < 20000; i++) fn(); const t = performance.now(); for (let i = 0; i < N; i++) fn(); console.log(label, ((performance.now() - t) / N * 1000).toFixed(2), 'µs'); }
only(() => { sink += attachCalls(run, all, execs, ',').byPath.size; }, 'attachCalls');
const calls = attachCalls(run, all, execs, ',');
only(() => { for (const s of all) sink += encodeLoggedStep(s, calls.byPath.get(s.path), 1 << 20).text.length; }, 'encodeLoggedStep x20');
only(() => { for (const s of bare) sink += encodeLoggedStep(s, undefined, 1 << 20).text.length; }, 'encodeLoggedStep bare x10');
only(() => { for (const s of steps) sink += encodeLoggedStep(s, undefined, 1 << 20).text.length; }, 'encodeLoggedStep completed no calls x10');
only(() => { for (const s of steps) sink += encodeLoggedStep(s, calls.byPath.get(s.path), 1 << 20).text.length; }, 'encodeLoggedStep completed with calls x10');
only(() => { for (const s of steps) sink += JSON.stringify(s.input_data).length + JSON.stringify(s.output_data).length; }, 'stringify in+out x10');
