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
  /** Whether every path of the chain ends at an `end`; else `build()` adds one that gives the last step's output. */
  readonly ended: boolean;
  /** The run's `output_data`: the `ends`, and any JSON unless `ended`. Kept here, not derived, so `R` stays covariant. */
  readonly output: unknown;
}

/** The run facts of a workflow that declares no variables (any input) and has no `end` yet. */
export interface UntypedRun {
  readonly input: Record<string, unknown>;
  readonly scope: Record<string, unknown>;
  readonly ends: never;
  readonly ended: false;
  readonly output: Json;
}

/** What the builder hands the engine: the input its runs take and the `output_data` they give. */
export interface RunTypesOf<R extends BuilderRun> {
  readonly input: R['input'];
  readonly output: R['output'];
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
          readonly ended: false;
          readonly output: Json;
        };

/** `R` after an `end` whose output is `O`. */
export interface EndedRun<R extends BuilderRun, O> {
  readonly input: R['input'];
  readonly scope: R['scope'];
  readonly ends: R['ends'] | O;
  readonly ended: true;
  readonly output: R['ends'] | O;
}

/** `R` after a step with branches `B` (a union): their `end`s count, and it ended if every branch did. */
interface BranchedRun<R extends BuilderRun, B extends BuilderRun> {
  readonly input: R['input'];
  readonly scope: R['scope'];
  readonly ends: R['ends'] | B['ends'];
  readonly ended: false extends B['ended'] ? false : true;
  /** A chain that does not end at an `end` gives its last step's output, any JSON. */
  readonly output: false extends B['ended'] ? R['ends'] | B['ends'] | Json : R['ends'] | B['ends'];
}

/** `R` after a step with branches `B`; `R` itself when no branch declared an `end` of its own. */
export type AfterBranches<R extends BuilderRun, B extends BuilderRun> = [Exclude<B['ends'], R['ends']>] extends [never] ? R : BranchedRun<R, B>;

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
