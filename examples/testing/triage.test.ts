/**
 * How to test a pipeline of your own with vitest: a scripted provider instead of a model, memory
 * storage, and a fake clock, so a one-day approval timeout fires in a millisecond of test time.
 *
 *   npx vitest run examples/testing
 */
import { describe, expect, it } from 'vitest';
import { Engine, MemoryStorage, workflow } from '../../src/index.js';
import { FakeClock, ScriptedProvider } from '../../src/testing/index.js';

const DAY = 24 * 60 * 60 * 1000;

// The pipeline under test: classify, then an urgent ticket waits a day at most for a person.
const triage = workflow('triage', { variables: { ticket: 'string' } })
  .prompt('classify', { model: 'mock:any', template: 'Classify: {{input.ticket}}', output: { type: 'object', properties: { urgent: { type: 'boolean' } }, required: ['urgent'] } })
  .when(
    'classify.json.urgent',
    (b) => b.approval('escalate', { message: 'Escalate "{{input.ticket}}"?', timeout_ms: DAY, on_timeout: 'approve' }).prompt('page', { model: 'mock:any', template: 'Page on-call: {{input.ticket}}' }),
    (b) => b.prompt('reply', { model: 'mock:any', template: 'Reply to: {{input.ticket}}' }),
  )
  .end({ urgent: 'classify.json.urgent' });

function setup() {
  const clock = new FakeClock();
  const mock = new ScriptedProvider((request) => (request.prompt.startsWith('Classify') ? { urgent: request.prompt.includes('down') } : 'ok'));
  const engine = new Engine({ storage: new MemoryStorage(), providers: { mock }, clock });
  return { clock, mock, engine };
}

describe('triage', () => {
  it('answers an ordinary ticket without a person', async () => {
    const { engine, mock } = setup();
    const run = await engine.run(triage, { ticket: 'How do I reset my password?' });
    expect(run.status).toBe('completed');
    expect(mock.calls.map((c) => c.prompt)).toEqual(['Classify: How do I reset my password?', 'Reply to: How do I reset my password?']);
    await engine.close();
  });

  it('pages on-call when nobody answers the escalation within a day', async () => {
    const { engine, mock, clock } = setup();
    const id = await engine.start(triage, { ticket: 'The site is down' });
    await engine.wait(id, { until: { step: 'escalate' } }); // the approval waits
    expect(mock.calls).toHaveLength(1);

    await clock.advance(DAY); // the timeout fires now, in test time
    const run = await engine.wait(id);
    expect(run.status).toBe('completed');
    expect(mock.calls.at(-1)?.prompt).toBe('Page on-call: The site is down');
    await engine.close();
  });
});
