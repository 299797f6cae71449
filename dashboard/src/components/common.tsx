/** Small pieces every view uses. */
import type { ReactNode } from 'react';
import { formatJson } from '../format';
import type { Json } from '../types';

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge status-${status}`}>{status}</span>;
}

/** JSON as text in a scrollable block: a model's answer holding HTML shows as the characters it is. */
export function JsonBlock({ value, label }: { value: Json | undefined; label: string }) {
  return (
    <pre className="json" aria-label={label} tabIndex={0}>
      {value === undefined ? '—' : typeof value === 'string' ? value : formatJson(value)}
    </pre>
  );
}

export function ErrorNote({ error }: { error: Error | undefined }) {
  if (!error) return null;
  return (
    <p role="alert" className="error">
      {error.message}
    </p>
  );
}

export function Section({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <section className="card" aria-label={title}>
      <div className="card-head">
        <h2>{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  );
}
