/**
 * Templates in access-rule handler configs (Oathkeeper's Go-template subset): `{{ .Subject }}`,
 * `{{ print .Extra.email }}`, `{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}`,
 * `{{ index .Extra.roles 0 }}`, `{{ .MatchContext.Header.Get "X-Tenant" }}`. Compiled once, when a config is
 * validated (`TemplateString`); never evaluated as code. Shared by every plugin whose handlers template
 * (the proxy's mutators and authorizers, the permissions authorizer).
 */
import * as v from 'valibot'
import type { AuthenticationSession } from './types.ts'

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
  // `printIndex` is Oathkeeper's spelling of `print (index …)`
  if ((m = /^(?:index|printIndex)\s+(\.[\w.-]+)\s+(?:(\d+)|"([^"]*)")$/.exec(s)) && FIELD.test(m[1] as string)) {
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
  throw new Error(`unsupported template action {{ ${s} }} (supported: .Field.Path, print .Field, index|printIndex .Field N|"key", .MatchContext.Header.Get "Name")`)
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

/** A template in a handler's config: compiled once when the config is validated; an invalid one is a config error. */
export const TemplateString = v.pipe(
  v.string(),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    try {
      return compileTemplate(dataset.value)
    } catch (e) {
      addIssue({ message: `expected a template such as {{ print .Subject }}: ${(e as Error).message}` })
      return NEVER
    }
  }),
)

