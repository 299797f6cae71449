/**
 * Issue 14 item 5: a definition object changed after a run is never run stale. The engine
 * deep-freezes a JSON definition the first time it runs it (so changing it throws, or in sloppy
 * mode does nothing) and caches by builder only for its own, immutable builders.
 */
import { describe, expect, it } from 'vitest';
import { workflow, type WorkflowDefinition } from '../src/index.js';
import { edge, makeEngine, node } from './helpers.js';

const echo = (req: { prompt: string }) => req.prompt;

function jsonGreet(template: string) {
  return {
    name: 'greet',
    definition: {
      nodes: [node('start', 'start'), node('say', 'prompt_execution', { provider_model: 'mock:any', template }), node('end', 'end', { output: { text: 'say.text' } })],
      edges: [edge('start', 'say'), edge('say', 'end')],
    },
  };
}

const templateOf = (def: { definition: { nodes: readonly { id: string; config: Record<string, unknown> }[] } }) => def.definition.nodes.find((n) => n.id === 'say')!.config['template'];

describe('a JSON definition changed after a run', () => {
  it('refuses the change (strict mode): the second run runs what the object says', async () => {
    const { engine } = makeEngine(echo);
    const def = jsonGreet('first');
    expect((await engine.run(def, {})).output_data).toEqual({ text: 'first' });
    expect(() => {
      def.definition.nodes[1]!.config['template'] = 'second';
    }).toThrow(TypeError);
    expect(() => def.definition.nodes.push(node('extra', 'end'))).toThrow(TypeError);
    const again = await engine.run(def, {});
    expect(templateOf(def)).toBe('first');
    expect(again.output_data).toEqual({ text: 'first' });
    expect(again.workflow_version).toBe(1);
  });

  it('in sloppy mode the write is ignored, so the object and the run still agree', async () => {
    const { engine } = makeEngine(echo);
    const def = jsonGreet('first');
    await engine.run(def, {});
    // A CommonJS file without 'use strict': assignments to frozen properties do nothing.
    const sloppySet = new Function('d', "d.definition.nodes[1].config.template = 'second';") as (d: unknown) => void;
    sloppySet(def);
    expect(templateOf(def)).toBe('first');
    expect((await engine.run(def, {})).output_data).toEqual({ text: 'first' });
  });

  it('a changed copy runs as a new version', async () => {
    const { engine } = makeEngine(echo);
    const def = jsonGreet('first');
    await engine.run(def, {});
    const copy = structuredClone(def);
    copy.definition.nodes[1]!.config['template'] = 'second';
    const run = await engine.run(copy, {});
    expect(run.output_data).toEqual({ text: 'second' });
    expect(run.workflow_version).toBe(2);
  });

  it('a definition read back from the engine cannot be changed under its runs either', async () => {
    const { engine } = makeEngine(echo);
    const record = await engine.workflows.create(jsonGreet('first'));
    const id = await engine.startStored(record.id, {});
    await engine.wait(id);
    expect(() => {
      (record.definition.definition.nodes[1]!.config as Record<string, unknown>)['template'] = 'second';
    }).toThrow(TypeError);
    const stored = (await engine.workflows.get(record.id, 1))!;
    expect(templateOf(stored.definition)).toBe('first');
  });
});

describe('builders', () => {
  it('a step added after a run makes a new builder: each runs its own definition', async () => {
    const { engine } = makeEngine(echo);
    const wf = workflow('greet').prompt('say', { model: 'mock:any', template: 'first' });
    expect((await engine.run(wf.end({ text: 'say.text' }), {})).output_data).toEqual({ text: 'first' });
    const longer = wf.prompt('more', { model: 'mock:any', template: '{{say.text}} and more' }).end({ text: 'more.text' });
    expect((await engine.run(longer, {})).output_data).toEqual({ text: 'first and more' });
    const ended = wf.end({ text: 'say.text' });
    expect((await engine.run(ended, {})).output_data).toEqual({ text: 'first' });
  });

  it('an object with its own mutable build() is built again on every start', async () => {
    const { engine } = makeEngine(echo);
    let template = 'first';
    const custom = { build: (): WorkflowDefinition => workflow('greet').prompt('say', { model: 'mock:any', template }).end({ text: 'say.text' }).build() };
    expect((await engine.run(custom, {})).output_data).toEqual({ text: 'first' });
    template = 'second';
    const run = await engine.run(custom, {});
    expect(run.output_data).toEqual({ text: 'second' });
    expect(run.workflow_version).toBe(2);
  });
});

describe('workflow() options', () => {
  it('are copied: changing the object after a run changes nothing the builder builds', async () => {
    const options = { description: 'first', settings: { timeout_ms: 60_000 } };
    const wf = workflow('copied-options', options).transform('t', { x: '1' }).end();
    const before = wf.build();
    options.description = 'second';
    options.settings.timeout_ms = 1;
    expect(wf.build()).toEqual(before);
  });
});
