/**
 * Edge validation every request passes before a route sees it (DEVELOPERS.md: "edge validation is the whole
 * edge"): a URL the Host header can form, a path and query string free of text no store can hold, and bodies
 * free of it too, nested no deeper than MAX_JSON_DEPTH. Both drivers answer the same 400: PostgreSQL refuses a
 * NUL byte in text (22021) and NUL or a lone UTF-16 surrogate in JSON (22P05), so neither may reach storage.
 */
import { BadRequestError, MalformedBodyError, type TesseraError, ValidationError } from '../errors.ts'

/** How deeply a request body may nest objects and arrays. */
export const MAX_JSON_DEPTH = 64

/** A NUL, or a UTF-16 surrogate that is not half of a pair. */
const UNSTORABLE = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Whether a string holds text no store can hold (a NUL byte, a lone surrogate). */
export function unstorable(s: string): boolean {
  return UNSTORABLE.test(s)
}

const unstorableIssue = (path: string) =>
  new ValidationError([{ path, message: 'contains a NUL character or an unpaired UTF-16 surrogate, which cannot be stored' }])

/**
 * Why a request's URL cannot be served, or undefined: a Host header no URL can hold (`evil.com:99999`, `[::1`,
 * an empty one), a path or query string with invalid percent-encoding or a NUL.
 */
export function urlProblem(request: Request): TesseraError | undefined {
  const url = request.url
  // the origin (scheme and authority) of the last URLs that parsed: the Host header repeats, so one
  // startsWith replaces a URL parse; a URL whose origin parses always parses (the parser encodes what a path holds)
  const start = url.indexOf('/', url.indexOf('//') + 2)
  if (start < 0 || !knownOrigin(url, start)) {
    if (!URL.canParse(url)) return new BadRequestError(undefined, { reason: 'The Host header does not name a valid host (and port).' })
    if (start < 0) return undefined
    rememberOrigin(url.slice(0, start))
  }
  // the fast path: nothing encoded and no NUL, no allocation
  if (!PERCENT_OR_NUL.test(url)) return undefined
  return encodingProblem(url, start)
}

const PERCENT_OR_NUL = /[%\0]/

/** Origins seen to parse, at most a few (one per Host header a listener answers). */
const origins: string[] = []

function knownOrigin(url: string, start: number): boolean {
  for (let i = 0; i < origins.length; i++) {
    const o = origins[i]!
    if (o.length === start && url.startsWith(o)) return true
  }
  return false
}

function rememberOrigin(origin: string): void {
  if (origins.length >= 8) origins.shift()
  origins.push(origin)
}

function encodingProblem(url: string, start: number): TesseraError | undefined {
  const q = url.indexOf('?', start)
  const path = q < 0 ? url.slice(start) : url.slice(start, q)
  if ((path.includes('%') || path.includes('\0')) && badlyEncoded(path)) return new BadRequestError(undefined, { reason: 'The request path is not valid percent-encoded UTF-8 text.' })
  if (q < 0) return undefined
  const search = url.slice(q + 1)
  // URLSearchParams replaces invalid UTF-8 with U+FFFD and cannot decode to a lone surrogate: only a NUL can be left
  if (!search.includes('%00') && !search.includes('\0')) return undefined
  for (const [k, v] of new URLSearchParams(search)) {
    if (k.includes('\0')) return unstorableIssue(`query parameter ${JSON.stringify(k.replaceAll('\0', '\\u0000'))}`)
    if (v.includes('\0')) return unstorableIssue(k)
  }
  return undefined
}

function badlyEncoded(path: string): boolean {
  try {
    return unstorable(decodeURIComponent(path))
  } catch {
    return true
  }
}

/**
 * Why a parsed body cannot be taken, or undefined: a string or key holding a NUL or a lone surrogate (named by
 * its dotted path), or nesting deeper than MAX_JSON_DEPTH.
 */
export function bodyProblem(value: unknown): TesseraError | undefined {
  return walk(value, '', 0)
}

function walk(value: unknown, path: string, depth: number): TesseraError | undefined {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? unstorableIssue(path) : undefined
  if (value === null || typeof value !== 'object') return undefined
  if (depth >= MAX_JSON_DEPTH) return new MalformedBodyError(`The request body nests deeper than ${MAX_JSON_DEPTH} levels.`)
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = walk(value[i], path ? `${path}.${i}` : String(i), depth + 1)
      if (bad) return bad
    }
    return undefined
  }
  if (value instanceof Blob) return undefined
  for (const key of Object.keys(value)) {
    const at = path ? `${path}.${key}` : key
    if (UNSTORABLE.test(key)) return unstorableIssue(at.replace(UNSTORABLE, '\\u…'))
    const bad = walk((value as Record<string, unknown>)[key], at, depth + 1)
    if (bad) return bad
  }
  return undefined
}

/**
 * Parse a JSON request body the edge's way: malformed JSON, text no store can hold and nesting deeper than
 * MAX_JSON_DEPTH are a 400. For routes that read their body themselves (`parse: 'none'`, raw routes).
 */
export function parseJsonBody(text: string): unknown {
  if (text === '') return undefined
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new MalformedBodyError('The request body could not be parsed: check that it is well-formed and matches its Content-Type')
  }
  const bad = bodyProblem(value)
  if (bad) throw bad
  return value
}
