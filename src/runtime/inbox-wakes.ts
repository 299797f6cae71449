/**
 * What the run inbox carries besides events: an approval or rejection, or a pause, resume or
 * cancel, asked on a process that does not drive the run (a submit-only engine, or any engine
 * while another live process drives the run). It travels as a delivered event under a reserved
 * name, addressed to the step's path (a run-wide request to the path ''), and the run's owner
 * turns it back into the wake-up or the call it stands for.
 */
import type { WakeSignal } from '../nodes/node-handler.js';
import type { Json } from '../kernel/json.js';
import type { StepRecord } from '../storage/records.js';
import type { DeliveredEvent } from '../storage/storage.js';

/** The inbox name of an approval decision (`engine.emit` of this name reaches only event waiters, never an approval step). */
export const APPROVAL_INBOX_EVENT = 'trellis:approval';

/**
 * The inbox name of a child run's end, left for its parent when another live process drives the
 * parent (the child ran elsewhere, e.g. both were taken on by different workers after a crash).
 */
export const CHILD_INBOX_EVENT = 'trellis:child';

/** The inbox name of a pause, resume or cancel asked on a process that does not drive the run. */
export const CONTROL_INBOX_EVENT = 'trellis:control';

/** The path a run-wide request ({@link CONTROL_INBOX_EVENT}) is addressed to: no step has it. */
export const RUN_PATH = '';

/** Whether an inbox item is one of the engine's own (an approval decision, a child's end, a control request) rather than a host's event. */
export function isReserved(event: string): boolean {
  return event === APPROVAL_INBOX_EVENT || event === CHILD_INBOX_EVENT || event === CONTROL_INBOX_EVENT;
}

/** A pause, resume or cancel left for the run's driver. */
export type RunControlRequest = { readonly action: 'pause' | 'resume' } | { readonly action: 'cancel'; readonly reason: string };

/** The payload a control request is stored with. */
export function controlPayload(request: RunControlRequest): Json {
  return { ...request };
}

/** The control request an inbox item carries; undefined for any other item, or one not in this form. */
export function controlRequest(item: DeliveredEvent): RunControlRequest | undefined {
  if (item.event !== CONTROL_INBOX_EVENT) return undefined;
  const payload = item.payload as { action?: unknown; reason?: unknown } | null;
  const action = payload?.action;
  if (action === 'pause' || action === 'resume') return { action };
  if (action === 'cancel') return { action, reason: typeof payload?.reason === 'string' ? payload.reason : 'cancelled by request' };
  return undefined;
}

type ApprovalSignal = Extract<WakeSignal, { kind: 'approval' }>;
type ChildSignal = Extract<WakeSignal, { kind: 'child' }>;

/** The payload a child's end is stored with. */
export function childPayload(signal: ChildSignal): Json {
  return { status: signal.status, ...(signal.output === undefined ? {} : { output: signal.output }), ...(signal.error === undefined ? {} : { error: signal.error }) };
}

/** The payload an approval decision is stored with. */
export function approvalPayload(signal: ApprovalSignal): Json {
  return { approved: signal.approved, ...(signal.data === undefined ? {} : { data: signal.data }), ...(signal.reason === undefined ? {} : { reason: signal.reason }) };
}

/**
 * The wake-up a delivered item stands for, when `step` still waits for it; undefined when it no
 * longer applies (woken already, or waiting for something else). `accepts` reads an event's filter.
 */
export function inboxWake(step: StepRecord | undefined, item: DeliveredEvent, accepts: () => boolean): WakeSignal | undefined {
  if (step?.status !== 'waiting') return undefined;
  if (item.event === APPROVAL_INBOX_EVENT) {
    if (step.waiter?.kind !== 'approval') return undefined;
    const payload = item.payload as { approved?: unknown; data?: Json; reason?: unknown };
    return { kind: 'approval', approved: payload.approved === true, ...(payload.data === undefined ? {} : { data: payload.data }), ...(typeof payload.reason === 'string' ? { reason: payload.reason } : {}) };
  }
  if (item.event === CHILD_INBOX_EVENT) {
    if (step.waiter?.kind !== 'child') return undefined;
    const payload = item.payload as { status: ChildSignal['status']; output?: Json; error?: string };
    return { kind: 'child', status: payload.status, ...(payload.output === undefined ? {} : { output: payload.output }), ...(payload.error === undefined ? {} : { error: payload.error }) };
  }
  if (step.waiter?.kind === 'event' && step.waiter.event === item.event && accepts()) return { kind: 'event', payload: item.payload };
  return undefined;
}
