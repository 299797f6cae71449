/**
 * The shapes of a model call: what a step asks for, what it gets back, who is calling, and the
 * caller's settings. Kept apart from the caller so its parts (attempts, records, requests) can
 * import them without a circle.
 */
import type { FleetLimitParts } from './fleet-limiter.js';
import type { ProviderOptions, Provider, JsonSchema } from '../providers/provider.js';
import type { PriceTable } from './pricing.js';
import type { CircuitBreakerOptions } from './circuit-breaker.js';
import type { ProviderMetrics } from './provider-gate.js';
import type { ProviderLimits } from './rate-limiter.js';
import type { ModelCallRecord } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { RunBudget, UsageSoFar } from './call-budget.js';
import type { Clock } from '../kernel/clock.js';
import type { TrellisEventEmitter } from '../kernel/events.js';
import type { IdGenerator } from '../kernel/ids.js';
import type { LoadCalls } from './run-calls.js';
import type { ToolCallRecord, ToolDefinition } from './tool-loop.js';
import type { Tracing, TraceScope } from '../telemetry/tracing.js';

/** What a step asks for. */
export interface ModelCall {
  /** `provider:model`. */
  readonly providerModel: string;
  readonly prompt: string;
  readonly system?: string;
  readonly options?: ProviderOptions;
  readonly outputSchema?: JsonSchema;
  /** Models tried in order when the primary fails with a retryable error (or its breaker is open). */
  readonly fallback?: readonly string[];
  /** Stream tokens to `node:token` events. */
  readonly stream?: boolean;
  /** Names of host tools (engine option `tools`) the model may call. */
  readonly tools?: readonly string[];
  /** Model turns that may call tools before the step fails. @default 5 */
  readonly maxToolSteps?: number;
  /** Renders a template in the step's context: lets a fork replace the node's template. */
  readonly render?: (template: string) => string;
}

/** What the step gets back. */
export interface ModelResult {
  readonly text: string;
  /** The parsed answer when it is a JSON object or array (always, with an output schema). */
  readonly json?: Json;
  /** Tokens of every provider call this model call made (tool turns and re-asks included). */
  readonly usage: { readonly input_tokens: number; readonly output_tokens: number };
  /** USD of those calls; absent when one of them used a model without a known price. */
  readonly cost_usd?: number;
  /** The `provider:model` that answered. */
  readonly model: string;
  /** Id of the record of the call that answered. */
  readonly callId: string;
  /** Tools the model called, with their arguments and results, in order. */
  readonly toolCalls?: readonly ToolCallRecord[];
  /** The prompt actually sent, when a fork override replaced the node's template. */
  readonly prompt?: string;
}

/** Identifies the step making the call. */
export interface CallSite {
  readonly runId: string;
  readonly nodeId: string;
  readonly path: string;
  readonly attempt: number;
  readonly idempotencyKey: string;
  readonly signal: AbortSignal;
  onToken(delta: string): void;
  /** Receives each call record, to be committed with the step. */
  readonly record: (record: ModelCallRecord) => void;
  /**
   * The run's committed usage so far (the caller adds the turns of the current call).
   * @default what the caller counted for the run, plus its committed records after a recovery
   */
  readonly usageSoFar?: () => UsageSoFar | Promise<UsageSoFar>;
  /** The run's budget. @default the workflow's `settings.budget` of a run attached with `attachRun` */
  readonly budget?: RunBudget;
  /** An approver allowed this attempt's over-budget call: no budget is checked. @default false */
  readonly budgetWaived?: boolean;
  /**
   * A request reached the provider: `failed(error)` makes its failed record. Returns what to call
   * once it is answered or has failed. A site whose step can be aborted mid-call (the runtime's)
   * uses it to record the call at the abort itself: the step settles then, before the provider's
   * rejection arrives, and a paid call must not vanish from the run's records.
   */
  sending?(failed: (error: unknown) => ModelCallRecord): () => void;
  /** The calling step's span: the parent of the call's `chat` and `execute_tool` spans. @default not traced */
  readonly trace?: TraceScope | undefined;
}

/** Settings of the model caller. */
export interface ModelCallerOptions {
  readonly providers: ReadonlyMap<string, Provider>;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  /** How many times a malformed structured answer is re-asked before the step fails. @default 2 */
  readonly structuredRetries: number;
  /** @default DEFAULT_PRICES */
  readonly prices?: PriceTable;
  /** Limits by provider name. */
  readonly limits?: ReadonlyMap<string, ProviderLimits>;
  /** Keep `limits` in this shared storage, for the whole fleet; undefined keeps them in this process. */
  readonly fleetLimits?: FleetLimitParts | undefined;
  /** `false` turns breakers off. @default { failureThreshold: 5, cooldownMs: 30000 } */
  readonly circuitBreaker?: Required<CircuitBreakerOptions> | false;
  /** Host tools by name. */
  readonly tools?: ReadonlyMap<string, ToolDefinition>;
  /** Where `provider:circuit` events go. */
  readonly events?: TrellisEventEmitter;
  /** Loads a run's call records (replay sources; budgets of recovered runs). */
  readonly calls?: LoadCalls;
  /** The engine's spans; undefined when it does not trace. */
  readonly tracing?: Tracing | undefined;
}

/** Counters and breaker state by provider, from `metrics()`. */
export interface ModelMetrics {
  readonly providers: Readonly<Record<string, ProviderMetrics>>;
}
