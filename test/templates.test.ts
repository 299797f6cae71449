import { describe, expect, it } from 'vitest';
import { Engine, validateWorkflow, BUILTIN_NODE_TYPES, MemoryStorage, ScriptedProvider, type Script } from '../src/index.js';
import { BUILTIN_TEMPLATES, PLACEHOLDER_MODEL } from '../src/templates/templates.js';

function engineWith(script: Script, name = 'openai') {
  const provider = new ScriptedProvider(script, { name });
  const engine = new Engine({ storage: new MemoryStorage(), providers: { [name]: provider } });
  return { engine, provider };
}

describe('engine.templates', () => {
  it('lists the built-in templates with their declared variables', () => {
    const { engine } = engineWith(() => 'x');
    const list = engine.templates.list();
    expect(list.map((t) => t.id)).toEqual(['classify-and-route', 'map-reduce-summary', 'draft-critique-revise']);
    for (const info of list) {
      expect(info.name).toBeTruthy();
      expect(info.description.length).toBeGreaterThan(20);
      expect(info.tags.length).toBeGreaterThan(0);
    }
    expect(engine.templates.get('map-reduce-summary')?.variables).toContainEqual(expect.objectContaining({ name: 'documents', type: 'array', required: true }));
    expect(engine.templates.get('draft-critique-revise')?.variables).toContainEqual(expect.objectContaining({ name: 'threshold', default_value: 8 }));
    expect(engine.templates.get('nope')).toBeUndefined();
  });

  it('every template builds a valid definition with the placeholder model', () => {
    for (const template of BUILTIN_TEMPLATES) {
      const def = template.build({ model: PLACEHOLDER_MODEL, concurrency: 4, maxIterations: 5 }).build();
      const result = validateWorkflow(def, { nodeTypes: BUILTIN_NODE_TYPES });
      expect(result.ok ? [] : result.issues, template.id).toEqual([]);
      const models = def.definition.nodes.filter((n) => n.type === 'prompt_execution').map((n) => (n.config as { provider_model: string }).provider_model);
      expect(new Set(models)).toEqual(new Set([PLACEHOLDER_MODEL]));
    }
  });

  it('instantiate stores a new workflow with overrides and refuses unknown ids, variables and a taken id', async () => {
    const { engine } = engineWith(() => 'x');
    const stored = await engine.templates.instantiate('map-reduce-summary', {
      id: 'digest',
      name: 'Weekly digest',
      overrides: { model: 'mock:m', concurrency: 2, variables: { instructions: 'Be brief.' }, tags: ['weekly'] },
    });
    expect(stored).toMatchObject({ id: 'digest', version: 1, name: 'Weekly digest' });
    expect(stored.tags).toEqual(expect.arrayContaining(['map-reduce', 'template:map-reduce-summary', 'weekly']));
    const loop = stored.definition.definition.nodes.find((n) => n.id === 'summaries')!;
    expect(loop.config).toMatchObject({ loop_type: 'for_each', concurrency: 2 });
    expect(stored.definition.definition.variables.find((v) => v.name === 'instructions')?.default_value).toBe('Be brief.');
    expect(await engine.workflows.get('digest')).toBeDefined();

    await expect(engine.templates.instantiate('nope')).rejects.toMatchObject({ code: 'not_found', message: expect.stringContaining('classify-and-route') });
    await expect(engine.templates.instantiate('map-reduce-summary', { id: 'other', overrides: { variables: { colour: 'red' } } })).rejects.toMatchObject({ code: 'invalid_options', message: expect.stringContaining('"colour"') });
    await expect(engine.templates.instantiate('map-reduce-summary', { id: 'digest' })).rejects.toMatchObject({ code: 'illegal_state' });
    await expect(engine.templates.instantiate('classify-and-route', { overrides: { model: 'no-colon' } })).rejects.toThrow(/provider:model/);
  });

  it('classify-and-route classifies with structured output and takes either branch', async () => {
    const { engine, provider } = engineWith((r) => {
      if (r.prompt.startsWith('Classify')) return r.prompt.includes('server is down') ? { label: 'urgent', confidence: 0.9 } : { label: 'normal', confidence: 0.7 };
      return r.prompt.includes('"urgent"') ? 'Escalating now.' : 'Thanks, we will reply soon.';
    });
    const stored = await engine.templates.instantiate('classify-and-route');
    expect(stored.definition.definition.nodes.map((n) => n.type)).toEqual(expect.arrayContaining(['condition', 'merge']));
    const urgent = await engine.run(stored.definition, { text: 'The server is down!' });
    expect(urgent.status).toBe('completed');
    expect(urgent.output_data).toEqual({ label: 'urgent', route: 'matched', response: 'Escalating now.' });
    const normal = await engine.run(stored.definition, { text: 'Can I change my address?' });
    expect(normal.output_data).toEqual({ label: 'normal', route: 'other', response: 'Thanks, we will reply soon.' });
    expect(normal.execution_trace.find((s) => s.node_id === 'handle_matched')?.status).toBe('skipped');
    // The classification call carried the JSON schema.
    expect(provider.calls[0]?.outputSchema).toMatchObject({ required: ['label'] });
  });

  it('map-reduce-summary summarises each document with bounded concurrency, then reduces', async () => {
    let live = 0;
    let peak = 0;
    const { engine, provider } = engineWith(async (r) => {
      if (r.prompt.startsWith('Combine')) return `ALL(${(r.prompt.match(/sum:\w+/g) ?? []).join(',')})`;
      live++;
      peak = Math.max(peak, live);
      await new Promise((res) => setTimeout(res, 5));
      live--;
      return `sum:${/doc-(\w+)/.exec(r.prompt)?.[1]}`;
    }, 'mock');
    const stored = await engine.templates.instantiate('map-reduce-summary', { overrides: { model: 'mock:m', concurrency: 3 } });
    const documents = Array.from({ length: 7 }, (_, i) => `doc-${'abcdefg'[i]} text`);
    const run = await engine.run(stored.definition, { documents });
    expect(run.status).toBe('completed');
    expect(peak).toBe(3);
    expect(run.output_data).toEqual({ summary: 'ALL(sum:a,sum:b,sum:c,sum:d,sum:e,sum:f,sum:g)', partials: ['sum:a', 'sum:b', 'sum:c', 'sum:d', 'sum:e', 'sum:f', 'sum:g'] });
    expect(provider.calls).toHaveLength(8);
  });

  it('draft-critique-revise loops until a critique reaches the threshold', async () => {
    const scores = [4, 6, 9];
    let critiques = 0;
    const { engine, provider } = engineWith((r) => {
      if (r.prompt.startsWith('Write attempt')) return `draft ${/attempt (\d+)/.exec(r.prompt)?.[1]}`;
      if (r.prompt.startsWith('Score')) return { score: scores[critiques++] ?? 10, feedback: 'tighter' };
      return `revised(${/Draft:\n(.*)/.exec(r.prompt)?.[1]})`;
    });
    const stored = await engine.templates.instantiate('draft-critique-revise');
    const run = await engine.run(stored.definition, { brief: 'A haiku about durability' });
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ text: 'revised(draft 2)', iterations: 3 });
    // Each new draft is asked to improve on the previous iteration's revision.
    const drafts = provider.calls.filter((c) => c.prompt.startsWith('Write attempt')).map((c) => c.prompt.split('Previous revision to improve on:\n')[1]);
    expect(drafts).toEqual(['(none yet)', 'revised(draft 0)', 'revised(draft 1)']);
    expect(critiques).toBe(3);

    // A lower threshold (a run input overriding the variable) stops earlier.
    critiques = 0;
    const early = await engine.run(stored.definition, { brief: 'x', threshold: 5 });
    expect(early.output_data).toEqual({ text: 'revised(draft 1)', iterations: 2 });
  });

  it('draft-critique-revise fails past max_iterations', async () => {
    const { engine } = engineWith((r) => (r.prompt.startsWith('Score') ? { score: 1, feedback: 'no' } : 'text'), 'mock');
    const stored = await engine.templates.instantiate('draft-critique-revise', { overrides: { model: 'mock:m', maxIterations: 2 } });
    const run = await engine.run(stored.definition, { brief: 'x' });
    expect(run.status).toBe('failed');
    expect(run.error_message).toMatch(/max_iterations of 2/);
  });
});
