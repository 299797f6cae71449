/**
 * Trellis: durable, multi-step LLM workflows inside your own Node.js service.
 * This is the main entry point; `@trellis-ai/trellis/testing` has test fakes and the storage conformance suite,
 * `@trellis-ai/trellis/express` the HTTP router. Every name is exported one by one: what is not here is internal.
 */

// The engine, its options, and what it hands back.
export { Engine } from './engine/engine.js';
export type { CloseOptions, RunOptions, StepRunOptions, WaitOptions, WaitUntil } from './engine/engine.js';
export type { EngineOptions } from './engine/engine-options.js';
export type { TracerProviderLike } from './telemetry/resolve-tracing.js';
export type { ControlOutcome, EngineRole } from './engine/engine-role.js';
export type { LimitScope } from './engine/engine-options.js';
export type { WorkflowExecution, TraceStep, WaitingFor } from './runtime/run-view.js';
export type { ApprovalInbox, ApprovalListOptions, PendingApproval } from './engine/approval-inbox.js';
export type { TraceAttempt } from './runtime/run-view.js';
export type { WorkflowStore } from './engine/workflow-store.js';
export type { WorkflowSource, BuildsWorkflow, RunInputOf, RunOutputOf } from './definition/workflow-source.js';
export type { PromptStore, PromptInput } from './engine/prompt-store.js';
export type { ForkOptions } from './engine/replay-runs.js';
export type { RunComparison, ComparedRun, ComparedStep, AlignedStep } from './engine/run-comparison.js';
export type { ForkOverride } from './calls/replay-answers.js';
export type { DeleteRunOptions, PurgeOptions, FinishedRunStatus } from './engine/run-deletion.js';
export type { RetentionOptions, RetentionStats } from './engine/retention.js';
export type { ExportOptions, ExportedRun, ImportOptions, ImportResult, ImportCounts } from './engine/export-import.js';
export type { JsonTextSource } from './kernel/json-sections.js';
// Dead letters (failed, poison and stuck runs), retrying them as new runs, and the audit trail.
export type { RetryOptions } from './engine/run-retry.js';
export type { DeadLetter, DeadLetterPage, DeadLetterQuery, DeadLetterReason, DeadLetterStep, DeadLetters, DiscardOptions } from './engine/dead-letters.js';
export type { ActorOptions, AuditPage, AuditQuery, AuditTrail } from './engine/audit-trail.js';
export type { AuditAction, AuditEvent, AuditFilter, DeadLetterFilter } from './storage/records.js';
// Observability: metrics (as data and as Prometheus text), health probes, the logger option.
export type { EngineMetrics, WorkflowMetrics, NodeMetrics, RunCounters, StepCounters, RuntimeMetrics, HistogramSnapshot } from './engine/engine-metrics.js';
export { toPrometheusText, PROMETHEUS_CONTENT_TYPE } from './engine/prometheus-text.js';
export type { EngineHealth, HealthChecks, HealthCheck, HealthOptions } from './engine/engine-health.js';
export type { RunCountOptions } from './engine/run-counts.js';
export { consoleLogger, silentLogger } from './kernel/logger.js';
export type { Logger, LogFn } from './kernel/logger.js';
export { systemClock } from './kernel/clock.js';
export type { Clock } from './kernel/clock.js';
export { randomIds, sequentialIds } from './kernel/ids.js';
export type { IdGenerator } from './kernel/ids.js';

// Templates and bundles, as `engine.templates` and `engine.bundles`.
export type { Templates, TemplateInfo, TemplateOverrides, InstantiateOptions } from './templates/templates.js';
export type {
  Bundles,
  BundleTarget,
  PromptBundleTarget,
  StoredWorkflowTarget,
  BundleItem,
  BundleItemStatus,
  BundleProgress,
  BundleSummary,
  BundleResult,
  BundleRunOptions,
  BundleResumeOptions,
} from './bundles/bundles.js';

// The workflow definition (the JSON contract), its validation, and the builder that emits it.
export {
  WorkflowSchema,
  WorkflowNodeSchema,
  WorkflowEdgeSchema,
  WorkflowVariableSchema,
  WorkflowTriggerSchema,
  RetryPolicySchema,
  NODE_CONFIG_SCHEMAS,
  BUILTIN_NODE_TYPES,
} from './definition/definition.js';
export type {
  WorkflowDefinition,
  WorkflowDefinitionInput,
  WorkflowGraph,
  WorkflowNode,
  WorkflowEdge,
  WorkflowVariable,
  WorkflowTrigger,
  WorkflowSettings,
  RetryPolicy,
  NodeConfigs,
  BuiltinNodeType,
} from './definition/definition.js';
export { validateWorkflow, assertValidWorkflow } from './definition/validation/validation.js';
export type { ValidateWorkflowOptions, WorkflowValidationResult } from './definition/validation/validation.js';
export { workflow, isWorkflowBuilder } from './builder/builder.js';
export type {
  WorkflowBuilder,
  AnyWorkflowBuilder,
  BranchFn,
  BuilderRun,
  UntypedRun,
  WorkflowOutputs,
  WorkflowOptions,
  StepOptions,
  PromptOptions,
  PromptOutput,
  OutputSchema,
  JsonSchemaObject,
  WhenOptions,
  LoopOptions,
  ForEachOptions,
  RepeatOptions,
  WhileOptions,
  ParallelOptions,
  ApprovalOptions,
  WebhookOptions,
  SubWorkflowOptions,
  WaitForEventOptions,
  EndOptions,
  DelaySpec,
  RetryPolicyInput,
  VariableShorthand,
  VariableType,
} from './builder/builder.js';

// Expressions (CEL) and `{{path}}` placeholders, for checking or evaluating them outside a run.
export { compileExpression, evaluateExpression, EXPRESSION_FUNCTIONS } from './expressions/expressions.js';
export type { CompiledExpression, ExpressionFunction } from './expressions/expressions.js';
export { fillPlaceholders } from './expressions/placeholders.js';

// Errors: one base class with a stable code.
export {
  TrellisError,
  WorkflowValidationError,
  InvalidInputError,
  ExpressionError,
  ProviderError,
  IllegalStateError,
  MissingPackageError,
  NotFoundError,
  isTrellisError,
  RETRYABLE_CODES,
} from './kernel/errors.js';
export type { TrellisErrorCode, TrellisErrorOptions, ValidationIssue } from './kernel/errors.js';

// Events, as `engine.events`.
export type { TrellisEventEmitter, TrellisEvents, TrellisEventName, ApprovalOutcome, ApprovalRequest, WaitingApproval } from './kernel/events.js';

// The node handler port, for node types of your own, and the webhook node's options.
export { defineNode } from './nodes/node-handler.js';
export type {
  NodeHandler,
  NodeResult,
  CompletedResult,
  WaitingResult,
  IterateResult,
  StepContext,
  StepServices,
  WakeSignal,
  ArrivedInput,
} from './nodes/node-handler.js';
export { createWebhookNode } from './nodes/webhook/webhook-node.js';
export type { WebhookNodeOptions, WebhookConfig } from './nodes/webhook/webhook-node.js';
export { createHostPolicy, isPrivateAddress } from './nodes/webhook/host-policy.js';
export type { HostPolicy, HostPolicyOptions, HostPattern, HostLookup } from './nodes/webhook/host-policy.js';

// Model calls: what a node asks for and gets back, tools, prices, limits and breakers.
export type { ModelCall, ModelResult, ModelMetrics } from './calls/model-call.js';
export type { ToolDefinition, ToolContext, ToolCallRecord } from './calls/tool-loop.js';
export { DEFAULT_PRICES } from './calls/pricing.js';
export type { ModelPrice, PriceTable, UsageTotals } from './calls/pricing.js';
export type { ProviderLimits } from './calls/rate-limiter.js';
export type { CircuitBreakerOptions, CircuitState } from './calls/circuit-breaker.js';
export type { ProviderMetrics, ModelUsage } from './calls/provider-gate.js';

// The storage port, its records, and the three storages.
export type { Storage, StepCommit, CommitOutcome, RunPatch, RunExpectation } from './storage/storage.js';
export type { PurgeFilter } from './storage/storage.js';
export type { ScanOptions, VersionKey, RunScanOptions } from './storage/storage.js';
export type { RunCount, RunCountFilter, StorageHealth } from './storage/storage.js';
export type {
  RunStatus,
  StepStatus,
  StoredError,
  Waiter,
  RunRecord,
  StepRecord,
  WorkflowRecord,
  PromptRecord,
  ModelCallStatus,
  ModelCallRecord,
  BundleRecord,
  RunFilter,
  WorkflowFilter,
  ApprovalFilter,
  ApprovalWaiter,
} from './storage/records.js';
export type { Json } from './kernel/json.js';
export { MemoryStorage } from './storage/memory-storage.js';
export { SqliteStorage } from './storage/sqlite/sqlite-storage.js';
export type { SqliteStorageOptions } from './storage/sqlite/sqlite-options.js';
export { PostgresStorage } from './storage/postgres/postgres-storage.js';
export type { PostgresPoolLike, PostgresStorageOptions } from './storage/postgres/postgres-options.js';

// The provider port and its adapters.
export type {
  Provider,
  ProviderRequest,
  ProviderResponse,
  ProviderMessage,
  ProviderOptions,
  ProviderToolCall,
  ProviderToolDefinition,
  ProviderUsage,
  JsonSchema,
} from './providers/provider.js';
export { OpenAIProvider } from './providers/openai-provider.js';
export type { OpenAIProviderOptions } from './providers/openai-provider.js';
export type { SdkClientOptions } from './providers/sdk-client-options.js';
export { AnthropicProvider } from './providers/anthropic-provider.js';
export type { AnthropicProviderOptions } from './providers/anthropic-provider.js';
export { OllamaProvider } from './providers/ollama-provider.js';
export type { OllamaProviderOptions } from './providers/ollama-provider.js';
export { ScriptedProvider } from './providers/scripted-provider.js';
export type { Script, ScriptedAnswer, ScriptedProviderOptions } from './providers/scripted-provider.js';

// Triggers: schedules, webhooks and events that start runs.
export { createTriggers } from './triggers/trigger-manager.js';
export type { Triggers, TriggersOptions, EmitOptions, TriggerErrorContext } from './triggers/trigger-manager.js';
export { signWebhook, verifyWebhookSignature, deliverWebhook, SIGNATURE_HEADER } from './triggers/webhook-trigger.js';
export type { WebhookDelivery, WebhookDeliveryOptions } from './triggers/webhook-trigger.js';
export { ScheduleTriggerConfigSchema, WebhookTriggerConfigSchema, EventTriggerConfigSchema } from './triggers/trigger-config.js';
export type { ScheduleTriggerConfig, WebhookTriggerConfig, EventTriggerConfig } from './triggers/trigger-config.js';
