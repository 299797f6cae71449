/**
 * The records Storage keeps. Run state is stored as facts: one row per run, one row per step
 * (keyed by its step path), so committing a step never rewrites the run's whole context.
 */
import type { WorkflowDefinition } from '../definition/definition.js';
import type { Json } from '../kernel/json.js';

/** Status of a workflow run. */
export type RunStatus = 'pending' | 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';

/** Status of one step (one node, at one loop/branch position, in one run). */
export type StepStatus = 'pending' | 'running' | 'waiting' | 'completed' | 'failed' | 'skipped';


/** An error as persisted. */
export interface StoredError {
  readonly code: string;
  readonly message: string;
}

/** What a waiting step waits for. Waiting is data: nothing waits in memory. */
export interface Waiter {
  readonly kind: 'approval' | 'timer' | 'event' | 'child' | 'retry';
  /** When the timer fires (timers, retries, approval/event timeouts), ms since epoch. */
  readonly due_at?: number;
  /** Event name for `event` waits. */
  readonly event?: string;
  /** Child run id for `child` waits. */
  readonly child_id?: string;
  readonly detail?: Json;
}

/** One run of a workflow. */
export interface RunRecord {
  readonly id: string;
  readonly workflow_id: string;
  readonly workflow_version: number;
  readonly status: RunStatus;
  readonly input_data: Json;
  readonly variables: Json;
  readonly output_data?: Json;
  readonly error_message?: string;
  readonly created_at: number;
  readonly started_at?: number;
  readonly completed_at?: number;
  /** Engine instance currently advancing the run. */
  readonly owner?: string;
  /**
   * Until when the owner's claim holds (ms since epoch). On an unowned run: when it needs a driver
   * again. A parked run (one that only waits, let go from memory) holds its nearest timer's due
   * time here, or Number.MAX_SAFE_INTEGER when only a wake-up (approval, event, resume) moves it.
   */
  readonly lease_expires_at?: number;
  /** Bumped on every status change; compare-and-set target. */
  readonly revision: number;
  /** How many times recovery picked the run up without it progressing (poison-run guard). */
  readonly recovery_count: number;
  readonly parent_id?: string;
  readonly parent_step_path?: string;
  readonly trigger?: Json;
  readonly idempotency_key?: string;
  readonly usage?: Json;
  /** The failed run this run retries (`engine.retry`); at most one run retries a given run. */
  readonly retry_of?: string;
  /** When the run was taken off the dead-letter list (`engine.deadLetters.discard`), ms since epoch. */
  readonly discarded_at?: number;
  /**
   * W3C `traceparent` of the run's first `workflow.run` span, when the engine that started it
   * traced: a process that takes the run over links its own span to it. Set once, at creation.
   */
  readonly trace_context?: string;
  /**
   * Debug mode: the step paths (or node ids) the run pauses before (see `RunOptions.breakpoints`).
   * Set once, at creation; stored with the run so a process that recovers it stops there too.
   */
  readonly breakpoints?: readonly string[];
}

/** One step of a run: a node at a path such as `review_loop[3].approve`. */
export interface StepRecord {
  readonly run_id: string;
  /** Step path: node id, prefixed with its enclosing loop scopes (`loop[2].node`). */
  readonly path: string;
  readonly node_id: string;
  /** Order in which the step started, for the trace. */
  readonly seq: number;
  readonly status: StepStatus;
  readonly attempt: number;
  readonly input_data?: Json;
  readonly output_data?: Json;
  /** Outputs (edge `source_output` names) the node fired; absent means its default output. */
  readonly fired?: readonly string[];
  /** Handler-private state, e.g. a loop's iteration counter. */
  readonly state?: Json;
  readonly error?: StoredError;
  readonly waiter?: Waiter;
  /**
   * The id of the record of the model call this step made, if any. Named as its storage column
   * (`execution_id`, from the original schema); the run view calls it `call_id`.
   */
  readonly execution_id?: string;
  readonly started_at: number;
  readonly completed_at?: number;
  readonly duration_ms?: number;
}

/** A stored workflow version. */
export interface WorkflowRecord {
  readonly id: string;
  readonly version: number;
  readonly name: string;
  readonly status: WorkflowDefinition['status'];
  readonly tags: readonly string[];
  readonly definition: WorkflowDefinition;
  readonly created_at: number;
  readonly deleted?: boolean;
}

/** A versioned prompt template. */
export interface PromptRecord {
  readonly id: string;
  readonly version: number;
  readonly name: string;
  readonly template: string;
  readonly system?: string;
  readonly variables: readonly string[];
  readonly provider_model?: string;
  readonly created_at: number;
}

/** Status of one LLM call. */
export type ModelCallStatus = 'pending' | 'running' | 'completed' | 'failed';

/** One LLM call, linked to its run and node. */
export interface ModelCallRecord {
  readonly id: string;
  readonly status: ModelCallStatus;
  readonly provider_model: string;
  readonly workflow_execution_id?: string;
  readonly workflow_node_id?: string;
  readonly step_path?: string;
  readonly attempt?: number;
  readonly idempotency_key?: string;
  readonly request: Json;
  readonly response?: Json;
  readonly usage?: Json;
  readonly cost_usd?: number;
  readonly error?: StoredError;
  readonly created_at: number;
  readonly started_at?: number;
  readonly completed_at?: number;
  readonly duration_ms?: number;
}

/** A bundle: many inputs run as one unit. */
export interface BundleRecord {
  readonly id: string;
  readonly target: Json;
  readonly status: 'running' | 'completed' | 'failed' | 'cancelled';
  readonly items: readonly { readonly index: number; readonly input: Json; readonly run_id?: string; readonly status: string; readonly output?: Json; readonly error?: string }[];
  readonly created_at: number;
  readonly completed_at?: number;
}

/** Filters for listing runs. */
export interface RunFilter {
  readonly workflow_id?: string;
  readonly status?: RunStatus | readonly RunStatus[];
  readonly created_after?: number;
  readonly created_before?: number;
  /** Only the run that retries this run (see `RunRecord.retry_of`). */
  readonly retry_of?: string;
  readonly limit?: number;
  readonly offset?: number;
}

/** A step waiting for a person's approval, with its run's workflow (see `Storage.findApprovalWaiters`). */
export interface ApprovalWaiter {
  readonly step: StepRecord;
  readonly workflow_id: string;
  readonly workflow_version: number;
}

/** Filters for listing the steps that wait for approval. */
export interface ApprovalFilter {
  /** Only runs of this workflow. */
  readonly workflow_id?: string;
  readonly limit?: number;
  readonly offset?: number;
}

/** Filters for listing workflows (latest version of each). */
export interface WorkflowFilter {
  readonly status?: WorkflowDefinition['status'];
  readonly tag?: string;
  readonly name?: string;
  readonly limit?: number;
  readonly offset?: number;
}

/** What an audit event records: a change someone made, and to what. */
export type AuditAction =
  | 'workflow.created'
  | 'workflow.updated'
  | 'workflow.rolled_back'
  | 'workflow.deleted'
  | 'run.started'
  | 'run.approved'
  | 'run.rejected'
  | 'run.cancelled'
  | 'run.paused'
  | 'run.resumed'
  | 'run.stepped'
  | 'run.retried'
  | 'run.discarded'
  | 'run.deleted';

/** One entry of the audit trail: appended with the change it records, never rewritten. */
export interface AuditEvent {
  /** Unique; made by the engine's id generator. */
  readonly id: string;
  /** When the change was made, ms since epoch on the engine's clock. */
  readonly at: number;
  /** Who made it: the router's principal, or the `actor` passed to the engine method (`system` when none). */
  readonly actor: string;
  readonly action: AuditAction;
  /** What was changed: `workflow` or `run`. */
  readonly subject_type: 'workflow' | 'run';
  readonly subject_id: string;
  /** The workflow version before the change, when a definition changed. */
  readonly before_version?: number;
  /** The workflow version after the change, when a definition changed. */
  readonly after_version?: number;
  /** Anything else worth keeping (a reason, the step path, the run a retry made). */
  readonly detail?: Json;
}

/** Filters for listing audit events, newest first. */
export interface AuditFilter {
  readonly subject_type?: 'workflow' | 'run';
  readonly subject_id?: string;
  readonly actor?: string;
  /** Events at or after this time (ms since epoch). */
  readonly since?: number;
  /** Events before this time (ms since epoch). */
  readonly until?: number;
  /** Events strictly after this one in the listing order (its `at` and `id`): the next page. */
  readonly after?: { readonly at: number; readonly id: string };
  readonly limit: number;
}

/** Filters for {@link Storage.findDeadLetters}, newest first (`created_at`, then `id` descending). */
export interface DeadLetterFilter {
  readonly workflow_id?: string;
  /** Runs still `pending` or `running` that were created before this time count as stuck; absent: none do. */
  readonly stuck_before?: number;
  /** Runs strictly after this one in the listing order: the next page. */
  readonly after?: { readonly created_at: number; readonly id: string };
  readonly limit: number;
}
