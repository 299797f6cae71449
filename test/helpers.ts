/** Shared test helpers: an engine on memory storage with a scripted provider and a fake clock. */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Engine, type EngineOptions, MemoryStorage, ScriptedProvider, type Script, sequentialIds, type TrellisEventName } from '../src/index.js';
import { FakeClock } from '../src/testing/index.js';

export function makeEngine(script: Script = () => 'ok', extra: Partial<EngineOptions> = {}) {
  const clock = new FakeClock();
  const storage = new MemoryStorage();
  const mock = new ScriptedProvider(script);
  const engine = new Engine({ storage, providers: { mock }, clock, ids: sequentialIds(), random: () => 0, ...extra });
  return { engine, mock, clock, storage };
}

/** Records every event name (and path, for node events) in order. */
export function recordEvents(engine: Engine, names: readonly TrellisEventName[]): string[] {
  const seen: string[] = [];
  for (const name of names) {
    engine.events.on(name, ((payload: { path?: string }) => void seen.push(payload.path ? `${name} ${payload.path}` : name)) as never);
  }
  return seen;
}

/** Minimal node JSON with defaults filled in. */
export function node(id: string, type: string, config: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return { id, type, name: id, position: { x: 0, y: 0 }, config, inputs: [], outputs: [], ...extra };
}

export function edge(source: string, target: string, extra: Record<string, unknown> = {}) {
  return { id: `e_${source}_${target}`, source_node_id: source, target_node_id: target, source_output: 'out', target_input: 'in', ...extra };
}

/** Waits until `predicate` holds, letting I/O and timers run (real time, bounded generously: a busy machine is slow, and only a failing test waits this long). */
export async function until(predicate: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!(await predicate())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A scripted answer that takes `delayMs` and records how many calls were in flight at once. */
export function concurrencyProbe(delayMs = 3): { answer: () => Promise<string>; readonly peak: number } {
  let live = 0;
  const probe = {
    peak: 0,
    answer: async (): Promise<string> => {
      live++;
      probe.peak = Math.max(probe.peak, live);
      await new Promise((r) => setTimeout(r, delayMs));
      live--;
      return 'x';
    },
  };
  return probe;
}

/**
 * Serves `app` (an Express app) on 127.0.0.1 at a free port; `cleanups` gets what closes it.
 * Resolves with the base URL, e.g. `http://127.0.0.1:41234`.
 */
export async function serveOnLoopback(app: { listen(port: number, host: string): Server }, cleanups: (() => unknown)[]): Promise<string> {
  const server = app.listen(0, '127.0.0.1');
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
