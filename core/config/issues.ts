/**
 * Turning valibot issues into messages that name the path and what was expected:
 * `plugins[2].options.rpId: expected a string, received 42`.
 */
import type * as v from 'valibot'
import { isSensitiveKey } from '../logger.ts'

type AnyIssue = v.BaseIssue<unknown>
type AnySchema = { type: string; entries?: Record<string, AnySchema>; wrapped?: AnySchema; pipe?: AnySchema[]; item?: AnySchema; options?: AnySchema[] }

export function formatPath(keys: readonly (string | number)[]): string {
  let out = ''
  for (const k of keys) {
    if (typeof k === 'number') out += `[${k}]`
    else if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(k)) out += out ? `.${k}` : k
    else out += `[${JSON.stringify(k)}]`
  }
  return out
}

export function issuePath(issue: AnyIssue): (string | number)[] {
  return (issue.path ?? []).map((p) => {
    const key = (p as { key: unknown }).key
    return typeof key === 'number' ? key : String(key)
  })
}

/** Walk optional/nullable/pipe/array wrappers to the object schema at `keys`. */
function unwrap(s: AnySchema | undefined): AnySchema | undefined {
  let cur = s
  for (let i = 0; i < 10 && cur; i++) {
    if (cur.wrapped) cur = cur.wrapped
    else if (cur.type !== 'pipe' && Array.isArray(cur.pipe) && cur.pipe[0] && cur.pipe[0] !== cur) cur = cur.pipe[0]
    else if (cur.type === 'pipe' && cur.pipe?.[0]) cur = cur.pipe[0]
    else break
  }
  return cur
}

export function knownKeys(schema: unknown, keys: readonly (string | number)[]): string[] | undefined {
  let cur = unwrap(schema as AnySchema)
  for (const k of keys) {
    if (!cur) return undefined
    if (typeof k === 'number') cur = unwrap(cur.item)
    else cur = unwrap(cur.entries?.[k])
  }
  return cur?.entries ? Object.keys(cur.entries) : undefined
}

function received(issue: AnyIssue, sensitive: boolean): string | undefined {
  if (sensitive) return undefined
  if (issue.kind === 'validation') {
    try {
      const s = JSON.stringify(issue.input)
      return s === undefined ? undefined : s.length > 80 ? `${s.slice(0, 77)}...` : s
    } catch {
      return undefined
    }
  }
  return issue.received
}

function describeMessage(issue: AnyIssue, sensitive: boolean): string {
  const msg = issue.message
  if (/^Invalid key: /.test(msg) && issue.received === 'undefined') return 'is required but missing'
  if (/^Invalid type: /.test(msg) && issue.received === 'undefined' && issue.expected && issue.expected !== 'never') {
    return `is required but missing (expected ${issue.expected})`
  }
  const m = /^Invalid [a-z ]+: Expected (.+) but received (.+)$/.exec(msg)
  if (m) return sensitive ? `expected ${m[1]}` : `expected ${m[1]}, received ${m[2]}`
  const got = received(issue, sensitive)
  if (issue.kind === 'schema' && got === 'undefined') return `${msg} (it is required)`
  if (got !== undefined && !/received/i.test(msg)) return `${msg}, received ${got}`
  return msg
}

export interface FormatOptions {
  /** Prefix for every path, e.g. `plugins[2].options`. */
  prefix?: readonly (string | number)[]
  /** The schema, to list the known keys when a key is unknown. */
  schema?: unknown
  /** Paths whose value came from an environment variable: path -> variable name. */
  envSources?: Map<string, string>
}

export function formatIssue(issue: AnyIssue, opts: FormatOptions = {}): string {
  const keys = issuePath(issue)
  const full = [...(opts.prefix ?? []), ...keys]
  let where = formatPath(full) || '(root)'
  const env = opts.envSources?.get(formatPath(keys))
  if (env) where = `${env} (${where})`
  if ((issue.type === 'strict_object' || issue.type === 'object') && issue.expected === 'never') {
    const known = opts.schema ? knownKeys(opts.schema, keys.slice(0, -1)) : undefined
    return `${where}: unknown option${known ? `; expected one of: ${known.join(', ')}` : ' (check the spelling)'}`
  }
  const sensitive = full.some((k) => typeof k === 'string' && isSensitiveKey(k))
  return `${where}: ${describeMessage(issue, sensitive)}`
}

export function formatIssues(issues: readonly AnyIssue[], opts: FormatOptions = {}): string[] {
  return issues.map((i) => formatIssue(i, opts))
}
