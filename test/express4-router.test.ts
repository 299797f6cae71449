/**
 * The same router tests on Express 4: `express` resolves to Express 4 (installed as `express4`) for
 * this file's whole module graph, the router's own imports included, as it does in an Express 4
 * host. On Express 4 a handler's rejected promise is not caught by the framework: every error answer
 * below (400, 403, 404, 409...) would otherwise be an unhandled rejection that fails this file.
 */
import { describe, expect, it, vi } from 'vitest';

vi.mock('express', async () => await import('express4'));

describe('on Express 4', () => {
  it('express is Express 4 here', async () => {
    const [express, express4] = await Promise.all([import('express'), import('express4')]);
    expect(express.default).toBe(express4.default);
  });
});

await import('./express-router.test.js');
await import('./express-router-answers.test.js');

describe('the hooks router on Express 4', () => {
  it('answers a delivery for an unknown hook with the error envelope, and the process goes on', async () => {
    const { default: express } = await import('express');
    const { Engine, MemoryStorage } = await import('../src/index.js');
    const { createHooksRouter } = await import('../src/express/index.js');
    const engine = new Engine({ storage: new MemoryStorage() });
    const app = express();
    app.use(createHooksRouter(engine, { onError: () => undefined }));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as { port: number };
      const reply = await fetch(`http://127.0.0.1:${port}/hooks/nope/nothing`, { method: 'POST', body: '{}' });
      expect(reply.status).toBeGreaterThanOrEqual(400);
      expect(reply.status).toBeLessThan(500);
      expect((await reply.json()) as unknown).toMatchObject({ error: { code: expect.any(String) } });
    } finally {
      server.close();
      await engine.close();
    }
  });
});
