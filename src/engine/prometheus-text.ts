/**
 * `engine.metrics()` in the Prometheus text exposition format (version 0.0.4), which Prometheus,
 * the OpenTelemetry collector's Prometheus receiver, Grafana Agent and Datadog all scrape.
 *
 * Written here rather than through prom-client: the engine keeps its figures already aggregated
 * (counters, and histograms as bucket arrays), and prom-client has no way to expose a histogram
 * that was observed elsewhere; mirroring every figure into its registry would put prom-client on
 * the hot path, as a dependency of every host. The format itself is a few lines of text per
 * family. A host with a prom-client registry of its own serves both: see docs/metrics.md.
 */
import type { EngineMetrics } from './engine-metrics.js';
import type { HistogramSnapshot } from './metric-histogram.js';

/** The content type of the text format, for the `Content-Type` header of a scrape. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Readonly<Record<string, string>>;

/** Collects the lines of each metric family, HELP and TYPE first. */
class Exposition {
  readonly #lines: string[] = [];
  readonly #declared = new Set<string>();

  family(name: string, type: 'counter' | 'gauge' | 'histogram', help: string): void {
    if (this.#declared.has(name)) return;
    this.#declared.add(name);
    this.#lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
  }

  sample(name: string, labels: Labels, value: number): void {
    this.#lines.push(`${name}${labelText(labels)} ${numberText(value)}`);
  }

  /** A histogram of milliseconds, exposed in seconds (Prometheus' base unit) with cumulative buckets. */
  histogram(name: string, labels: Labels, h: HistogramSnapshot): void {
    let cumulative = 0;
    h.buckets.forEach((bound, i) => {
      cumulative += h.counts[i] ?? 0;
      this.sample(`${name}_bucket`, { ...labels, le: numberText(bound / 1000) }, cumulative);
    });
    this.sample(`${name}_bucket`, { ...labels, le: '+Inf' }, h.count);
    this.sample(`${name}_sum`, labels, h.sum / 1000);
    this.sample(`${name}_count`, labels, h.count);
  }

  text(): string {
    return this.#lines.length === 0 ? '' : `${this.#lines.join('\n')}\n`;
  }
}

/**
 * Renders `metrics` as Prometheus text. Names start with `trellis_`; durations are histograms in
 * seconds; workflow, node, provider and model are labels.
 *
 * @example
 * app.get('/metrics', (_req, res) => res.type(PROMETHEUS_CONTENT_TYPE).send(toPrometheusText(engine.metrics())));
 */
export function toPrometheusText(metrics: EngineMetrics): string {
  const out = new Exposition();
  const workflows = Object.entries(metrics.workflows);

  out.family('trellis_runs_total', 'counter', 'Runs seen by this process, by workflow and what happened (started, completed, failed, cancelled, paused, resumed).');
  for (const [workflow, w] of workflows) for (const [status, n] of Object.entries(w.runs)) out.sample('trellis_runs_total', { workflow, status }, n);
  out.family('trellis_run_duration_seconds', 'histogram', 'Duration of completed runs, from start to end (waits included).');
  for (const [workflow, w] of workflows) out.histogram('trellis_run_duration_seconds', { workflow }, w.run_duration_ms);

  out.family('trellis_steps_total', 'counter', 'Steps by workflow, node and what happened (started, completed, failed, skipped, waiting).');
  for (const [workflow, w] of workflows) for (const [node, n] of Object.entries(w.nodes)) for (const [status, count] of Object.entries(n.steps)) out.sample('trellis_steps_total', { workflow, node, status }, count);
  out.family('trellis_step_retries_total', 'counter', 'Failed step attempts followed by a retry.');
  for (const [workflow, w] of workflows) for (const [node, n] of Object.entries(w.nodes)) out.sample('trellis_step_retries_total', { workflow, node }, n.retries);
  out.family('trellis_step_waits_total', 'counter', 'Waits begun by steps, by kind (approval, timer, event, child).');
  for (const [workflow, w] of workflows) for (const [node, n] of Object.entries(w.nodes)) for (const [kind, count] of Object.entries(n.waits)) out.sample('trellis_step_waits_total', { workflow, node, kind }, count);
  out.family('trellis_step_duration_seconds', 'histogram', 'Duration of completed steps.');
  for (const [workflow, w] of workflows) for (const [node, n] of Object.entries(w.nodes)) out.histogram('trellis_step_duration_seconds', { workflow, node }, n.duration_ms);

  const providers = Object.entries(metrics.providers);
  const perProvider = [
    ['trellis_provider_calls_total', 'counter', 'Requests sent to the provider.', 'calls'],
    ['trellis_provider_failures_total', 'counter', 'Requests to the provider that failed.', 'failures'],
    ['trellis_provider_rejected_total', 'counter', 'Calls refused at once because the circuit breaker was open.', 'rejected'],
    ['trellis_provider_queued_calls', 'gauge', "Calls waiting for the provider's concurrency or rate limit.", 'queued'],
    ['trellis_provider_active_calls', 'gauge', 'Calls to the provider in flight.', 'active'],
  ] as const;
  for (const [name, type, help, key] of perProvider) {
    out.family(name, type, help);
    for (const [provider, p] of providers) out.sample(name, { provider }, p[key]);
  }
  out.family('trellis_provider_circuit_state', 'gauge', 'Circuit breaker state of the provider: 1 for the state it is in, 0 for the others.');
  for (const [provider, p] of providers) for (const state of ['closed', 'open', 'half_open'] as const) out.sample('trellis_provider_circuit_state', { provider, state }, p.circuit === state ? 1 : 0);
  // Each family's samples follow its TYPE line, together: the format allows no interleaving.
  const models = providers.flatMap(([provider, p]) => Object.entries(p.models).map(([model, m]) => ({ labels: { provider, model }, m })));
  out.family('trellis_model_calls_total', 'counter', 'Calls answered, by provider and model.');
  for (const { labels, m } of models) out.sample('trellis_model_calls_total', labels, m.calls);
  out.family('trellis_model_tokens_total', 'counter', 'Tokens used, by provider, model and direction (input, output).');
  for (const { labels, m } of models) {
    out.sample('trellis_model_tokens_total', { ...labels, direction: 'input' }, m.input_tokens);
    out.sample('trellis_model_tokens_total', { ...labels, direction: 'output' }, m.output_tokens);
  }
  out.family('trellis_model_cost_usd_total', 'counter', 'USD spent on priced calls, by provider and model.');
  for (const { labels, m } of models) out.sample('trellis_model_cost_usd_total', labels, m.cost_usd);

  const r = metrics.runtime;
  const runtime = [
    ['trellis_active_runs', 'gauge', 'Runs driven by this process now.', r.active_runs],
    ['trellis_queued_calls', 'gauge', 'Model calls waiting for a provider limit now, over every provider.', r.queued_calls],
    ['trellis_lease_renewals_total', 'counter', 'Lease renewals of the runs driven here.', r.lease_renewals],
    ['trellis_lease_renewal_failures_total', 'counter', 'Lease renewals that failed.', r.lease_renewal_failures],
    ['trellis_recovery_passes_total', 'counter', 'Recovery passes (background loop and recover() calls).', r.recovery_passes],
    ['trellis_recovery_failures_total', 'counter', 'Recovery passes that failed.', r.recovery_failures],
    ['trellis_recovered_runs_total', 'counter', 'Runs taken over from dead owners.', r.recovered_runs],
  ] as const;
  for (const [name, type, help, value] of runtime) {
    out.family(name, type, help);
    out.sample(name, {}, value);
  }
  out.family('trellis_circuit_transitions_total', 'counter', 'Circuit breaker changes, by the state entered.');
  for (const [state, n] of Object.entries(r.circuit_transitions)) out.sample('trellis_circuit_transitions_total', { state }, n);
  return out.text();
}

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

function numberText(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}
