/**
 * A tiny host app: the Trellis HTTP API under /api behind a bearer token, webhooks under /hooks,
 * schedule and event triggers running, and a scripted provider so it runs offline.
 *
 *   API_TOKEN=dev-token PORT=3000 npx tsx examples/express-app.ts
 *   curl -H 'authorization: Bearer dev-token' localhost:3000/api/workflows
 */
import { timingSafeEqual } from 'node:crypto';
import express from 'express';
import { Engine, MemoryStorage, ScriptedProvider, TrellisError, workflow } from '../src/index.js';
import { createHooksRouter, createRouter } from '../src/express/index.js';

const token = process.env.API_TOKEN ?? 'dev-token';
const engine = new Engine({
  storage: new MemoryStorage(),
  providers: { demo: new ScriptedProvider((req) => `You said: ${req.prompt}`, { latencyMs: 200 }) },
});

// Compared in constant time so the token cannot be guessed byte by byte from response times.
function hasToken(header: string | undefined): boolean {
  const given = Buffer.from(header ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const app = express();
app.use(
  '/api',
  createRouter(engine, {
    authorize: (req) => {
      if (!req.get('authorization')) throw new TrellisError('auth', 'Send Authorization: Bearer <API_TOKEN>');
      return hasToken(req.get('authorization'));
    },
  }),
);
app.use(createHooksRouter(engine)); // POST /hooks/:workflowId/:triggerId, authenticated by signature

await engine.workflows.create(
  workflow('echo', { variables: { text: 'string' }, triggers: [{ id: 'inbound', type: 'webhook', config: {} }] }).prompt('reply', {
    model: 'demo:echo',
    template: '{{input.text}}',
    stream: true,
  }),
);
// The background loop: recovers orphaned runs, fires due timers, and runs schedule and event triggers.
await engine.startBackground();

const port = Number(process.env.PORT ?? 3000);
const server = app.listen(port, () => console.log(`Trellis API on http://localhost:${port}/api (token: ${token})`));

process.on('SIGTERM', () => {
  server.close(() => void engine.close());
});
