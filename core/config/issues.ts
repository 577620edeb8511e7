/**
 * The one place that turns valibot issues into messages a user reads: config files, plugin options, rule
 * files and request bodies all go through here. Every message names the path and what was expected:
 * `plugins[2].options.rpId: expected a string, received 42`; an unknown key names the nearest known one:
 * `plugins[0].options.sesion: unknown option; did you mean \`session\`? expected one of: …`.
 * No raw valibot text (`Invalid type: Expected …`, `Invalid key: …`) comes out of this module.
 */
import * as v from 'valibot'
import { isSensitiveKey } from '../logger.ts'

type AnyIssue = v.BaseIssue<unknown>
type Key = string | number
type AnySchema = {
  type: string
  kind?: string
  entries?: Record<string, AnySchema>
  wrapped?: AnySchema
  pipe?: AnySchema[]
  item?: AnySchema
  items?: AnySchema[]
  rest?: AnySchema
  value?: AnySchema
  key?: string | AnySchema
  options?: AnySchema[]
  getter?: (input: unknown) => AnySchema
}

export function formatPath(keys: readonly Key[]): string {
  let out = ''
  for (const k of keys) {
    if (typeof k === 'number') out += `[${k}]`
    else if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(k)) out += out ? `.${k}` : k
    else out += `[${JSON.stringify(k)}]`
  }
  return out
}

export function issuePath(issue: AnyIssue): Key[] {
  return (issue.path ?? []).map((p) => {
    const key = (p as { key: unknown }).key
    return typeof key === 'number' ? key : String(key)
  })
}

/** Walk optional/nullable wrappers (a pipe is its first schema already) and lazy schemas to the schema they stand for. */
function unwrap(s: AnySchema | undefined, input?: unknown): AnySchema | undefined {
  let cur = s
  for (let i = 0; i < 20 && cur; i++) {
    if (cur.wrapped) cur = cur.wrapped
    else if (cur.type === 'lazy' && cur.getter) {
      try {
        cur = cur.getter(input)
      } catch {
        return undefined
      }
    } else break
  }
  return cur
}

/** The schema at `keys` inside `schema` (through objects, records, arrays and tuples), if it can be told. */
function schemaAt(schema: unknown, keys: readonly Key[]): AnySchema | undefined {
  let cur = unwrap(schema as AnySchema)
  for (const k of keys) {
    if (!cur) return undefined
    if (typeof k === 'number') cur = unwrap(cur.item ?? cur.items?.[k] ?? cur.rest)
    else cur = unwrap(cur.entries?.[k] ?? (cur.type === 'record' ? cur.value : cur.type === 'object_with_rest' ? cur.rest : undefined))
  }
  return cur
}

export function knownKeys(schema: unknown, keys: readonly Key[]): string[] | undefined {
  const at = schemaAt(schema, keys)
  return at?.entries ? Object.keys(at.entries) : undefined
}

/** Edits (insert, delete, replace, swap two neighbours) that turn `a` into `b`. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1)
      d[i]![j] = best
    }
  }
  return d[a.length]![b.length]!
}

/** The known key nearest to a misspelt one (a small edit distance, or the same letters in another case or style). */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, '')
  const same = known.find((k) => norm(k) === norm(key))
  if (same) return same
  let best: string | undefined
  let bestD = Math.max(1, Math.min(3, Math.floor(key.length / 3)))
  for (const k of known) {
    const d = distance(key.toLowerCase(), k.toLowerCase())
    if (d <= bestD && (best === undefined || d < bestD)) {
      best = k
      bestD = d
    }
  }
  return best
}

/** `unknown option; did you mean \`session\`? expected one of: …` */
export function unknownKeyMessage(key: string, known: readonly string[] | undefined): string {
  if (!known) return 'unknown option (check the spelling)'
  if (known.length === 0) return 'unknown option; no options are allowed here'
  const near = nearestKey(key, known)
  return `unknown option;${near ? ` did you mean \`${near}\`?` : ''} expected one of: ${known.join(', ')}`
}

/** An unknown key found in the input, with the keys its object knows. */
export interface UnknownKey {
  path: Key[]
  known: string[]
}

const accepts = (schema: AnySchema, input: unknown): boolean => {
  try {
    return v.safeParse(schema as unknown as v.GenericSchema, input).success
  } catch {
    return false
  }
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

/**
 * Keys of `input` that `schema` does not know, anywhere in it. Objects are strict unless the schema
 * deliberately allows extra keys (`v.looseObject`, `v.objectWithRest`, `v.record`, `v.unknown`, `v.any`,
 * `v.custom`); `v.strictObject` is left to valibot, which reports its unknown keys itself. A union is
 * walked along the option the input matches.
 */
export function findUnknownKeys(schema: unknown, input: unknown, path: Key[] = [], depth = 0): UnknownKey[] {
  const s = unwrap(schema as AnySchema, input)
  if (!s || depth > 64 || input === null || typeof input !== 'object') return []
  const out: UnknownKey[] = []
  switch (s.type) {
    case 'object':
    case 'strict_object':
    case 'loose_object':
    case 'object_with_rest': {
      if (!isRecord(input) || !s.entries) return []
      for (const [k, val] of Object.entries(input)) {
        const entry = s.entries[k]
        if (entry) out.push(...findUnknownKeys(entry, val, [...path, k], depth + 1))
        else if (s.type === 'object') out.push({ path: [...path, k], known: Object.keys(s.entries) })
        else if (s.type === 'object_with_rest' && s.rest) out.push(...findUnknownKeys(s.rest, val, [...path, k], depth + 1))
      }
      return out
    }
    case 'record':
      if (!isRecord(input) || !s.value) return []
      for (const [k, val] of Object.entries(input)) out.push(...findUnknownKeys(s.value, val, [...path, k], depth + 1))
      return out
    case 'array':
      if (!Array.isArray(input) || !s.item) return []
      input.forEach((val, i) => out.push(...findUnknownKeys(s.item, val, [...path, i], depth + 1)))
      return out
    case 'tuple':
    case 'strict_tuple':
    case 'loose_tuple':
    case 'tuple_with_rest':
      if (!Array.isArray(input) || !s.items) return []
      input.forEach((val, i) => {
        const item = s.items![i] ?? (s.type === 'tuple_with_rest' ? s.rest : undefined)
        if (item) out.push(...findUnknownKeys(item, val, [...path, i], depth + 1))
      })
      return out
    case 'variant': {
      const key = s.key as string
      if (!isRecord(input) || !s.options) return []
      const option = s.options.find((o) => {
        const d = unwrap(o)?.entries?.[key]
        return d !== undefined && accepts(d, input[key])
      })
      return option ? findUnknownKeys(option, input, path, depth + 1) : []
    }
    case 'union': {
      // the options the input satisfies; the one with the fewest unknown keys decides
      let best: UnknownKey[] | undefined
      for (const o of s.options ?? []) {
        if (!accepts(o, input)) continue
        const found = findUnknownKeys(o, input, path, depth + 1)
        if (!best || found.length < best.length) best = found
        if (found.length === 0) break
      }
      return best ?? []
    }
    case 'intersect': {
      // a key is unknown only when no part of the intersection knows it
      const parts = (s.options ?? []).map((o) => findUnknownKeys(o, input, path, depth + 1))
      const [first, ...others] = parts
      if (!first) return []
      const inAll = (u: UnknownKey) => others.every((p) => p.some((x) => formatPath(x.path) === formatPath(u.path)))
      const merged = [...new Set(parts.flatMap((p) => p.flatMap((u) => u.known)))]
      return first.filter(inAll).map((u) => ({ path: u.path, known: merged }))
    }
    default:
      return []
  }
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

/** Valibot's default messages all start so; a plugin's own messages do not. */
const DEFAULT_MESSAGE = /^Invalid ([A-Za-z0-9 ]+): (.*)$/s

/**
 * Valibot's own wording (`Invalid type: Expected string but received 42`) in ours (`expected string,
 * received 42`); undefined for any other message (a schema's own message is kept as it is).
 */
export function rewriteDefaultMessage(msg: string, sensitive = false): string | undefined {
  const m = DEFAULT_MESSAGE.exec(msg)
  if (!m) return undefined
  const what = /^[A-Z]{2,}/.test(m[1]!) ? m[1]! : m[1]!.toLowerCase()
  const noun = what === 'type' || what === 'key' ? '' : `${what.toLowerCase()} `
  const e = /^Expected (.+) but received (.+)$/s.exec(m[2]!)
  if (e) return sensitive ? `expected ${noun}${e[1]}` : `expected ${noun}${e[1]}, received ${e[2]}`
  const r = /^Received (.+)$/s.exec(m[2]!)
  if (r) return sensitive ? `expected a valid ${what}` : `expected a valid ${what}, received ${r[1]}`
  return `invalid ${what}: ${m[2]!.charAt(0).toLowerCase()}${m[2]!.slice(1)}`
}

/** What is wrong with the value at an issue's path, in words (no path). */
export function issueMessage(issue: AnyIssue, opts: { sensitive?: boolean } = {}): string {
  const sensitive = opts.sensitive === true
  const msg = issue.message
  if ((issue.type === 'strict_object' || issue.type === 'object' || issue.type === 'loose_object') && issue.expected === 'never') {
    return 'unknown option (check the spelling)'
  }
  if (/^Invalid key: /.test(msg) && issue.received === 'undefined') return 'is required but missing'
  if (/^Invalid type: /.test(msg) && issue.received === 'undefined' && issue.expected && issue.expected !== 'never') {
    return `is required but missing (expected ${issue.expected})`
  }
  const rewritten = rewriteDefaultMessage(msg, sensitive)
  if (rewritten !== undefined) return rewritten
  const got = received(issue, sensitive)
  if (issue.kind === 'schema' && got === 'undefined') return `${msg} (it is required)`
  if (got !== undefined && !/received/i.test(msg)) return `${msg}, received ${got}`
  return msg
}

export interface FormatOptions {
  /** Prefix for every path, e.g. `plugins[2].options`. */
  prefix?: readonly Key[]
  /** Text before the path, e.g. a file name: `rules.json[0]` gives `rules.json[0].match.methods: …`. */
  label?: string
  /** The schema, to list the known keys when a key is unknown. */
  schema?: unknown
  /** Paths whose value came from an environment variable: path -> variable name. */
  envSources?: Map<string, string>
}

function where(keys: readonly Key[], opts: FormatOptions): string {
  const full = [...(opts.prefix ?? []), ...keys]
  const path = formatPath(full)
  let at = opts.label ? `${opts.label}${path && !path.startsWith('[') ? '.' : ''}${path}` : path || '(root)'
  const env = opts.envSources?.get(formatPath(keys))
  if (env) at = `${env} (${at})`
  return at
}

const isSensitivePath = (keys: readonly Key[]) => keys.some((k) => typeof k === 'string' && isSensitiveKey(k))

export function formatIssue(issue: AnyIssue, opts: FormatOptions = {}): string {
  const keys = issuePath(issue)
  if ((issue.type === 'strict_object' || issue.type === 'object' || issue.type === 'loose_object') && issue.expected === 'never') {
    const known = opts.schema ? knownKeys(opts.schema, keys.slice(0, -1)) : undefined
    return `${where(keys, opts)}: ${unknownKeyMessage(String(keys[keys.length - 1] ?? ''), known)}`
  }
  // a union none of whose options fit: say what the option that got furthest wants
  if (issue.type === 'union') {
    const told = unionProblems(issue, keys, opts)
    if (told) return told.join('; ')
  }
  return `${where(keys, opts)}: ${issueMessage(issue, { sensitive: isSensitivePath([...(opts.prefix ?? []), ...keys]) })}`
}

/**
 * A union's problem in the words of its closest option: the one whose own keys the input has (fewest
 * problems at the union's level), then the one with fewest problems; when options of objects tie, the
 * input's unknown keys against all their keys.
 */
function unionProblems(issue: AnyIssue, keys: Key[], opts: FormatOptions): string[] | undefined {
  const union = unwrap(schemaAt(opts.schema, keys), issue.input)
  if (union?.type !== 'union' || !union.options?.length) return undefined
  const prefix = [...(opts.prefix ?? []), ...keys]
  const scored = union.options.map((o) => {
    let issues: AnyIssue[] = []
    try {
      issues = v.safeParse(o as unknown as v.GenericSchema, issue.input).issues ?? []
    } catch {
      issues = [issue]
    }
    const shallow = issues.filter((i) => (i.path?.length ?? 0) === 0 || (i.path!.length === 1 && (i.received === 'undefined' || i.expected === 'never'))).length
    return { o, issues, shallow }
  })
  const best = Math.min(...scored.map((x) => x.shallow * 1000 + x.issues.length))
  const closest = scored.filter((x) => x.shallow * 1000 + x.issues.length === best)
  const only = closest.length === 1 ? closest[0]! : undefined
  if (only?.issues.length && only.shallow === 0) return formatIssues(only.issues, { ...opts, prefix, schema: only.o })
  const input = issue.input
  const objects = union.options.map(unwrap).filter((o): o is AnySchema => !!o?.entries)
  if (isRecord(input) && objects.length === union.options.length) {
    const known = [...new Set(objects.flatMap((o) => Object.keys(o.entries!)))]
    const unknown = Object.keys(input).filter((k) => !known.includes(k))
    if (unknown.length) return unknown.map((k) => `${where([...keys, k], opts)}: ${unknownKeyMessage(k, known)}`)
    if (Object.keys(input).length === 0) return [`${where(keys, opts)}: expected one of the keys ${known.join(', ')}`]
  }
  return undefined
}

export function formatIssues(issues: readonly AnyIssue[], opts: FormatOptions = {}): string[] {
  return issues.map((i) => formatIssue(i, opts))
}

/** One message per unknown key: `path: unknown option; did you mean …`. */
export function formatUnknownKeys(found: readonly UnknownKey[], opts: FormatOptions = {}): string[] {
  return found.map((u) => `${where(u.path, opts)}: ${unknownKeyMessage(String(u.path[u.path.length - 1]), u.known)}`)
}

/**
 * Validate `input` against `schema` strictly (unknown keys are problems too, see findUnknownKeys) and
 * return the output or every problem, formatted.
 */
export function checkStrict<S extends v.GenericSchema>(
  schema: S,
  input: unknown,
  opts: FormatOptions = {},
): { success: true; output: v.InferOutput<S> } | { success: false; problems: string[] } {
  const r = v.safeParse(schema, input)
  const unknown = formatUnknownKeys(findUnknownKeys(schema, input), opts)
  const problems = [...(r.success ? [] : formatIssues(r.issues, { schema, ...opts })), ...unknown]
  if (r.success && problems.length === 0) return { success: true, output: r.output }
  return { success: false, problems }
}

/**
 * Issues as `{ path, message }` for a 400 answer (request bodies, query strings): valibot's own wording
 * rewritten, a schema's own message kept, a sensitive field's value never echoed.
 */
export function toIssueList(issues: readonly AnyIssue[]): { path: string; message: string }[] {
  return issues.flatMap((i) => {
    const keys = issuePath(i)
    if (i.type === 'union' && i.issues?.some((x) => (x.path?.length ?? 0) > 0)) {
      const base = formatPath(keys)
      return toIssueList(i.issues.filter((x) => (x.path?.length ?? 0) > 0)).map((x) => ({
        path: !base ? x.path : x.path.startsWith('[') ? `${base}${x.path}` : `${base}.${x.path}`,
        message: x.message,
      }))
    }
    const sensitive = isSensitivePath(keys)
    const message = /^Invalid key: /.test(i.message) && i.received === 'undefined' ? 'is required but missing' : (rewriteDefaultMessage(i.message, sensitive) ?? i.message)
    return [{ path: formatPath(keys), message }]
  })
}
