/** How values read on screen. Everything is rendered as React text: nothing is ever parsed as HTML. */
import type { Json } from './types';

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

export function formatCost(usd: number | undefined): string {
  if (usd === undefined) return '—';
  return usd < 0.01 && usd > 0 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

export function formatTime(iso: string | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function formatJson(value: Json | undefined): string {
  return value === undefined ? '' : JSON.stringify(value, null, 2);
}

/** The trigger of a run in a word: `manual`, `schedule`, `fork`... */
export function triggerLabel(trigger: Json | undefined): string {
  if (trigger && typeof trigger === 'object' && !Array.isArray(trigger) && typeof trigger.type === 'string') return trigger.type;
  return '—';
}
