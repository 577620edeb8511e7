/**
 * Request validation with valibot: `parse(schema, body)` returns the typed
 * value or throws a ValidationError that renders as a 400 in Ory's shape with
 * every offending field named (worded by core/config/issues.ts).
 */
import * as v from 'valibot'
import { toIssueList } from './config/issues.ts'
import { ValidationError, type ValidationIssue } from './errors.ts'

export function toValidationIssues(issues: readonly v.BaseIssue<unknown>[]): ValidationIssue[] {
  return toIssueList(issues)
}

export function parse<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  const r = v.safeParse(schema, input)
  if (!r.success) throw new ValidationError(toValidationIssues(r.issues))
  return r.output
}

/** `parse` for schemas with async parts (a credential method's config schema may have some). */
export async function parseAsync<S extends v.GenericSchema | v.GenericSchemaAsync>(schema: S, input: unknown): Promise<v.InferOutput<S>> {
  const r = await v.safeParseAsync(schema, input)
  if (!r.success) throw new ValidationError(toValidationIssues(r.issues))
  return r.output
}
