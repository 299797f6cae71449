/** Checks a run's input against the workflow's declared variables and applies defaults. Pure. */
import type { WorkflowDefinition, WorkflowVariable } from './definition.js';
import { InvalidInputError, type ValidationIssue } from '../kernel/errors.js';
import type { Json } from '../kernel/json.js';
import { assertJsonDepth } from '../kernel/json-depth.js';
import { didYouMean } from '../kernel/did-you-mean.js';

/** The input as stored and the resolved `variables` scope. */
export interface ResolvedInput {
  readonly input: Json;
  readonly variables: Json;
}

/** Largest input accepted, as serialised JSON. */
export const DEFAULT_MAX_INPUT_BYTES = 1024 * 1024;

/**
 * Validates `input` (a plain object; absent means `{}`) against the declared variables, which are
 * the run's input: each takes the input's value of the same name or its `default_value`, and the
 * resolved value is both the stored input (so `input.x` sees a default as well as `variables.x`)
 * and the `variables` scope. A variable is required unless it has a `default_value` or says
 * `required: false`. A key no variable declares is refused, unless the workflow declares no
 * variables at all or sets `additional_input: true`. Every problem (missing, wrong type, unknown
 * key with a "did you mean" hint) is listed in one {@link InvalidInputError}, as is input over
 * `maxBytes` or nested past `MAX_JSON_DEPTH`. Nothing is persisted first.
 */
export function resolveInput(workflow: WorkflowDefinition, input: unknown, maxBytes = DEFAULT_MAX_INPUT_BYTES): ResolvedInput {
  const issues: ValidationIssue[] = [];
  const value = input === undefined ? {} : input;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidInputError([{ path: ['input'], code: 'invalid_type', message: `run input must be a JSON object, got ${describe(value)}` }]);
  }
  // Before anything walks it recursively (stringify, copies, expressions); see json-depth.ts.
  assertJsonDepth(value, 'input');
  let size: number;
  try {
    const text = JSON.stringify(value);
    // UTF-8 takes at most 3 bytes per UTF-16 unit: a short text cannot be over the limit, and
    // every run pays this check, so only a text that might be is measured in bytes.
    size = text.length * 3 <= maxBytes ? text.length : Buffer.byteLength(text);
  } catch (error) {
    throw new InvalidInputError([{ path: ['input'], code: 'not_json', message: `run input is not JSON-serialisable: ${(error as Error).message}` }]);
  }
  if (size > maxBytes) {
    throw new InvalidInputError([{ path: ['input'], code: 'too_large', message: `run input is ${size} bytes, over the limit of ${maxBytes}` }]);
  }
  const record = value as Record<string, unknown>;
  const declared = workflow.definition.variables;
  const variables: Record<string, Json> = {};
  const resolved: Record<string, Json> = { ...(record as Record<string, Json>) };
  for (const variable of declared) {
    const given = record[variable.name];
    if (given === undefined) {
      if (variable.default_value !== undefined) variables[variable.name] = resolved[variable.name] = variable.default_value as Json;
      else if (isRequired(variable)) issues.push({ path: ['input', variable.name], code: 'required', message: `variable "${variable.name}" is required` });
      continue;
    }
    if (!matchesType(variable, given)) {
      issues.push({ path: ['input', variable.name], code: 'invalid_type', message: `variable "${variable.name}" must be ${variable.type}, got ${describe(given)}` });
      continue;
    }
    variables[variable.name] = given as Json;
  }
  if (declared.length > 0 && workflow.definition.additional_input !== true) issues.push(...unknownKeys(record, declared));
  if (issues.length > 0) throw new InvalidInputError(issues);
  return { input: resolved, variables };
}

/** Required unless it has a default or opts out: a run without it would fail later, after paid steps. */
export function isRequired(variable: WorkflowVariable): boolean {
  return variable.required ?? variable.default_value === undefined;
}

/** The input's keys no variable declares, each with the declared name it most likely meant. */
function unknownKeys(record: Record<string, unknown>, declared: readonly WorkflowVariable[]): ValidationIssue[] {
  const names = declared.map((v) => v.name);
  const issues: ValidationIssue[] = [];
  for (const key of Object.keys(record)) {
    if (names.includes(key)) continue;
    const hint = didYouMean(key, names);
    const tail = hint === undefined ? `; the declared variables are ${names.map((n) => `"${n}"`).join(', ')} (set additional_input: true to accept others)` : `; did you mean "${hint}"?`;
    issues.push({ path: ['input', key], code: 'unknown_key', message: `unknown input key "${key}"${tail}` });
  }
  return issues;
}

function matchesType(variable: WorkflowVariable, value: unknown): boolean {
  switch (variable.type) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    default:
      return true;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}
