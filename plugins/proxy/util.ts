/** Small helpers shared by the proxy's handlers: templates, durations, JSON paths, a bounded cache, tokens. */
import type { PipelineRequest } from 'tessera'
import * as v from 'valibot'

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

/** A duration in a handler's config, parsed once when the config is validated (milliseconds). */
export const Duration = v.pipe(
  v.string(),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    try {
      return parseDuration(dataset.value)
    } catch {
      addIssue({ message: 'expected a duration such as 30s, 1m or 1h' })
      return NEVER
    }
  }),
)

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

/** Escape a value for the inside of a JSON string literal. */
export const jsonEscape = (s: string) => JSON.stringify(s).slice(1, -1)
