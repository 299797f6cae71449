/**
 * Typed lifecycle events. Emitted only after the fact they announce is committed, so a listener
 * never sees something a crash could undo. A listener that throws never breaks a run.
 */
import { EventEmitter } from 'eventemitter3';
import { consoleLogger, type Logger } from './logger.js';

interface Base {
  readonly executionId: string;
  readonly workflowId: string;
  /** ms since epoch, from the engine's clock. */
  readonly timestamp: number;
}

interface NodeBase extends Base {
  readonly nodeId: string;
  /** Step path, e.g. `review_loop[3].approve`. */
  readonly path: string;
}

/** The answers a person may give a step waiting for approval (`engine.approve` / `engine.reject`). */
export type ApprovalOutcome = 'approve' | 'reject';

/** What a person is asked at a step waiting for approval, as events carry it. */
export interface ApprovalRequest {
  /** The node's rendered `message`, or null. */
  readonly message: string | null;
  /** What to review: the node's `data` mapping, evaluated when the step started waiting; null without one. */
  readonly data: unknown;
  /** The answers allowed. */
  readonly outcomes: readonly ApprovalOutcome[];
  /** When the wait times out (ms since epoch), if it does. */
  readonly dueAt?: number;
  /** What the timeout decides, when there is one. */
  readonly onTimeout?: 'approve' | 'reject' | 'fail';
}

/** A step waiting for approval, in `execution:paused`. */
export interface WaitingApproval extends ApprovalRequest {
  readonly nodeId: string;
  readonly path: string;
}

/** Payload of every event, by event name. */
export interface TrellisEvents {
  'execution:started': Base & { readonly input: unknown };
  'execution:completed': Base & { readonly output: unknown; readonly durationMs: number };
  /** `error.path` and `error.nodeId` name the step that failed the run, when one did (not for a run timeout). */
  'execution:failed': Base & { readonly error: { readonly code: string; readonly message: string; readonly nodeId?: string; readonly path?: string } };
  'execution:cancelled': Base & { readonly reason?: string };
  /**
   * `user`: `pause()` was called; `approval`: every live step waits for a human (an over-budget
   * call's approval included), and `approvals` says what each is asked.
   */
  /**
   * `user`: `engine.pause`; `approval`: only approvals wait; `breakpoint`: debug mode held the step
   * at `path` (the `breakpoint` entry it matched) before it started.
   */
  'execution:paused': Base & { readonly reason: 'user' | 'approval' | 'breakpoint'; readonly approvals?: readonly WaitingApproval[]; readonly path?: string; readonly breakpoint?: string };
  'execution:resumed': Base;
  'node:started': NodeBase & { readonly nodeType: string; readonly attempt: number };
  'node:completed': NodeBase & { readonly output: unknown; readonly durationMs: number };
  'node:failed': NodeBase & {
    readonly error: { readonly code: string; readonly message: string };
    readonly attempt: number;
    /** True when a retry is scheduled. */
    readonly willRetry: boolean;
  };
  'node:skipped': NodeBase & { readonly reason: string };
  /** With `kind` `approval`, also what the person is asked (`message`, `data`, `outcomes`, `onTimeout`). */
  'node:waiting': NodeBase & { readonly kind: string; readonly dueAt?: number } & Partial<ApprovalRequest>;
  'node:token': NodeBase & { readonly delta: string };
  /**
   * A provider's circuit breaker changed state (engine-wide, not tied to a run): `open` after
   * consecutive failures, `half_open` once the cool-down is over, `closed` after a success.
   */
  'provider:circuit': { readonly provider: string; readonly state: 'open' | 'half_open' | 'closed'; readonly timestamp: number };
  /** A listener threw; the run went on. */
  'listener:error': { readonly event: string; readonly error: unknown };
}

/** Name of a Trellis event. */
export type TrellisEventName = keyof TrellisEvents;

/** An event's own fields, without the run's id, workflow and time (what a run's events are built from). */
export type RunEventFields<K extends TrellisEventName> = Omit<TrellisEvents[K], 'executionId' | 'workflowId' | 'timestamp'>;

/**
 * Sees every event once, as cheaply as possible: a run's events when they are queued behind their
 * commit (no payload is built for listeners that do not exist), the others when published. The
 * engine's metrics are one. `workflowId` is undefined for engine-wide events (`provider:circuit`).
 */
export type EventObserver = (event: TrellisEventName, workflowId: string | undefined, fields: RunEventFields<TrellisEventName>) => void;

type Listener<K extends TrellisEventName> = (payload: TrellisEvents[K]) => void;

/**
 * An eventemitter3 emitter typed by {@link TrellisEvents}. The engine publishes through
 * {@link TrellisEventEmitter.publish}, which isolates listeners: one that throws is reported on
 * `listener:error` and the others still run.
 */
export class TrellisEventEmitter extends EventEmitter<{ [K in TrellisEventName]: Listener<K> }> {
  readonly #logger: Logger;
  #observer: EventObserver | undefined;

  /** `logger` is told of every `listener:error` (a listener that threw, background work that failed), listened to or not. */
  constructor(logger: Logger = consoleLogger) {
    super();
    this.#logger = logger;
  }

  /** The observer (the engine's metrics), or undefined. Internal to the engine. */
  get observer(): EventObserver | undefined {
    return this.#observer;
  }

  /** Sets the one observer. Internal to the engine. */
  observe(observer: EventObserver): void {
    this.#observer = observer;
  }

  /** Calls every listener of `event`, each in its own try/catch. The observer sees it first. */
  publish<K extends TrellisEventName>(event: K, payload: TrellisEvents[K]): boolean {
    this.#observer?.(event, (payload as { readonly workflowId?: string }).workflowId, payload);
    return this.deliver(event, payload);
  }

  /** Calls every listener of `event`, but not the observer: for events it saw when they were queued. Internal. */
  deliver<K extends TrellisEventName>(event: K, payload: TrellisEvents[K]): boolean {
    if (event === 'listener:error') {
      const failure = payload as TrellisEvents['listener:error'];
      this.#logger.error({ event: failure.event, err: failure.error }, `${failure.event} failed`);
    }
    return this.#deliver(event, payload);
  }

  #deliver<K extends TrellisEventName>(event: K, payload: TrellisEvents[K]): boolean {
    const listeners = this.listeners(event);
    if (listeners.length === 0) return false;
    for (const listener of listeners) {
      try {
        (listener as Listener<K>).call(this, payload);
      } catch (error) {
        if (event === 'listener:error') continue;
        this.#logger.error({ event, err: error }, `a listener of "${event}" threw`);
        this.#deliver('listener:error', { event, error });
      }
    }
    return true;
  }

  /** True when any listener is registered (lets the engine skip building payloads nobody reads). */
  hasListeners(): boolean {
    return this.eventNames().length > 0;
  }

  /** Resolves with the next payload of `event` that satisfies `predicate`. */
  next<K extends TrellisEventName>(event: K, predicate: (payload: TrellisEvents[K]) => boolean = () => true): Promise<TrellisEvents[K]> {
    return new Promise((resolve) => {
      const listener = (payload: TrellisEvents[K]): void => {
        if (!predicate(payload)) return;
        this.off(event, listener as never);
        resolve(payload);
      };
      this.on(event, listener as never);
    });
  }
}
