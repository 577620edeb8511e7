/**
 * Request validation with valibot: `parse(schema, body)` returns the typed
 * value or throws a ValidationError that renders as a 400 in Ory's shape with
 * every offending field named.
 */
import * as v from 'valibot'
import { formatPath, issuePath } from './config/issues.ts'
import { ValidationError, type ValidationIssue } from './errors.ts'

export function toValidationIssues(issues: readonly v.BaseIssue<unknown>[]): ValidationIssue[] {
  return issues.map((i) => {
    const m = /^Invalid [a-z ]+: Expected (.+) but received (.+)$/.exec(i.message)
    return { path: formatPath(issuePath(i)), message: m ? `expected ${m[1]}, received ${m[2]}` : i.message }
  })
}

export function parse<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  const r = v.safeParse(schema, input)
  if (!r.success) throw new ValidationError(toValidationIssues(r.issues))
  return r.output
}
