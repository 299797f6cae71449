/**
 * Run input (issue 17 point 11): the declared variables are the input. Each is required unless it
 * has a default (or says `required: false`), a default is seen under `input` as well as
 * `variables`, and an undeclared key is refused with a hint, unless the workflow sets
 * `additional_input: true` or declares no variables at all. A bad input creates no run, also over HTTP.
 */
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInputError, isTrellisError, validateWorkflow, workflow, type WorkflowDefinitionInput } from '../src/index.js';
import { createRouter } from '../src/express/index.js';
import { resolveInput } from '../src/definition/run-input.js';
import { edge, makeEngine, node, serveOnLoopback } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

async function refusal(promise: Promise<unknown>): Promise<{ code: string; message: string; issues: readonly { path: readonly unknown[]; code: string; message: string }[] }> {
  try {
    await promise;
  } catch (error) {
    if (!isTrellisError(error)) throw error;
    expect(error).toBeInstanceOf(InvalidInputError);
    return { code: error.code, message: error.message, issues: error.issues ?? [] };
  }
  throw new Error('expected the input to be refused');
}

const triage = () =>
  workflow('triage', { variables: { ticket: 'string', customer: { type: 'string', default_value: 'anonymous' }, note: { type: 'string', required: false } } })
    .prompt('reply', { model: 'mock:m', template: 'For {{input.customer}} ({{variables.customer}}): {{input.ticket}}' })
    .end({ customer: 'input.customer', ticket: 'input.ticket', noted: "has(input.note)" });

describe('declared variables are the input', () => {
  it('shows a default under input as well as variables, in templates, expressions and the stored input', async () => {
    const { engine, mock } = makeEngine((r) => r.prompt);
    const run = await engine.run(triage(), { ticket: 'printer on fire' });
    expect(run.status).toBe('completed');
    expect(mock.calls[0]!.prompt).toBe('For anonymous (anonymous): printer on fire');
    expect(run.output_data).toEqual({ customer: 'anonymous', ticket: 'printer on fire', noted: false });
    expect(run.input_data).toEqual({ ticket: 'printer on fire', customer: 'anonymous' });
    expect((await engine.get(run.id))!.input_data).toEqual({ ticket: 'printer on fire', customer: 'anonymous' });
  });

  it('takes a given value over the default', async () => {
    const { engine } = makeEngine();
    const run = await engine.run(triage(), { ticket: 't', customer: 'ACME', note: 'vip' });
    expect(run.output_data).toEqual({ customer: 'ACME', ticket: 't', noted: true });
  });

  it('requires a shorthand variable, and creates no run without it', async () => {
    const { engine, mock } = makeEngine();
    // @ts-expect-error: the builder's types refuse this input too (test/types); here a JavaScript caller's is.
    const refused = await refusal(engine.run(triage(), {}));
    expect(refused).toMatchObject({ code: 'invalid_input', message: 'Invalid input: variable "ticket" is required' });
    expect(refused.issues).toEqual([{ path: ['input', 'ticket'], code: 'required', message: 'variable "ticket" is required' }]);
    expect(await engine.list()).toEqual([]);
    expect(mock.calls).toEqual([]);
  });

  it('refuses a key no variable declares, with the likely one, and every problem at once', async () => {
    const { engine } = makeEngine();
    // @ts-expect-error: the builder's types refuse this input too (test/types); here a JavaScript caller's is.
    const refused = await refusal(engine.run(triage(), { tickt: 'x', customer: 3 }));
    expect(refused.issues).toEqual([
      { path: ['input', 'ticket'], code: 'required', message: 'variable "ticket" is required' },
      { path: ['input', 'customer'], code: 'invalid_type', message: 'variable "customer" must be string, got number 3' },
      { path: ['input', 'tickt'], code: 'unknown_key', message: 'unknown input key "tickt"; did you mean "ticket"?' },
    ]);
    // @ts-expect-error: the builder's types refuse this input too (test/types); here a JavaScript caller's is.
    const other = await refusal(engine.run(triage(), { ticket: 'x', colour: 'red' }));
    expect(other.issues[0]!.message).toBe(
      'unknown input key "colour"; the declared variables are "ticket", "customer", "note" (set additional_input: true to accept others)',
    );
    expect(await engine.list()).toEqual([]);
  });

  it('accepts undeclared keys with additional_input: true, and they read under input', async () => {
    const { engine } = makeEngine();
    const wf = workflow('open', { variables: { ticket: 'string' }, additional_input: true }).end({ ticket: 'input.ticket', source: 'input.source' });
    expect(wf.build().definition.additional_input).toBe(true);
    const run = await engine.run(wf, { ticket: 't', source: 'email' });
    expect(run.output_data).toEqual({ ticket: 't', source: 'email' });
  });

  it('accepts any input when the workflow declares no variables', async () => {
    const { engine } = makeEngine();
    const run = await engine.run(workflow('free').end({ anything: 'input.anything' }), { anything: 1, more: [2] });
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ anything: 1 });
    expect((await engine.run(workflow('empty').end(), undefined)).status).toBe('completed');
  });

  it('reads additional_input in JSON definitions and validates its type', () => {
    const definition = (extra: Record<string, unknown>): WorkflowDefinitionInput =>
      ({
        name: 'json',
        definition: { nodes: [node('start', 'start'), node('end', 'end')], edges: [edge('start', 'end')], variables: [{ name: 'a', type: 'string' }], ...extra },
      }) as WorkflowDefinitionInput;
    const open = validateWorkflow(definition({ additional_input: true }));
    expect(open.ok && open.workflow.definition.additional_input).toBe(true);
    expect(validateWorkflow(definition({ additional_input: 'yes' })).ok).toBe(false);
    const def = (validateWorkflow(definition({})) as { workflow: Parameters<typeof resolveInput>[0] }).workflow;
    expect(() => resolveInput(def, { a: 'x', b: 1 })).toThrow(/unknown input key "b"/);
    expect(resolveInput({ ...def, definition: { ...def.definition, additional_input: true } }, { a: 'x', b: 1 }).input).toEqual({ a: 'x', b: 1 });
  });

  it('answers POST /workflows/:id/execute with {} for a required variable with 400, before any run is created', async () => {
    const { engine } = makeEngine();
    cleanups.push(() => engine.close());
    await engine.workflows.store(workflow('triage', { id: 'triage', variables: { ticket: 'string' } }).end({ t: 'input.ticket' }));
    const app = express();
    app.use('/api', createRouter(engine, { allowUnauthenticated: true }));
    const base = await serveOnLoopback(app, cleanups);
    const post = (body: unknown) =>
      fetch(`${base}/api/workflows/triage/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const empty = await post({});
    expect(empty.status).toBe(400);
    expect(await empty.json()).toMatchObject({ error: { code: 'invalid_input', message: 'Invalid input: variable "ticket" is required' } });
    const typo = await post({ input_data: { tickt: 'x' } });
    expect(typo.status).toBe(400);
    expect(((await typo.json()) as { error: { message: string } }).error.message).toContain('did you mean "ticket"?');
    expect(await engine.list()).toEqual([]);
    const ok = await post({ input_data: { ticket: 'x' } });
    expect(ok.status).toBe(202);
  });
});
