/**
 * A stored workflow version is planned once per engine, however often it is read back: SQLite
 * (like PostgreSQL) parses a new definition object on every read, and the plan is cached by
 * object, so a worker adopting 500 runs of one version froze and planned it 500 times.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Engine, ScriptedProvider, SqliteStorage, workflow } from '../src/index.js';
import { StoredDefinitions } from '../src/runtime/stored-definitions.js';
import type { WorkflowDefinition } from '../src/definition/definition.js';
import type * as PlanModule from '../src/planner/plan.js';
import { scratch } from './scratch.js';

const planned = vi.hoisted(() => ({ objects: new Set<object>() }));
vi.mock('../src/planner/plan.js', async (importOriginal) => {
  const original = await importOriginal<typeof PlanModule>();
  return {
    ...original,
    compilePlan: (definition: WorkflowDefinition) => {
      planned.objects.add(definition);
      return original.compilePlan(definition);
    },
  };
});

const { dir } = scratch('stored-definitions');
const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((engine) => engine.close()));
  planned.objects.clear();
});

const greet = (template: string) => workflow('greet', { variables: { name: 'string' } }).prompt('say', { model: 'mock:m', template }).end({ text: 'say.text' });

describe('stored versions', () => {
  it('runs started from one stored version share one definition object, so one plan', async () => {
    const engine = new Engine({ storage: new SqliteStorage({ path: join(dir, 'one.sqlite') }), providers: { mock: new ScriptedProvider((req) => req.prompt) } });
    engines.push(engine);
    await engine.workflows.create(greet('Hello {{input.name}}'));
    planned.objects.clear();
    const outputs = [];
    for (const name of ['a', 'b', 'c', 'd', 'e']) outputs.push((await engine.wait(await engine.startStored('greet', { name }))).output_data);
    expect(outputs).toEqual(['a', 'b', 'c', 'd', 'e'].map((name) => ({ text: `Hello ${name}` })));
    expect(planned.objects.size).toBe(1);
  });

  it('a new version is planned on its own and runs its own definition', async () => {
    const engine = new Engine({ storage: new SqliteStorage({ path: join(dir, 'two.sqlite') }), providers: { mock: new ScriptedProvider((req) => req.prompt) } });
    engines.push(engine);
    await engine.workflows.create(greet('Hello {{input.name}}'));
    const first = await engine.wait(await engine.startStored('greet', { name: 'a' }));
    await engine.workflows.update('greet', greet('Bye {{input.name}}'));
    const second = await engine.wait(await engine.startStored('greet', { name: 'b' }));
    const pinned = await engine.wait(await engine.startStored('greet', { name: 'c' }, { version: 1 }));
    expect([first.output_data, second.output_data, pinned.output_data]).toEqual([{ text: 'Hello a' }, { text: 'Bye b' }, { text: 'Hello c' }]);
    expect(planned.objects.size).toBe(2);
  });
});

describe('StoredDefinitions', () => {
  const def = (name: string) => ({ name }) as unknown as WorkflowDefinition;

  it('answers the object first seen for a version, and keeps versions and workflows apart', () => {
    const definitions = new StoredDefinitions();
    const v1 = def('v1');
    expect(definitions.of('w', 1, v1)).toBe(v1);
    expect(definitions.of('w', 1, def('v1 read again'))).toBe(v1);
    const v2 = def('v2');
    expect(definitions.of('w', 2, v2)).toBe(v2);
    const other = def('other');
    expect(definitions.of('x', 1, other)).toBe(other);
    expect(definitions.known('w', 1)).toBe(v1);
    expect(definitions.known('w', 3)).toBeUndefined();
  });

  it('forgets the oldest version past its bound', () => {
    const definitions = new StoredDefinitions();
    const first = def('first');
    definitions.of('w', 0, first);
    for (let version = 1; version <= 1000; version++) definitions.of('w', version, def(`v${version}`));
    const again = def('first read again');
    expect(definitions.of('w', 0, again)).toBe(again);
  });
});
