/**
 * Trellis: durable, multi-step LLM workflows inside your own Node.js service.
 * This is the main entry point; `trellis/testing` has test fakes and `trellis/express` the HTTP router.
 */
export { Engine } from './engine/engine.js';
export type { RunOptions } from './engine/engine.js';
export type { EngineOptions, ResolvedEngineOptions } from './engine/engine-options.js';
export type { WorkflowExecution, TraceStep } from './runtime/run-view.js';
export { WorkflowStore } from './engine/workflow-store.js';
export type { WorkflowSource, BuildsWorkflow } from './engine/workflow-store.js';
export { PromptStore } from './engine/prompt-store.js';
export type { PromptInput } from './engine/prompt-store.js';
export { Templates, createTemplates, BUILTIN_TEMPLATES, PLACEHOLDER_MODEL } from './templates/templates.js';
export type { TemplateInfo, TemplateOverrides, InstantiateOptions, WorkflowTemplate, ResolvedTemplateOptions } from './templates/templates.js';
export { Bundles } from './bundles/bundles.js';
export type {
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

export {
  WorkflowSchema,
  WorkflowNodeSchema,
  WorkflowEdgeSchema,
  WorkflowVariableSchema,
  WorkflowTriggerSchema,
  RetryPolicySchema,
  NODE_CONFIG_SCHEMAS,
  BUILTIN_NODE_TYPES,
  parseProviderModel,
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

export { workflow, isWorkflowBuilder, WorkflowBuilder } from './builder/builder.js';
export type * from './builder/builder.js';

export { compileExpression, evaluateExpression, EXPRESSION_FUNCTIONS } from './expressions/expressions.js';
export type { CompiledExpression, ExpressionFunction } from './expressions/expressions.js';
export { fillPlaceholders } from './expressions/placeholders.js';

export {
  TrellisError,
  WorkflowValidationError,
  InvalidInputError,
  ExpressionError,
  ProviderError,
  IllegalStateError,
  NotFoundError,
  isTrellisError,
  RETRYABLE_CODES,
} from './kernel/errors.js';
export type { TrellisErrorCode, TrellisErrorOptions, ValidationIssue } from './kernel/errors.js';

export { createTriggers } from './triggers/trigger-manager.js';
export type { Triggers, TriggersOptions, EmitOptions, TriggerErrorContext } from './triggers/trigger-manager.js';
export { signWebhook, verifyWebhookSignature, deliverWebhook, SIGNATURE_HEADER } from './triggers/webhook-trigger.js';
export type { WebhookDelivery, WebhookDeliveryOptions } from './triggers/webhook-trigger.js';
export { ScheduleTriggerConfigSchema, WebhookTriggerConfigSchema, EventTriggerConfigSchema } from './triggers/trigger-config.js';
export type { ScheduleTriggerConfig, WebhookTriggerConfig, EventTriggerConfig } from './triggers/trigger-config.js';
export { TrellisEventEmitter } from './kernel/events.js';
export type { TrellisEvents, TrellisEventName } from './kernel/events.js';
export { systemClock } from './kernel/clock.js';
export type { Clock } from './kernel/clock.js';
export { randomIds, sequentialIds } from './kernel/ids.js';
export type { IdGenerator } from './kernel/ids.js';

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
export type { ModelCall, ModelResult, ModelMetrics } from './calls/model-call.js';
export type { ToolDefinition, ToolContext, ToolCallRecord } from './calls/tool-loop.js';
export type { ForkOverride } from './calls/replay-answers.js';
export type { ForkOptions } from './engine/replay-runs.js';
export { DEFAULT_PRICES, addUsage, usageOfRecord } from './calls/pricing.js';
export type { ModelPrice, PriceTable, UsageTotals } from './calls/pricing.js';
export type { ProviderLimits } from './calls/rate-limiter.js';
export type { CircuitBreakerOptions, CircuitState } from './calls/circuit-breaker.js';
export type { ProviderMetrics } from './calls/provider-gate.js';
export { createWebhookNode } from './nodes/webhook/webhook-node.js';
export type { WebhookNodeOptions, WebhookConfig } from './nodes/webhook/webhook-node.js';
export { createHostPolicy, isPrivateAddress } from './nodes/webhook/host-policy.js';
export type { HostPolicy, HostPolicyOptions, HostPattern, HostLookup } from './nodes/webhook/host-policy.js';

export type { Storage, StepCommit, RunPatch, RunExpectation } from './storage/storage.js';
export type * from './storage/records.js';
export type { Json } from './kernel/json.js';
export { MemoryStorage } from './storage/memory-storage.js';
export { SqliteStorage } from './storage/sqlite/sqlite-storage.js';
export type { SqliteStorageOptions } from './storage/sqlite/sqlite-options.js';
export { PostgresStorage } from './storage/postgres/postgres-storage.js';
export type { PostgresStorageOptions } from './storage/postgres/postgres-options.js';

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
export { ScriptedProvider } from './providers/scripted-provider.js';
export type { Script, ScriptedAnswer, ScriptedProviderOptions } from './providers/scripted-provider.js';
export { OpenAIProvider } from './providers/openai-provider.js';
export type { OpenAIProviderOptions } from './providers/openai-provider.js';
export { AnthropicProvider } from './providers/anthropic-provider.js';
export type { AnthropicProviderOptions } from './providers/anthropic-provider.js';
export { OllamaProvider } from './providers/ollama-provider.js';
export type { OllamaProviderOptions } from './providers/ollama-provider.js';
