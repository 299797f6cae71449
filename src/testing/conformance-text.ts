/**
 * The Storage contract, part six: any text a user or a model sends is stored and read back
 * exactly, NUL (`\u0000`) and lone surrogates included, which PostgreSQL refuses in `jsonb` and
 * `text` and which UTF-8 drivers replace with U+FFFD unless the storage escapes them.
 */
import type { ConformanceSection } from './conformance-section.js';
import { makeCall, makePrompt, makeRun, makeStep, makeWorkflow } from './storage-fixtures.js';
import { stepCallId } from '../kernel/call-ids.js';
import type { Json } from '../kernel/json.js';

/**
 * Odd strings: NUL alone and inside text, lone high and low surrogates, a pair in the wrong order,
 * a valid pair, text that looks like an escape (a backslash and `u0000`), other control and special
 * characters, and the noncharacter U+FDD0 (what the SQL storages escape with) before hex digits.
 */
const ODD: readonly string[] = [
  '\u0000',
  'a\u0000b\u0000',
  '\ud800',
  '\udfff',
  'x\ud800y\udfffz',
  '\udfff\ud800',
  'rocket \ud83d\ude80',
  '\\u0000 and \\ud800',
  '\\\u0000',
  '\ufdd0',
  '\ufdd00000\ufdd0d800',
  '\u0001\u001f\u007f\u2028\u2029\ufeff\uffff',
  '',
];

const ODD_TEXT = ODD.join('|');

/** A JSON value with odd text in values and in keys, nested. */
const ODD_JSON: Json = { text: ODD_TEXT, list: [...ODD], '\u0000key\ud800': 'value', nested: { 'x\udfff': [...ODD], n: 1, none: null } };

/** Round-trips of odd text through every record that can carry it. */
export function textConformance({ vitest: { describe, expect }, test }: ConformanceSection): void {
  describe('odd text', () => {
    test('keeps NUL and lone surrogates in a run: input, variables, output, error and idempotency key', async (storage) => {
      const run = makeRun('odd', { status: 'running', input_data: ODD_JSON, variables: { v: ODD_TEXT }, error_message: ODD_TEXT, idempotency_key: `key ${ODD_TEXT}` });
      expect(await storage.createRun(run)).toStrictEqual(run);
      expect(await storage.getRun('odd')).toStrictEqual(run);
      expect(await storage.createRun(makeRun('again', { idempotency_key: `key ${ODD_TEXT}` }))).toStrictEqual(run);
      const updated = await storage.updateRun('odd', { status: 'completed', output_data: ODD_JSON, error_message: `${ODD_TEXT}!` });
      expect(updated).toMatchObject({ output_data: ODD_JSON, error_message: `${ODD_TEXT}!`, input_data: ODD_JSON });
      expect(await storage.getRun('odd')).toStrictEqual(updated);
      expect(await storage.listRuns({})).toStrictEqual([updated]);
    });

    test('keeps odd text in steps: input, output (small and large), state, error and the awaited event', async (storage) => {
      await storage.createRun(makeRun('odd', { status: 'running' }));
      const small = makeStep('odd', 'small', 1, { input_data: ODD_JSON, output_data: ODD_JSON, state: { s: ODD_TEXT }, error: { code: 'node_failed', message: ODD_TEXT } });
      const large = makeStep('odd', 'large', 2, { output_data: { big: 'x'.repeat(300 * 1024), odd: ODD_JSON } });
      const event = `event ${ODD_TEXT}`;
      const waiting = makeStep('odd', 'wait', 3, { status: 'waiting', waiter: { kind: 'event', event, detail: ODD_JSON } });
      await storage.commit({ runId: 'odd', steps: [small, large, waiting] });
      expect(await storage.getSteps('odd')).toStrictEqual([small, large, waiting]);
      expect(await storage.getStep('odd', 'large')).toStrictEqual(large);
      expect(await storage.findEventWaiters(event, 10)).toStrictEqual([waiting]);
      expect(await storage.findEventWaiters('event ', 10)).toStrictEqual([]);
    });

    test('keeps odd text in a run created with its first step and patched in a commit', async (storage) => {
      const run = makeRun('created', { status: 'running', input_data: ODD_JSON });
      const step = makeStep('created', 'first', 1, { output_data: ODD_JSON });
      expect(await storage.commit({ runId: 'created', create: run, steps: [step], run: { error_message: ODD_TEXT } })).toBe(true);
      expect(await storage.commit({ runId: 'created', steps: [], run: { status: 'completed', output_data: ODD_JSON }, expect: { status: 'running' } })).toBe(true);
      expect(await storage.getRun('created')).toMatchObject({ input_data: ODD_JSON, error_message: ODD_TEXT, output_data: ODD_JSON, status: 'completed' });
      expect(await storage.getSteps('created')).toStrictEqual([step]);
    });

    test("keeps odd text in a call record's request, response and error, with its step and alone", async (storage) => {
      await storage.createRun(makeRun('odd', { status: 'running' }));
      const path = 'ask';
      const shaped = makeCall(stepCallId('exec_1', 'odd', path), {
        workflow_execution_id: 'odd',
        workflow_node_id: path,
        step_path: path,
        request: { seq: 1, model: 'm', prompt: ODD_TEXT, options: { system: ODD_TEXT } },
        response: { text: ODD_TEXT, finish_reason: 'stop', model: 'm' },
      });
      const free = makeCall(stepCallId('exec_2', 'odd', path), {
        workflow_execution_id: 'odd',
        workflow_node_id: path,
        step_path: path,
        status: 'failed',
        request: ODD_JSON,
        response: ODD_JSON,
        error: { code: 'malformed_output', message: ODD_TEXT },
      });
      const alone = makeCall('alone', { request: ODD_JSON, response: { text: ODD_TEXT }, error: { code: 'network', message: ODD_TEXT } });
      await storage.commit({ runId: 'odd', steps: [makeStep('odd', path, 1)], calls: [shaped, free] });
      await storage.saveCall(alone);
      expect(await storage.getCall(shaped.id)).toStrictEqual(shaped);
      expect(await storage.getCall(free.id)).toStrictEqual(free);
      expect(await storage.getCall('alone')).toStrictEqual(alone);
      expect(await storage.listCalls({ workflow_execution_id: 'odd' })).toStrictEqual([shaped, free]);
    });

    test('keeps odd text in steps and calls written together by a group commit', async (storage) => {
      if (!storage.commitMany) return;
      await storage.createRun(makeRun('odd1', { status: 'running' }));
      await storage.createRun(makeRun('odd2', { status: 'running' }));
      const steps = ['odd1', 'odd2'].map((runId) => makeStep(runId, 'ask', 1, { input_data: ODD_JSON, output_data: ODD_JSON, state: { s: ODD_TEXT }, error: { code: 'node_failed', message: ODD_TEXT } }));
      const event = `event ${ODD_TEXT}`;
      const waiting = makeStep('odd2', 'wait', 2, { status: 'waiting', waiter: { kind: 'event', event, detail: ODD_JSON } });
      const call = makeCall(stepCallId('exec_1', 'odd1', 'ask'), { workflow_execution_id: 'odd1', workflow_node_id: 'ask', step_path: 'ask', request: { seq: 1, model: 'm', prompt: ODD_TEXT }, response: { text: ODD_TEXT } });
      expect(
        await storage.commitMany([
          { runId: 'odd1', steps: [steps[0]!], calls: [call] },
          { runId: 'odd2', steps: [steps[1]!, waiting] },
        ]),
      ).toEqual([true, true]);
      expect(await storage.getSteps('odd1')).toStrictEqual([steps[0]]);
      expect(await storage.getSteps('odd2')).toStrictEqual([steps[1], waiting]);
      expect(await storage.getCall(call.id)).toStrictEqual(call);
      expect(await storage.findEventWaiters(event, 10)).toStrictEqual([waiting]);
    });

    test('keeps odd text in a workflow definition and a prompt', async (storage) => {
      const base = makeWorkflow('wf', 1);
      const workflow = makeWorkflow('wf', 1, {
        name: ODD_TEXT,
        tags: [...ODD],
        definition: { ...base.definition, name: ODD_TEXT, description: ODD_TEXT, definition: { ...base.definition.definition, variables: [{ name: 'v', type: 'string', default_value: ODD_TEXT }] } },
      });
      await storage.saveWorkflow(workflow);
      expect(await storage.getWorkflow('wf')).toStrictEqual(workflow);
      expect(await storage.listWorkflows({ tag: '\ud800' })).toStrictEqual([workflow]);
      const prompt = makePrompt('p', 1, { name: ODD_TEXT, template: `Hello {{name}} ${ODD_TEXT}`, system: ODD_TEXT, variables: ['name', ODD_TEXT] });
      await storage.savePrompt(prompt);
      expect(await storage.getPrompt('p')).toStrictEqual(prompt);
      expect(await storage.listPrompts()).toStrictEqual([prompt]);
    });
  });
}
