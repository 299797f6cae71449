/** Checks a run's input against the workflow's declared variables and applies defaults. Pure. */
import type { WorkflowDefinition, WorkflowVariable } from './definition.js';
import { InvalidInputError, type ValidationIssue } from '../kernel/errors.js';
import type { Json } from '../kernel/json.js';
import { assertJsonDepth } from '../kernel/json-depth.js';

/** The input as stored and the resolved `variables` scope. */
export interface ResolvedInput {
  readonly input: Json;
  readonly variables: Json;
}

/** Largest input accepted, as serialised JSON. */
export const DEFAULT_MAX_INPUT_BYTES = 1024 * 1024;

/**
 * Validates `input` (a plain object; absent means `{}`): declared variables take the input's value
 * of the same name or their `default_value`; a `required` variable with neither, or a value of the
 * wrong type, is an {@link InvalidInputError} listing every problem, as is input over `maxBytes`
 * or nested past `MAX_JSON_DEPTH`. Nothing is persisted first.
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
    size = Buffer.byteLength(JSON.stringify(value));
  } catch (error) {
    throw new InvalidInputError([{ path: ['input'], code: 'not_json', message: `run input is not JSON-serialisable: ${(error as Error).message}` }]);
  }
  if (size > maxBytes) {
    throw new InvalidInputError([{ path: ['input'], code: 'too_large', message: `run input is ${size} bytes, over the limit of ${maxBytes}` }]);
  }
  const record = value as Record<string, unknown>;
  const variables: Record<string, Json> = {};
  for (const variable of workflow.definition.variables) {
    const given = record[variable.name];
    if (given === undefined) {
      if (variable.default_value !== undefined) variables[variable.name] = variable.default_value as Json;
      else if (variable.required) issues.push({ path: ['input', variable.name], code: 'required', message: `variable "${variable.name}" is required` });
      continue;
    }
    if (!matchesType(variable, given)) {
      issues.push({ path: ['input', variable.name], code: 'invalid_type', message: `variable "${variable.name}" must be ${variable.type}, got ${describe(given)}` });
      continue;
    }
    variables[variable.name] = given as Json;
  }
  if (issues.length > 0) throw new InvalidInputError(issues);
  return { input: value as Json, variables };
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
