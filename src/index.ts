/**
 * Trellis: durable, multi-step LLM workflows inside your own Node.js service.
 * This is the main entry point; `trellis/testing` has test fakes and `trellis/express` the HTTP router.
 */
export { Engine } from './core/engine.js';
export type { RunOptions } from './core/engine.js';
export type { EngineOptions, ResolvedEngineOptions } from './core/engine-options.js';
export type { WorkflowExecution, TraceStep } from './core/execution-record.js';
export { WorkflowStore } from './core/workflow-store.js';
export type { WorkflowSource, BuildsWorkflow } from './core/workflow-store.js';
export { PromptStore } from './core/prompt-store.js';
export type { PromptInput } from './core/prompt-store.js';
export { Templates, createTemplates, BUILTIN_TEMPLATES, PLACEHOLDER_MODEL } from './core/templates.js';
export type { TemplateInfo, TemplateOverrides, InstantiateOptions, WorkflowTemplate, ResolvedTemplateOptions } from './core/templates.js';
export { Bundles } from './core/bundles.js';
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
} from './core/bundles.js';

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
} from './core/definition.js';
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
} from './core/definition.js';
export { validateWorkflow, assertValidWorkflow } from './core/validation.js';
export type { ValidateWorkflowOptions, WorkflowValidationResult } from './core/validation.js';

export { workflow, isWorkflowBuilder, WorkflowBuilder } from './core/builder.js';
export type * from './core/builder.js';

export { compileExpression, evaluateExpression, EXPRESSION_FUNCTIONS } from './core/expressions.js';
export type { CompiledExpression, ExpressionFunction } from './core/expressions.js';
export { renderTemplate } from './core/template.js';

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
} from './core/errors.js';
export type { TrellisErrorCode, TrellisErrorOptions, ValidationIssue } from './core/errors.js';

export { createTriggers } from './triggers/trigger-manager.js';
export type { Triggers, TriggersOptions, EmitOptions, TriggerErrorContext } from './triggers/trigger-manager.js';
export { signWebhook, verifyWebhookSignature, deliverWebhook, SIGNATURE_HEADER } from './triggers/webhook-trigger.js';
export type { WebhookDelivery, WebhookDeliveryOptions } from './triggers/webhook-trigger.js';
export { ScheduleTriggerConfigSchema, WebhookTriggerConfigSchema, EventTriggerConfigSchema } from './triggers/trigger-config.js';
export type { ScheduleTriggerConfig, WebhookTriggerConfig, EventTriggerConfig } from './triggers/trigger-config.js';
export { TrellisEventEmitter } from './core/events.js';
export type { TrellisEvents, TrellisEventName } from './core/events.js';
export { systemClock } from './core/clock.js';
export type { Clock } from './core/clock.js';
export { randomIds, sequentialIds } from './core/ids.js';
export type { IdGenerator } from './core/ids.js';

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
export type { ModelCall, ModelResult, ModelMetrics } from './core/model-call.js';
export type { ToolDefinition, ToolContext, ToolCallRecord } from './core/tool-loop.js';
export type { ForkOptions, ForkOverride } from './core/replay.js';
export { DEFAULT_PRICES, addUsage, usageOfRecord } from './providers/pricing.js';
export type { ModelPrice, PriceTable, UsageTotals } from './providers/pricing.js';
export type { ProviderLimits } from './providers/rate-limiter.js';
export type { CircuitBreakerOptions, CircuitState } from './providers/circuit-breaker.js';
export type { ProviderMetrics } from './providers/provider-gate.js';
export { createWebhookNode } from './nodes/webhook-node.js';
export type { WebhookNodeOptions, WebhookConfig } from './nodes/webhook-node.js';
export { createHostPolicy, isPrivateAddress } from './nodes/host-policy.js';
export type { HostPolicy, HostPolicyOptions, HostPattern, HostLookup } from './nodes/host-policy.js';

export type { Storage, StepCommit, RunPatch, RunExpectation } from './storage/storage.js';
export type * from './storage/records.js';
export { MemoryStorage } from './storage/memory-storage.js';
export { SqliteStorage } from './storage/sqlite-storage.js';
export type { SqliteStorageOptions } from './storage/sqlite-storage.js';
export { PostgresStorage } from './storage/postgres-storage.js';
export type { PostgresStorageOptions } from './storage/postgres-storage.js';

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
