/**
 * Type tests (checked by `tsc --noEmit`; the run-time part only keeps vitest happy): with the
 * builder, `engine.run`'s input is typed from the declared variables and `output_data` from the
 * `end` steps (issue 17 point 11). `@ts-expect-error` lines are the refusals: each fails to compile
 * without the line above it, and the file fails to compile when one of them stops being an error.
 */
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { workflow, type Engine, type Json, type WorkflowBuilder, type WorkflowDefinitionInput, type WorkflowExecution, type WorkflowSource } from '../../src/index.js';

// Never called: the calls below sit in functions that are only type-checked.
declare const engine: Engine;
const model = 'mock:m';
type InputOf<W extends WorkflowSource> = Parameters<typeof engine.run<W>>[1];
type OutputOf<W extends WorkflowSource> = Exclude<Awaited<ReturnType<typeof engine.run<W>>>['output_data'], undefined>;

describe('run input typed from the declared variables', () => {
  it('requires a shorthand variable and refuses unknown keys and wrong types', () => {
    const wf = workflow('t', { variables: { ticket: 'string' } });
    expectTypeOf<InputOf<typeof wf>>().toEqualTypeOf<{ readonly ticket: string }>();
    const check = () => {
      void engine.run(wf, { ticket: 'printer on fire' });
      void engine.start(wf, { ticket: 'x' }, { idempotencyKey: 'k' });
      // @ts-expect-error: ticket is required
      void engine.run(wf);
      // @ts-expect-error: ticket is required
      void engine.run(wf, {});
      // @ts-expect-error: tickt is not declared
      void engine.run(wf, { ticket: 'x', tickt: 'y' });
      // @ts-expect-error: ticket is a string
      void engine.run(wf, { ticket: 1 });
      // @ts-expect-error: start checks the same way
      void engine.start(wf, {});
    };
    expectTypeOf(check).toBeFunction();
  });

  it('makes a variable with a default, or required: false, optional; the object and array forms alike', () => {
    const wf = workflow('t', {
      variables: {
        ticket: { type: 'string' },
        customer: { type: 'string', default_value: 'anonymous' },
        note: { type: 'string', required: false },
        count: 'number',
        tags: 'array',
        meta: 'object',
        anything: 'any',
        urgent: 'boolean',
      },
    });
    expectTypeOf<InputOf<typeof wf>>().toEqualTypeOf<{
      readonly ticket: string;
      readonly count: number;
      readonly tags: unknown[];
      readonly meta: Record<string, unknown>;
      readonly anything: unknown;
      readonly urgent: boolean;
      readonly customer?: string;
      readonly note?: string;
    }>();
    const list = workflow('t', { variables: [{ name: 'n', type: 'number' }, { name: 'label', type: 'string', default_value: 'x' }] });
    expectTypeOf<InputOf<typeof list>>().toEqualTypeOf<{ readonly n: number; readonly label?: string }>();
    const check = () => {
      // @ts-expect-error: n is required in the array form too
      void engine.run(list, { label: 'y' });
    };
    expectTypeOf(check).toBeFunction();
  });

  it('accepts other keys with additional_input: true, and anything without declared variables', () => {
    const open = workflow('t', { variables: { ticket: 'string' }, additional_input: true });
    const free = workflow('t');
    expectTypeOf<InputOf<typeof free>>().toEqualTypeOf<Record<string, unknown> | undefined>();
    const check = () => {
      void engine.run(open, { ticket: 'x', source: 'email' });
      void engine.run(free);
      void engine.run(free, { whatever: [1] });
      // @ts-expect-error: ticket is still required
      void engine.run(open, { source: 'email' });
    };
    expectTypeOf(check).toBeFunction();
  });

  it('leaves JSON definitions and builders typed only by their outputs as before', () => {
    const json: WorkflowDefinitionInput = { name: 'j', definition: { nodes: [], edges: [] } };
    expectTypeOf<InputOf<typeof json>>().toEqualTypeOf<unknown>();
    const some: WorkflowBuilder<object> = workflow('t', { variables: { ticket: 'string' } }).end({ t: 'input.ticket' });
    const check = () => {
      void engine.run(json);
      void engine.run(json, 'anything');
      void engine.run(some, {});
    };
    expectTypeOf(check).toBeFunction();
    expectTypeOf<OutputOf<typeof json>>().toEqualTypeOf<Json>();
    expectTypeOf<OutputOf<typeof some>>().toEqualTypeOf<Json>();
  });
});

describe('output_data typed from .end()', () => {
  const Classification = z.object({ urgent: z.boolean(), topic: z.enum(['billing', 'bug']) });

  it('resolves plain paths through the step outputs and the input; other expressions are JSON', () => {
    const wf = workflow('t', { variables: { ticket: 'string', customer: { type: 'string', default_value: 'anonymous' } } })
      .prompt('classify', { model, template: '{{input.ticket}}', output: Classification })
      .end({ urgent: 'classify.json.urgent', topic: 'classify.json.topic', text: 'classify.text', customer: 'input.customer', raw: 'classify', n: 'size(classify.text)' });
    expectTypeOf<OutputOf<typeof wf>>().toEqualTypeOf<{
      urgent: boolean;
      topic: 'billing' | 'bug';
      text: string;
      customer: string;
      raw: { text: string; json: { urgent: boolean; topic: 'billing' | 'bug' } };
      n: Json;
    }>();
    const run = async () => (await engine.run(wf, { ticket: 'x' })).output_data;
    expectTypeOf(run).returns.resolves.toEqualTypeOf<OutputOf<typeof wf> | undefined>();
  });

  it('is any JSON without an end, or without an output mapping', () => {
    const none = workflow('t').prompt('p', { model, template: 'x' });
    expectTypeOf<OutputOf<typeof none>>().toEqualTypeOf<Json>();
    const bare = workflow('t').prompt('p', { model, template: 'x' }).end();
    expectTypeOf<OutputOf<typeof bare>>().toEqualTypeOf<Json>();
  });

  it('collects the ends of branches, and any JSON when a path reaches no end', () => {
    const both = workflow('t')
      .prompt('p', { model, template: 'x', output: Classification })
      .when('p.json.urgent', (b) => b.end({ page: 'p.json.topic' }, { id: 'paged' }), (b) => b.end({ reply: 'p.text' }, { id: 'replied' }));
    expectTypeOf<OutputOf<typeof both>>().toEqualTypeOf<{ page: 'billing' | 'bug' } | { reply: string }>();

    const early = workflow('t')
      .prompt('p', { model, template: 'x', output: Classification })
      .when('p.json.urgent', (b) => b.end({ page: 'p.json.urgent' }, { id: 'paged' }))
      .prompt('q', { model, template: 'y' });
    expectTypeOf<OutputOf<typeof early>>().toEqualTypeOf<{ page: boolean } | Json>();

    const fan = workflow('t')
      .parallel({ a: (b) => b.end({ a: "'a'" }, { id: 'end_a' }), b: (b) => b.end({ b: "'b'" }, { id: 'end_b' }) });
    expectTypeOf<OutputOf<typeof fan>>().toEqualTypeOf<{ a: Json } | { b: Json }>();
  });

  it("adds a rejection's output for an approval without onReject, at any depth", () => {
    type Rejected = { rejected: { step: string; reason: string | null } };
    const top = workflow('t').approval('ok').end({ done: "'yes'" });
    expectTypeOf<OutputOf<typeof top>>().toEqualTypeOf<{ done: Json } | Rejected>();
    const inLoop = workflow('t', { variables: { xs: 'array' } })
      .forEach('input.xs', (b) => b.approval('each'), { id: 'each_loop' })
      .end({ n: 'size(each_loop)' });
    expectTypeOf<OutputOf<typeof inLoop>>().toEqualTypeOf<{ n: Json } | Rejected>();
    const inBranch = workflow('t').when('true', (b) => b.approval('maybe')).end({ x: "'x'" });
    expectTypeOf<OutputOf<typeof inBranch>>().toEqualTypeOf<{ x: Json } | Rejected>();
  });

  it("counts an onReject branch's end, and any JSON when it does not end (it leaves past the chain's end)", () => {
    const ends = workflow('t')
      .approval('ok', { onReject: (b) => b.end({ declined: "'yes'" }, { id: 'declined_end' }) })
      .end({ done: "'yes'" });
    expectTypeOf<OutputOf<typeof ends>>().toEqualTypeOf<{ declined: Json } | { done: Json }>();
    const leaves = workflow('t')
      .approval('ok', { onReject: (b) => b.transform('note', { v: '1' }) })
      .end({ done: "'yes'" });
    expectTypeOf<OutputOf<typeof leaves>>().toEqualTypeOf<{ done: Json } | Json>();
    // Inside a branch the onReject goes on past the branch, so the chain's end still closes the run.
    const nested = workflow('t')
      .when('true', (b) => b.approval('ok', { onReject: (r) => r.transform('note', { v: '1' }) }))
      .end({ done: "'yes'" });
    expectTypeOf<OutputOf<typeof nested>>().toEqualTypeOf<{ done: Json }>();
  });

  it('fits where a plain execution record is expected', () => {
    const wf = workflow('t').prompt('p', { model, template: 'x', output: Classification }).end({ urgent: 'p.json.urgent', text: 'p.text' });
    const use = (run: WorkflowExecution): Json | undefined => run.output_data;
    const check = async () => use(await engine.run(wf));
    expectTypeOf(check).toBeFunction();
    expectTypeOf<WorkflowExecution<OutputOf<typeof wf>>>().toMatchTypeOf<WorkflowExecution>();
  });
});
