/**
 * Loading on first use (src/kernel/lazy-modules.ts, lazy-value.ts): the exported zod schemas are
 * stand-ins built when first touched, and behave as the schemas themselves. That importing the
 * built package loads none of these modules is checked in package.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NODE_CONFIG_SCHEMAS, WorkflowNodeSchema, WorkflowSchema, ScheduleTriggerConfigSchema } from '../src/index.js';
import { definitionSchemas } from '../src/definition/definition.js';
import { loadCel, loadZod } from '../src/kernel/lazy-modules.js';
import { lazyValue } from '../src/kernel/lazy-value.js';

describe('lazyValue', () => {
  it('creates the value on the first operation, once', () => {
    let calls = 0;
    const value = lazyValue(() => {
      calls++;
      return { a: 1, nested: { b: 2 } };
    });
    expect(calls).toBe(0);
    expect(value.a).toBe(1);
    expect({ ...value }).toEqual({ a: 1, nested: { b: 2 } });
    expect(Object.keys(value)).toEqual(['a', 'nested']);
    expect('nested' in value).toBe(true);
    expect(calls).toBe(1);
  });

  it('runs getters and methods on the real object', () => {
    class Counter {
      #n = 0;
      get n(): number {
        return this.#n;
      }
      bump(): number {
        return ++this.#n;
      }
    }
    const real = new Counter();
    const counter = lazyValue(() => real);
    expect(counter).toBeInstanceOf(Counter);
    // `n` reads a private field, which would throw with the proxy as `this`.
    expect(counter.n).toBe(0);
    expect(real.bump()).toBe(1);
    expect(counter.n).toBe(1);
  });
});

describe('exported schemas', () => {
  it('are the zod schemas Trellis validates with, from the zod this code imports', () => {
    expect(loadZod().z).toBe(z);
    expect(WorkflowSchema).toBeInstanceOf(z.ZodObject);
    expect(WorkflowSchema.constructor).toBe(z.ZodObject);
    expect(WorkflowSchema.shape.definition).toBe(definitionSchemas().WorkflowSchema.shape.definition);
    expect(z.toJSONSchema(WorkflowNodeSchema)).toEqual(z.toJSONSchema(definitionSchemas().WorkflowNodeSchema));
  });

  it('compose into a user schema and extend', () => {
    const wrapper = z.object({ workflow: WorkflowSchema, retries: z.number() });
    expect(wrapper.safeParse({ workflow: { name: 'w', definition: { nodes: [], edges: [] } }, retries: 1 }).success).toBe(true);
    expect(wrapper.safeParse({ workflow: { definition: {} }, retries: 1 }).success).toBe(false);
    const webhook = NODE_CONFIG_SCHEMAS.webhook.extend({ retries: z.number() });
    expect(webhook.safeParse({ url: 'https://example.com', retries: 2 }).success).toBe(true);
    expect(ScheduleTriggerConfigSchema.parse({ cron: '* * * * *' })).toEqual({ cron: '* * * * *', catch_up: 'skip', input: {} });
  });

  it('load cel-js as the module a static import gives', async () => {
    // `require` of an ES module returns its namespace under a wrapper, so compare an export.
    expect(loadCel().Environment).toBe((await import('@marcbachmann/cel-js')).Environment);
  });
});
