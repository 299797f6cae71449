/**
 * The triage pipeline with a person in the loop, over HTTP: a ticket is classified (structured
 * output); an urgent one waits for someone to approve paging on-call, who sees the ticket, the
 * category and a draft in the approval inbox (`GET /approvals`); "no" sends the customer a reply
 * instead, and the run completes either way.
 *
 * It serves the API under /api and plays the client itself, offline, with a scripted model:
 *   npx tsx examples/approval-inbox.ts
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Engine, MemoryStorage, ScriptedProvider, workflow } from '../src/index.js';
import { createRouter } from '../src/express/index.js';

const model = new ScriptedProvider((request) => {
  if (request.prompt.startsWith('Classify')) return { category: 'billing', urgent: /twice|outage/i.test(request.prompt) };
  if (request.prompt.startsWith('Draft')) return 'We are paging the on-call engineer now.';
  return 'Thanks for writing in; our billing team will refund the duplicate charge within 2 days.';
});

const triage = workflow('triage', { variables: { ticket: 'string' } })
  .prompt('classify', {
    model: 'demo:any',
    template: 'Classify as JSON {"category", "urgent"}: {{input.ticket}}',
    output: { type: 'object', properties: { category: { type: 'string' }, urgent: { type: 'boolean' } }, required: ['category', 'urgent'] },
  })
  .when(
    'classify.json.urgent',
    (urgent) =>
      urgent
        .prompt('draft', { model: 'demo:any', template: 'Draft an on-call page for: {{input.ticket}}' })
        .approval('escalate', {
          message: 'Page on-call for a {{classify.json.category}} ticket?',
          data: { ticket: 'input.ticket', category: 'classify.json.category', page: 'draft.text' },
          timeout_ms: 4 * 60 * 60 * 1000,
          on_timeout: 'approve', // nobody answered in four hours: page anyway
          // "No" is an answer, not a failure: reply to the customer instead of paging.
          onReject: (no) => no.prompt('reply', { model: 'demo:any', template: 'Write a reply to: {{input.ticket}}' }),
        })
        .transform('paged', { text: 'draft.text' }),
    (normal) => normal.prompt('answer', { model: 'demo:any', template: 'Write a reply to: {{input.ticket}}' }),
  )
  .end({ category: 'classify.json.category' });

const engine = new Engine({ storage: new MemoryStorage(), providers: { demo: model } });
await engine.workflows.create(triage);

const app = express();
// Who may do what: your own auth goes here (see the README's HTTP router section); a fixed token will do for the demo.
app.use('/api', createRouter(engine, { authorize: (req) => req.get('authorization') === 'Bearer demo-approver' }));
const server = app.listen(0, '127.0.0.1');
await once(server, 'listening');
const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${api}${path}`, {
    method,
    headers: { authorization: 'Bearer demo-approver', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? null : JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

// 1. A ticket comes in; ?wait=true answers once the run needs someone (or ends, or 10 s pass).
const started = await call('POST', '/workflows/triage/execute?wait=true&timeout=10s', { input_data: { ticket: 'I was charged twice this month!' } });
console.log(`run ${String(started.json.id)}: ${String(started.json.status)}`);

// 2. The approver's inbox: what waits, with what to review.
const inbox = await call('GET', '/approvals?workflow_id=triage');
const [item] = inbox.json.data as { execution_id: string; path: string; message: string; data: Record<string, unknown>; outcomes: string[] }[];
if (!item) throw new Error('expected an approval to wait');
console.log(`inbox: ${item.path}: ${item.message}`);
console.log(`  review: ${JSON.stringify(item.data)}`);
console.log(`  answers: ${item.outcomes.join(' / ')}`);

// 3. The approver says no: the run replies to the customer instead of paging.
const answered = await call('POST', `/workflow-executions/${item.execution_id}/approvals/${item.path}`, { approved: false, reason: 'billing handles duplicate charges' });
console.log(`answered: ${answered.status}`);

const run = await engine.wait(item.execution_id);
const reply = run.execution_trace.find((step) => step.node_id === 'reply');
console.log(`run ${run.id}: ${run.status}; reply: ${JSON.stringify(reply?.output_data)}`);

server.close();
await engine.close();
