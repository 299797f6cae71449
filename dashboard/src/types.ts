/** The JSON shapes of the REST API the page reads (see src/runtime/run-view.ts and src/express/route-helpers.ts). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type RunStatus = 'pending' | 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';

export interface Page<T> {
  readonly data: T[];
  readonly pagination: { readonly limit: number; readonly offset: number; readonly has_more: boolean };
}

export interface RunSummary {
  readonly id: string;
  readonly workflow_id: string;
  readonly workflow_version: number;
  readonly status: RunStatus;
  readonly error_message?: string;
  readonly trigger?: Json;
  readonly parent_id?: string;
  readonly created_at: string;
  readonly started_at?: string;
  readonly completed_at?: string;
  readonly duration_ms?: number;
  readonly cost_usd?: number;
}

export interface WaitingFor {
  readonly kind: string;
  readonly due_at?: string;
  readonly message?: string | null;
  readonly data?: Json;
  readonly outcomes?: readonly string[];
}

export interface TraceStep {
  readonly node_id: string;
  readonly node_name: string;
  readonly node_type: string;
  readonly path: string;
  readonly status: 'pending' | 'running' | 'waiting' | 'completed' | 'failed' | 'skipped' | 'cancelled';
  readonly attempt: number;
  readonly input_data: Json;
  readonly output_data?: Json;
  readonly error_message?: string;
  readonly error_code?: string;
  readonly call_id?: string;
  readonly waiting_for?: WaitingFor;
  readonly attempts?: readonly { readonly attempt: number; readonly error: { readonly code: string; readonly message: string }; readonly started_at: string; readonly failed_at: string }[];
  readonly started_at: string;
  readonly completed_at?: string;
  readonly duration_ms?: number;
}

export interface Execution extends Omit<RunSummary, 'cost_usd'> {
  readonly input_data: Json;
  readonly output_data?: Json;
  readonly usage?: { readonly input_tokens?: number; readonly output_tokens?: number; readonly cost_usd?: number; readonly calls?: number };
  readonly progress: { readonly completed_nodes: number; readonly total_nodes: number; readonly current_step?: string };
  readonly execution_trace: readonly TraceStep[];
  /** Debug mode: the breakpoints the run was started with (node ids or step paths). */
  readonly breakpoints?: readonly string[];
  /** The step paths a paused run holds before they start, oldest first (Step runs the first). */
  readonly paused_before?: readonly string[];
}

export interface WorkflowNode {
  readonly id: string;
  readonly type: string;
  readonly name: string;
  readonly position?: { readonly x: number; readonly y: number };
  readonly config: Record<string, Json>;
}

export interface WorkflowEdge {
  readonly id: string;
  readonly source_node_id: string;
  readonly target_node_id: string;
  readonly source_output?: string;
  readonly condition?: string;
}

export interface WorkflowVariable {
  readonly name: string;
  readonly type: 'string' | 'number' | 'boolean' | 'object' | 'array' | 'any';
  readonly default_value?: Json;
  readonly description?: string;
  readonly required?: boolean;
}

export interface Workflow {
  readonly id: string;
  readonly version: number;
  readonly name: string;
  readonly description?: string;
  readonly status: string;
  readonly tags?: readonly string[];
  readonly created_at: string;
  readonly definition: { readonly nodes: readonly WorkflowNode[]; readonly edges: readonly WorkflowEdge[]; readonly variables?: readonly WorkflowVariable[] } & Record<string, Json | undefined>;
}

export interface ModelCall {
  readonly id: string;
  readonly status: string;
  readonly provider_model: string;
  readonly workflow_node_id?: string;
  readonly step_path?: string;
  readonly attempt?: number;
  readonly request: Json;
  readonly response?: Json;
  readonly usage?: Json;
  readonly cost_usd?: number;
  readonly error?: Json;
  readonly created_at: string;
  readonly duration_ms?: number;
}

export interface Approval {
  readonly execution_id: string;
  readonly workflow_id: string;
  readonly path: string;
  readonly node_id: string;
  readonly message?: string | null;
  readonly data?: Json;
  readonly outcomes?: readonly string[];
  readonly workflow_version: number;
  readonly due_at?: string;
  readonly since: string;
  /** Answered on another process; waits for the process driving the run to apply it. */
  readonly answered?: true;
}
