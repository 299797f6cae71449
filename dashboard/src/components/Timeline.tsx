/** The steps of a run on a time axis (Gantt-style), drawn as SVG; a running step reaches to now. */
import { formatDuration } from '../format';
import type { TraceStep } from '../types';

const ROW = 22;
const LABEL = 180;
const WIDTH = 760;

export function Timeline({ steps, now, onSelect }: { steps: readonly TraceStep[]; now: number; onSelect: (step: TraceStep) => void }) {
  const timed = steps.filter((s) => s.started_at);
  if (timed.length === 0) return <p>No step has started yet.</p>;
  const start = (s: TraceStep) => Date.parse(s.started_at);
  const end = (s: TraceStep) => (s.completed_at ? Date.parse(s.completed_at) : s.status === 'running' || s.status === 'waiting' ? now : start(s));
  const t0 = Math.min(...timed.map(start));
  const t1 = Math.max(t0 + 1, ...timed.map(end));
  const scale = (WIDTH - LABEL - 10) / (t1 - t0);
  const height = timed.length * ROW + 24;
  return (
    <svg className="timeline" viewBox={`0 0 ${WIDTH} ${height}`} role="img" aria-label={`Timeline of ${timed.length} steps over ${formatDuration(t1 - t0)}`}>
      {timed.map((s, i) => {
        const x = LABEL + (start(s) - t0) * scale;
        const w = Math.max(2, (end(s) - start(s)) * scale);
        return (
          <g key={`${s.path}#${s.attempt}`} transform={`translate(0 ${i * ROW})`} className={`bar status-${s.status}`} onClick={() => onSelect(s)}>
            <title>{`${s.path}: ${s.status}, ${formatDuration(s.duration_ms ?? end(s) - start(s))}`}</title>
            <text x={4} y={15} className="bar-label">
              {s.path.length > 26 ? `${s.path.slice(0, 25)}…` : s.path}
            </text>
            <rect x={x} y={4} width={w} height={ROW - 8} rx={3} />
          </g>
        );
      })}
      <text x={LABEL} y={height - 6} className="axis">
        0
      </text>
      <text x={WIDTH - 10} y={height - 6} textAnchor="end" className="axis">
        {formatDuration(t1 - t0)}
      </text>
    </svg>
  );
}
