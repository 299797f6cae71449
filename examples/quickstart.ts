/**
 * Quickstart: a support-ticket triage workflow.
 *   classify (LLM, structured output) → condition on urgency → escalate or draft a reply → transform
 *
 * Runs offline with a scripted provider on the embedded SQLite default (./trellis.sqlite).
 * To use a real model, set DEMO_MODEL (e.g. "openai:gpt-4o-mini", "anthropic:claude-haiku-4-5",
 * "ollama:llama3.2") and the provider's key (OPENAI_API_KEY / ANTHROPIC_API_KEY; Ollama needs none).
 */
import { z } from 'zod';
import { AnthropicProvider, Engine, OllamaProvider, OpenAIProvider, ScriptedProvider, workflow, type Provider } from '../src/index.js';

const model = process.env.DEMO_MODEL ?? 'demo:scripted';

// The offline stand-in for an LLM: answers by looking at the prompt.
const scripted = new ScriptedProvider(
  (request) => {
    if (request.prompt.startsWith('Classify')) {
      const ticket = request.prompt.split('\n\n')[1] ?? '';
      const urgent = /outage|down|urgent|charged twice/i.test(ticket);
      return { category: /charged|refund|invoice/i.test(ticket) ? 'billing' : 'technical', urgent };
    }
    if (request.prompt.startsWith('Write')) return 'Hi! Thanks for reaching out. Here is how to reset your password: ...';
    return 'Escalation note: customer reports a billing error; refund review needed within 1h.';
  },
  { name: 'demo', latencyMs: 150 },
);

const providers: Record<string, Provider> = { demo: scripted };
if (process.env.OPENAI_API_KEY) providers.openai = new OpenAIProvider();
if (process.env.ANTHROPIC_API_KEY) providers.anthropic = new AnthropicProvider();
if (model.startsWith('ollama:')) providers.ollama = new OllamaProvider();

const triage = workflow('support-triage', { variables: { ticket: 'string' } })
  .prompt('classify', {
    model,
    template: 'Classify this support ticket. Answer as JSON {"category": string, "urgent": boolean}.\n\n{{input.ticket}}',
    output: z.object({ category: z.string(), urgent: z.boolean() }),
  })
  .when(
    'classify.json.urgent',
    (urgent) => urgent.prompt('escalate', { model, template: 'Summarise for the on-call engineer ({{classify.json.category}}): {{input.ticket}}' }),
    (normal) => normal.prompt('reply', { model, template: 'Write a friendly reply to: {{input.ticket}}' }),
  )
  .transform('summary', {
    category: 'upper(classify.json.category)',
    route: "classify.json.urgent ? 'escalated' : 'answered'",
  })
  .end({ category: 'summary.category', route: 'summary.route' });

const engine = new Engine({ providers });
engine.events.on('node:started', (e) => console.log(`  → ${e.path} (${e.nodeType})`));
engine.events.on('node:completed', (e) => console.log(`  ✓ ${e.path} ${JSON.stringify(e.output).slice(0, 90)}`));
engine.events.on('node:skipped', (e) => console.log(`  · ${e.path} skipped`));

for (const ticket of ['I was charged twice for my subscription this month!', 'How do I reset my password?']) {
  console.log(`\nTicket: ${ticket}`);
  const run = await engine.run(triage, { ticket });
  if (run.status !== 'completed') {
    // A failed run resolves too: say why (the message names the step path), and exit non-zero.
    console.error(`Run ${run.id} ${run.status}: ${run.error_message}`);
    process.exitCode = 1;
    continue;
  }
  console.log(`Run ${run.id}: ${run.status} in ${run.duration_ms} ms → ${JSON.stringify(run.output_data)}`);
}
await engine.close();
