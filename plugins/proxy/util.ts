/** Small helpers shared by the proxy's handlers: templates, durations, JSON paths, a bounded cache, tokens. */
import type { AuthenticationSession, PipelineRequest } from 'tessera'

/** Go-style durations as Oathkeeper writes them (`30s`, `1m`, `1h30m`, `500ms`) in milliseconds. */
export function parseDuration(s: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g
  let total = 0
  let consumed = 0
  for (const m of s.matchAll(re)) {
    const n = Number(m[1])
    total += n * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const)[m[2] as 'ms' | 's' | 'm' | 'h']
    consumed += m[0].length
  }
  if (consumed !== s.length || s.length === 0) throw new Error(`invalid duration ${JSON.stringify(s)} (expected e.g. 30s, 1m, 1h)`)
  return total
}

export const isDuration = (s: string) => {
  try {
    parseDuration(s)
    return true
  } catch {
    return false
  }
}

/** A GJSON-like dotted path (`identity.id`, `@this`). */
export function getPath(obj: unknown, path: string): unknown {
  if (path === '@this' || path === '') return obj
  let cur: unknown = obj
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[key]
  }
  return cur
}

/** A bounded map that evicts the oldest entry and drops expired ones on read. */
export class BoundedCache<V> {
  readonly #items = new Map<string, { value: V; expiresAt: number }>()
  constructor(readonly maxEntries = 10_000) {}
  get(key: string): V | undefined {
    const e = this.#items.get(key)
    if (!e) return undefined
    if (e.expiresAt <= Date.now()) {
      this.#items.delete(key)
      return undefined
    }
    return e.value
  }
  set(key: string, value: V, expiresAt: number): void {
    if (expiresAt <= Date.now()) return
    this.#items.delete(key)
    if (this.#items.size >= this.maxEntries) {
      const oldest = this.#items.keys().next().value
      if (oldest !== undefined) this.#items.delete(oldest)
    }
    this.#items.set(key, { value, expiresAt })
  }
  get size() {
    return this.#items.size
  }
}

export function sha256(s: string): string {
  return new Bun.CryptoHasher('sha256').update(s).digest('hex')
}

export function cookiesOf(headers: Headers): Map<string, string> {
  const out = new Map<string, string>()
  for (const part of (headers.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq <= 0) continue
    const name = part.slice(0, eq).trim()
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim())
  }
  return out
}

export interface TokenFrom {
  header?: string
  query_parameter?: string
  cookie?: string
}

/** Oathkeeper's `token_from`: a header, a query parameter or a cookie; default `Authorization: Bearer`. */
export function extractToken(req: PipelineRequest, from?: TokenFrom): string | undefined {
  if (from?.header) {
    const v = req.headers.get(from.header)
    if (!v) return undefined
    return from.header.toLowerCase() === 'authorization' ? bearer(v) : v
  }
  if (from?.query_parameter) return req.url.searchParams.get(from.query_parameter) ?? undefined
  if (from?.cookie) return cookiesOf(req.headers).get(from.cookie)
  return bearer(req.headers.get('authorization') ?? '')
}

const WHITESPACE = /\s/
function bearer(v: string): string | undefined {
  // the common shape without a regexp match array: `Bearer <token>`
  if (v.startsWith('Bearer ')) {
    const t = v.slice(7)
    if (t && !WHITESPACE.test(t)) return t
  }
  const m = /^bearer\s+(\S+)\s*$/i.exec(v)
  return m?.[1]
}

/** `.MatchContext.URL`, computed only when a template reads it. */
class UrlView {
  readonly #u: URL
  constructor(u: URL) {
    this.#u = u
  }
  get Scheme() {
    return this.#u.protocol.replace(/:$/, '')
  }
  get Host() {
    return this.#u.host
  }
  get Path() {
    return this.#u.pathname
  }
  get RawQuery() {
    return this.#u.search.replace(/^\?/, '')
  }
  get String() {
    return this.#u.toString()
  }
  toJSON() {
    return { Scheme: this.Scheme, Host: this.Host, Path: this.Path, RawQuery: this.RawQuery, String: this.String }
  }
}

/** `.MatchContext`: getters on a prototype, so a template run allocates one small object, not a tree of them. */
class MatchContextView {
  readonly #s: AuthenticationSession
  constructor(s: AuthenticationSession) {
    this.#s = s
  }
  get RegexpCaptureGroups() {
    return this.#s.matchContext.regexpCaptureGroups
  }
  get Method() {
    return this.#s.matchContext.method
  }
  get URL() {
    return new UrlView(this.#s.matchContext.url)
  }
  get Header() {
    return this.#s.matchContext.header
  }
  toJSON() {
    return { RegexpCaptureGroups: this.RegexpCaptureGroups, Method: this.Method, URL: this.URL.toJSON(), Header: this.Header }
  }
}

/** The data templates see, with Oathkeeper's names (read lazily from the session). */
class TemplateData {
  readonly #s: AuthenticationSession
  constructor(s: AuthenticationSession) {
    this.#s = s
  }
  get Subject() {
    return this.#s.subject
  }
  get Extra() {
    return this.#s.extra
  }
  get MatchContext() {
    return new MatchContextView(this.#s)
  }
  toJSON() {
    return { Subject: this.Subject, Extra: this.Extra, MatchContext: this.MatchContext.toJSON() }
  }
}

export function templateData(session: AuthenticationSession): TemplateData {
  return new TemplateData(session)
}

type Expr = (data: ReturnType<typeof templateData>) => unknown

const FIELD = /^\.[A-Za-z_][\w]*(?:\.[A-Za-z_][\w-]*)*$/

function field(path: string): Expr {
  const keys = path.slice(1).split('.')
  if (keys.length === 1 && keys[0] === 'Subject') return (data) => data.Subject
  return (data) => {
    let cur: unknown = data
    for (const k of keys) {
      if (cur instanceof Headers) return undefined
      if (cur === null || typeof cur !== 'object') return undefined
      cur = (cur as Record<string, unknown>)[k]
    }
    return cur
  }
}

function compileAction(src: string): Expr {
  const s = src.trim()
  let m: RegExpExecArray | null
  if (FIELD.test(s)) return field(s)
  if ((m = /^print\s+(\.[\w.-]+)$/.exec(s)) && FIELD.test(m[1] as string)) return field(m[1] as string)
  if ((m = /^index\s+(\.[\w.-]+)\s+(?:(\d+)|"([^"]*)")$/.exec(s)) && FIELD.test(m[1] as string)) {
    const base = field(m[1] as string)
    const key = m[2] !== undefined ? Number(m[2]) : (m[3] as string)
    return (d) => {
      const b = base(d) as Record<string | number, unknown> | undefined
      return b && typeof b === 'object' ? b[key] : undefined
    }
  }
  if ((m = /^\.MatchContext\.Header\.Get\s+"([^"]+)"$/.exec(s))) {
    const name = m[1] as string
    return (d) => d.MatchContext.Header.get(name) ?? ''
  }
  throw new Error(`unsupported template action {{ ${s} }} (supported: .Field.Path, print .Field, index .Field N|"key", .MatchContext.Header.Get "Name")`)
}

export type Template = (session: AuthenticationSession, escape?: (s: string) => string) => string

/** Compile a Go-template subset once; throws on anything it does not understand. */
export function compileTemplate(src: string): Template {
  const parts: (string | Expr)[] = []
  let i = 0
  while (i < src.length) {
    const open = src.indexOf('{{', i)
    if (open === -1) {
      if (i < src.length) parts.push(src.slice(i))
      break
    }
    if (open > i) parts.push(src.slice(i, open))
    const close = src.indexOf('}}', open)
    if (close === -1) throw new Error('unclosed {{ in template')
    parts.push(compileAction(src.slice(open + 2, close).replace(/^-|-$/g, '')))
    i = close + 2
  }
  return (session, escape = (x) => x) => {
    const data = templateData(session)
    let out = ''
    for (const p of parts) {
      if (typeof p === 'string') out += p
      else {
        const v = p(data)
        out += escape(v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v))
      }
    }
    return out
  }
}

export const isTemplate = (s: string) => {
  try {
    compileTemplate(s)
    return true
  } catch {
    return false
  }
}

/** Escape a value for the inside of a JSON string literal. */
export const jsonEscape = (s: string) => JSON.stringify(s).slice(1, -1)
