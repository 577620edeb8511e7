/**
 * Templates in access-rule handler configs (Oathkeeper's Go-template subset): `{{ .Subject }}`,
 * `{{ print .Extra.email }}`, `{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}`,
 * `{{ index .Extra.roles 0 }}`, `{{ .MatchContext.Header.Get "X-Tenant" }}`. Compiled once, when a config is
 * validated (`templateString(functions)`, see `ProxyTemplate` in sprig.ts); never evaluated as code. Oathkeeper's,
 * so the proxy's: its mutators and authorizers (the `permissions` authorizer among them) template with it.
 */
import * as v from 'valibot'
import type { AuthenticationSession } from 'tessera'

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

/**
 * Functions a template may call: `{{ name arg … }}`, or in a pipeline `{{ .Subject | name arg }}` (the piped
 * value is the last argument, as in Go). The core has Go's `print`, `printf`, `index`, `len` and Oathkeeper's
 * `printIndex`; a plugin adds its own with `templateString(functions)` (the proxy adds Sprig's common ones).
 * A function that throws refuses the template when it runs.
 */
export type TemplateFunctions = Readonly<Record<string, (...args: unknown[]) => unknown>>

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

const at = (base: unknown, key: unknown): unknown =>
  base !== null && typeof base === 'object' && (typeof key === 'string' || typeof key === 'number') ? (base as Record<string | number, unknown>)[key] : undefined
const text = (x: unknown) => (x === undefined || x === null ? '' : typeof x === 'object' ? JSON.stringify(x) : String(x))

const BUILTINS: TemplateFunctions = {
  print: (...xs) => xs.map(text).join(''),
  printf: (format, ...xs) => {
    let i = 0
    return String(format).replace(/%([svdq%])/g, (_, c: string) => (c === '%' ? '%' : c === 'q' ? JSON.stringify(text(xs[i++])) : text(xs[i++])))
  },
  index: (base, ...keys) => {
    if (keys.length === 0) throw new Error('index needs a value and at least one key')
    return keys.reduce(at, base)
  },
  // Oathkeeper's spelling of `print (index …)`
  printIndex: (...xs) => {
    if (xs.length !== 2) throw new Error('printIndex needs a value and one key')
    return at(xs[0], xs[1])
  },
  len: (x) => (typeof x === 'string' || Array.isArray(x) ? x.length : x && typeof x === 'object' ? Object.keys(x).length : 0),
}

/** Tokens of one action: fields, string / raw-string / number literals, names, `|`, `(` and `)`. */
function tokenize(src: string): string[] {
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|[|()]|[^\s|()"`]+)/gy
  const out: string[] = []
  let m: RegExpExecArray | null
  re.lastIndex = 0
  while (re.lastIndex < src.length && (m = re.exec(src))) out.push(m[1] as string)
  if (src.slice(re.lastIndex).trim()) throw new Error(`cannot read ${JSON.stringify(src.slice(re.lastIndex).trim())}`)
  return out
}

function compileAction(src: string, functions: TemplateFunctions): Expr {
  const s = src.trim()
  const tokens = tokenize(s)
  let i = 0
  const operand = (): Expr => {
    const t = tokens[i++]
    if (t === undefined) throw new Error('missing a value')
    if (t === '(') {
      const e = pipeline()
      if (tokens[i++] !== ')') throw new Error('unbalanced (')
      return e
    }
    if (t.startsWith('"')) {
      const lit = JSON.parse(t) as string
      return () => lit
    }
    if (t.startsWith('`')) return () => t.slice(1, -1)
    if (/^-?\d+(?:\.\d+)?$/.test(t)) return () => Number(t)
    if (t === 'true' || t === 'false') return () => t === 'true'
    if (t === 'nil') return () => undefined
    // a Headers value's Get method: `.MatchContext.Header.Get "X-Tenant"`
    if (t.endsWith('.Get') && FIELD.test(t) && tokens[i]?.startsWith('"')) {
      const base = field(t.slice(0, -4))
      const name = JSON.parse(tokens[i++] as string) as string
      return (d) => {
        const h = base(d)
        return h instanceof Headers ? (h.get(name) ?? '') : undefined
      }
    }
    if (FIELD.test(t)) return field(t)
    throw new Error(`unexpected ${JSON.stringify(t)}`)
  }
  const command = (piped?: Expr): Expr => {
    const name = tokens[i]
    if (name === undefined || !/^[A-Za-z_]\w*$/.test(name) || name === 'true' || name === 'false' || name === 'nil') {
      if (piped) throw new Error('only a function can follow |')
      return operand()
    }
    const fn = Object.hasOwn(BUILTINS, name) ? BUILTINS[name] : Object.hasOwn(functions, name) ? functions[name] : undefined
    if (!fn) throw new Error(`unknown function ${name}`)
    i++
    const args: Expr[] = []
    while (i < tokens.length && tokens[i] !== '|' && tokens[i] !== ')') args.push(operand())
    if (piped) args.push(piped)
    const call = (d: ReturnType<typeof templateData>) => fn(...args.map((a) => a(d)))
    if (name === 'printIndex' && args.length !== 2) throw new Error('printIndex needs a value and one key')
    if (name === 'index' && args.length < 2) throw new Error('index needs a value and at least one key')
    return call
  }
  const pipeline = (): Expr => {
    let e = command()
    while (tokens[i] === '|') {
      i++
      e = command(e)
    }
    return e
  }
  try {
    const e = pipeline()
    if (i !== tokens.length) throw new Error(`unexpected ${JSON.stringify(tokens[i])}`)
    return e
  } catch (e) {
    throw new Error(`unsupported template action {{ ${s} }}: ${(e as Error).message} (supported: .Field.Path, literals, functions and pipelines: print, printf, index, printIndex, len${Object.keys(functions).length ? ', ' + Object.keys(functions).join(', ') : ''})`)
  }
}

export type Template = (session: AuthenticationSession, escape?: (s: string) => string) => string

/** Compile a Go-template subset once, with these extra functions; throws on anything it does not understand. */
export function compileTemplate(src: string, functions: TemplateFunctions = {}): Template {
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
    parts.push(compileAction(src.slice(open + 2, close).replace(/^-|-$/g, ''), functions))
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

/**
 * A template in a handler's config, with these extra functions: compiled once when the config is validated; an
 * invalid one is a config error.
 */
export function templateString(functions: TemplateFunctions = {}) {
  return v.pipe(
    v.string(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      try {
        return compileTemplate(dataset.value, functions)
      } catch (e) {
        addIssue({ message: `expected a template such as {{ print .Subject }}: ${(e as Error).message}` })
        return NEVER
      }
    }),
  )
}

/** A template in a handler's config (the core's functions only). */
export const TemplateString = templateString()
