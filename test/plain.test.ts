import { describe, expect, it } from 'vitest';
import { plainConstructor, plainCopier, plainMaker } from '../src/kernel/plain.js';
import { Engine, MemoryStorage, workflow } from '../src/index.js';
import { ScriptedProvider } from '../src/testing/index.js';

describe('plain objects made with new', () => {
  it('are plain objects to every observer', () => {
    const Pair = plainConstructor(function (this: { a: number; b: string }, a: number, b: string) {
      this.a = a;
      this.b = b;
    });
    const made = new Pair(1, 'x');
    for (const value of [made, plainCopier<{ a: number; b: string }>()({ a: 1, b: 'x' }), Object.assign(plainMaker()(), { a: 1, b: 'x' })]) {
      expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
      expect(value.constructor).toBe(Object);
      expect(value).toStrictEqual({ a: 1, b: 'x' });
      expect(JSON.stringify(value)).toBe('{"a":1,"b":"x"}');
      expect(structuredClone(value)).toStrictEqual({ a: 1, b: 'x' });
      expect(Object.keys(value)).toEqual(['a', 'b']);
    }
  });

  it('are what a run records: run, steps and calls are plain objects', async () => {
    const storage = new MemoryStorage();
    const engine = new Engine({ storage, providers: { mock: new ScriptedProvider(() => 'hi') } });
    const run = await engine.run(workflow('plain').prompt('ask', { model: 'mock:m', template: 'hello' }).end({ said: 'ask.text' }), {});
    expect(run.status).toBe('completed');
    const records = [(await storage.getRun(run.id))!, ...(await storage.getSteps(run.id)), ...(await storage.listCalls({ workflow_execution_id: run.id }))];
    expect(records.length).toBeGreaterThan(3);
    for (const record of records) {
      expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
      expect(structuredClone(record)).toStrictEqual(record);
    }
    await engine.close();
  });
});
