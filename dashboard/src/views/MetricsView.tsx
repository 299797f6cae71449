/**
 * Success rate, p95 duration and cost per workflow over time, from buckets the server computes over
 * stored runs (`GET <dashboard>/data/metrics`), drawn as hand-written SVG line charts.
 */
import { useState } from 'react';
import { api } from '../api';
import { ErrorNote, Section } from '../components/common';
import { formatCost, formatDuration } from '../format';
import { useLoad } from '../hooks';

interface Bucket {
  readonly workflow_id: string;
  readonly start: string;
  readonly runs: number;
  readonly success_rate: number | null;
  readonly p95_duration_ms: number | null;
  readonly cost_usd: number;
}

const RANGES = [
  ['24 hours, hourly', 24, 1],
  ['7 days, daily', 24 * 7, 24],
  ['30 days, daily', 24 * 30, 24],
] as const;

export function MetricsView() {
  const [range, setRange] = useState(1);
  const [, hours, bucketHours] = RANGES[range]!;
  const metrics = useLoad(() => api.data<{ data: Bucket[]; since: string; bucket_ms: number; truncated: boolean }>(`/metrics?hours=${hours}&bucket_hours=${bucketHours}`), [hours, bucketHours]);
  const byWorkflow = new Map<string, Bucket[]>();
  for (const b of metrics.data?.data ?? []) byWorkflow.set(b.workflow_id, [...(byWorkflow.get(b.workflow_id) ?? []), b]);
  const since = metrics.data ? Date.parse(metrics.data.since) : 0;
  const end = since + hours * 3_600_000 + (metrics.data?.bucket_ms ?? 0);
  return (
    <div>
      <h1>Metrics</h1>
      <label>
        Range{' '}
        <select value={range} onChange={(e) => setRange(Number(e.target.value))}>
          {RANGES.map(([label], i) => (
            <option key={label} value={i}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <ErrorNote error={metrics.error} />
      {metrics.data?.truncated && <p className="hint">Only the most recent runs are counted.</p>}
      {metrics.data && byWorkflow.size === 0 && <p>No runs in this range.</p>}
      {[...byWorkflow].map(([workflowId, buckets]) => (
        <Section key={workflowId} title={workflowId}>
          <p className="meta">{buckets.reduce((n, b) => n + b.runs, 0)} runs</p>
          <div className="charts">
            <Chart title="Success rate" buckets={buckets} since={since} end={end} value={(b) => b.success_rate} format={(v) => `${Math.round(v * 100)}%`} fixedMax={1} />
            <Chart title="p95 duration" buckets={buckets} since={since} end={end} value={(b) => b.p95_duration_ms} format={formatDuration} />
            <Chart title="Cost" buckets={buckets} since={since} end={end} value={(b) => b.cost_usd} format={formatCost} />
          </div>
        </Section>
      ))}
    </div>
  );
}

const W = 320;
const H = 140;
const PAD = 20;
/** Room for the y-axis labels (`100%`, `1 min 30 s`). */
const LEFT = 72;

function Chart(props: { title: string; buckets: readonly Bucket[]; since: number; end: number; value: (b: Bucket) => number | null; format: (v: number) => string; fixedMax?: number }) {
  const { title, buckets, since, end, value, format, fixedMax } = props;
  const points = buckets.flatMap((b) => {
    const v = value(b);
    return v === null ? [] : [{ t: Date.parse(b.start), v }];
  });
  const max = fixedMax ?? Math.max(0, ...points.map((p) => p.v));
  const x = (t: number) => LEFT + ((t - since) / Math.max(1, end - since)) * (W - LEFT - PAD);
  const y = (v: number) => H - PAD - (max === 0 ? 0 : (v / max) * (H - 2 * PAD));
  const last = points.at(-1);
  return (
    <figure className="chart">
      <figcaption>
        {title}: {last ? format(last.v) : '—'} (latest)
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title} over time, ${points.length} points, latest ${last ? format(last.v) : 'none'}`}>
        <line x1={LEFT} y1={H - PAD} x2={W - PAD} y2={H - PAD} className="axis-line" />
        <line x1={LEFT} y1={PAD} x2={LEFT} y2={H - PAD} className="axis-line" />
        <text x={LEFT - 4} y={PAD + 4} textAnchor="end" className="axis">
          {format(max)}
        </text>
        <text x={LEFT - 4} y={H - PAD} textAnchor="end" className="axis">
          0
        </text>
        <polyline points={points.map((p) => `${x(p.t)},${y(p.v)}`).join(' ')} className="series" />
        {points.map((p) => (
          <circle key={p.t} cx={x(p.t)} cy={y(p.v)} r={3} className="point">
            <title>{`${new Date(p.t).toLocaleString()}: ${format(p.v)}`}</title>
          </circle>
        ))}
      </svg>
    </figure>
  );
}
