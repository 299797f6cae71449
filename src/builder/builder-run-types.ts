/**
 * What the builder knows, at type level, about the runs of the workflow it builds: the input they
 * take (from the declared variables) and the `output_data` they give (from the `end` steps). The
 * engine reads it through the builder's `~run` member (definition/workflow-source.ts), so
 * `engine.run(wf, {})` does not compile when `wf` requires a `ticket`. Types only.
 */
import type { Json } from '../kernel/json.js';
import type { VariableType } from './builder-types.js';

/** The run facts a builder carries in its second type parameter. */
export interface BuilderRun {
  /** What `engine.run` / `start` take as input. */
  readonly input: object;
  /** What expressions see under `input` and `variables`: the input with defaults filled in. */
  readonly scope: object;
  /** The outputs of the top-level `end` steps declared so far (`never`: none). */
  readonly ends: unknown;
  /** Outputs that end the run from any depth: a rejection with no `onReject` (`never`: none). */
  readonly halts: unknown;
  /** Whether every path of the chain ends at an `end`; else `build()` adds one that gives the last step's output. */
  readonly ended: boolean;
  /** Whether an `onReject` branch that does not end leaves this chain past its last step, so no `end` of it can close it. */
  readonly leaks: boolean;
  /** The run's `output_data`: the ends and halts, and any JSON unless `ended`. Kept here, not derived, so `R` stays covariant. */
  readonly output: unknown;
}

/** Run facts from their parts, with the `output_data` they make. */
interface Run<R extends BuilderRun, Ends, Halts, Ended extends boolean, Leaks extends boolean> {
  readonly input: R['input'];
  readonly scope: R['scope'];
  readonly ends: Ends;
  readonly halts: Halts;
  readonly ended: Ended;
  readonly leaks: Leaks;
  readonly output: Ended extends true ? Ends | Halts : Ends | Halts | Json;
}

/** The run facts of a workflow that declares no variables (any input) and has no `end` yet. */
export interface UntypedRun {
  readonly input: Record<string, unknown>;
  readonly scope: Record<string, unknown>;
  readonly ends: never;
  readonly halts: never;
  readonly ended: false;
  readonly leaks: false;
  readonly output: Json;
}

/** What the builder hands the engine: the input its runs take and the `output_data` they give. */
export interface RunTypesOf<R extends BuilderRun> {
  readonly input: R['input'];
  readonly output: R['output'];
}

/** What a rejection with no `onReject` makes the run give (planner/termination.ts). */
export interface RejectedOutput {
  rejected: { step: string; reason: string | null };
}

/** The JS type of a declared variable type. */
interface VariableValues {
  string: string;
  number: number;
  boolean: boolean;
  object: Record<string, unknown>;
  array: unknown[];
  any: unknown;
}

/** A variable declaration in any of its forms: a type name, or an object with `type`. */
type ValueOf<V> = V extends VariableType ? VariableValues[V] : V extends { readonly type: infer X extends VariableType } ? VariableValues[X] : unknown;
type HasDefault<V> = V extends { readonly default_value: infer D } ? ([D] extends [undefined] ? false : true) : false;
/** A caller may leave it out: it has a default, or says `required: false`. */
type MayOmit<V> = HasDefault<V> extends true ? true : V extends { readonly required: false } ? true : false;
/** Absent from the scope: left out, with no default to fill in. */
type MayBeAbsent<V> = HasDefault<V> extends true ? false : MayOmit<V>;

type ByName<V> = V extends readonly (infer E)[]
  ? { readonly [P in E as P extends { readonly name: infer N extends string } ? N : never]: P }
  : V;

/** Object with required keys where `Opt` says false and optional keys where it says true. */
type Shape<D, Opt extends 'omit' | 'absent'> = Simplify<
  { [K in keyof D as (Opt extends 'omit' ? MayOmit<D[K]> : MayBeAbsent<D[K]>) extends true ? never : K]: ValueOf<D[K]> } & {
    [K in keyof D as (Opt extends 'omit' ? MayOmit<D[K]> : MayBeAbsent<D[K]>) extends true ? K : never]?: ValueOf<D[K]>;
  }
>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** Declarations whose names TypeScript cannot see (a `string` key) say nothing about the input. */
type Known<D> = string extends keyof D ? false : true;

/**
 * The run facts of `workflow(name, { variables: V, additional_input: A })`. Undeclared keys are
 * allowed only with `additional_input: true`, or when nothing is declared.
 */
export type RunOfVariables<V, A> = [V] extends [undefined]
  ? UntypedRun
  : Known<ByName<V>> extends false
    ? UntypedRun
    : keyof ByName<V> extends never
      ? UntypedRun
      : {
          readonly input: A extends true ? Shape<ByName<V>, 'omit'> & Record<string, unknown> : Shape<ByName<V>, 'omit'>;
          readonly scope: A extends true ? Shape<ByName<V>, 'absent'> & Record<string, unknown> : Shape<ByName<V>, 'absent'>;
          readonly ends: never;
          readonly halts: never;
          readonly ended: false;
          readonly leaks: false;
          readonly output: Json;
        };

/** `R` after an `end` whose output is `O`: the chain has ended, unless an `onReject` leaves it. */
export type EndedRun<R extends BuilderRun, O> = Run<R, R['ends'] | O, R['halts'], R['leaks'] extends true ? false : true, R['leaks']>;

/**
 * `R` after a step with branches `B` (a union): their `end`s and halts count, and it ended if every
 * branch did. `R` itself when no branch added any, so plain branches leave the type as it was.
 */
export type AfterBranches<R extends BuilderRun, B extends BuilderRun> = [Exclude<B['ends'] | B['halts'], R['ends'] | R['halts']>] extends [never]
  ? R
  : Run<R, R['ends'] | B['ends'], R['halts'] | B['halts'], false extends B['ended'] ? false : true, R['leaks']>;

/** `R` after a loop whose body is `B`: the body's `end`s are not the run's, its halts are. */
export type AfterBody<R extends BuilderRun, B extends BuilderRun> = [Exclude<B['halts'], R['halts']>] extends [never]
  ? R
  : Run<R, R['ends'], R['halts'] | B['halts'], R['ended'], R['leaks']>;

/** `R` after an approval with no `onReject`: a rejection ends the run with {@link RejectedOutput}. */
export type RejectableRun<R extends BuilderRun> = Run<R, R['ends'], R['halts'] | RejectedOutput, R['ended'], R['leaks']>;

/** `R` after an approval whose `onReject` is `B`: its `end`s count, and unless it ends, it leaves the chain past its last step. */
export type AfterReject<R extends BuilderRun, B extends BuilderRun> = Run<R, R['ends'] | B['ends'], R['halts'] | B['halts'], R['ended'], B['ended'] extends true ? R['leaks'] : true>;

/** Characters that make a string an expression rather than a plain path like `classify.json.urgent`. */
type NotInPath = ' ' | '(' | ')' | '[' | ']' | '+' | '-' | '*' | '/' | '%' | '<' | '>' | '=' | '!' | '?' | ':' | '"' | "'" | ',' | '|' | '&' | '{' | '}' | '\n' | '\t';

type Walk<C, P extends string> = P extends `${infer Head}.${infer Rest}` ? Walk<Step<C, Head>, Rest> : Step<C, P>;
type Step<C, K extends string> = C extends object ? (K extends keyof C ? Exclude<C[K], undefined> : unknown) : unknown;

/**
 * The type an expression gives in a context `C`: a plain dotted path (`classify.json.urgent`)
 * resolves through `C`; anything else (operators, calls, literals) is `unknown`. A path to a step
 * that may not have run resolves to its type: reading it when it did not run fails the run.
 */
export type ExpressionValue<C, E extends string> = string extends E ? unknown : E extends `${string}${NotInPath}${string}` ? unknown : E extends '' ? unknown : Walk<C, E>;

/**
 * A value as it comes back from storage: JSON. What is `unknown` (an untyped output, an expression
 * the types cannot follow) is any JSON, so a typed run still fits where a plain one is expected.
 */
export type AsJson<T> = unknown extends T
  ? Json
  : T extends string | number | boolean | null
    ? T
    : T extends readonly (infer E)[]
      ? AsJson<E>[]
      : T extends object
        ? { -readonly [K in keyof T]: AsJson<T[K]> }
        : Json;

/** `output_data` of `.end(mapping)`: each key typed by its expression, in the context of outputs `T` and run `R`. */
export type EndOutput<T, R extends BuilderRun, M> = {
  -readonly [K in keyof M]: AsJson<M[K] extends string ? ExpressionValue<T & { input: R['scope']; variables: R['scope'] }, M[K]> : unknown>;
};
