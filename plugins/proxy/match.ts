/**
 * Rule matching, as Oathkeeper does it: a rule's `match.url` is a full URL
 * (`<scheme>://<host><path>`, no query) in which the parts between `<` and `>`
 * are patterns — regular expressions (strategy `regexp`) or globs (strategy
 * `glob`, `*` stops at `.` and `/`, `**` does not) — and everything else is literal.
 *
 * Paths are normalised before matching (Oathkeeper CVE-2026-33494): percent-
 * decoded once, `//` collapsed, `.` and `..` resolved. The normalised path is
 * both the one matched and the one forwarded upstream.
 */

export type MatchingStrategy = 'glob' | 'regexp'

export interface UrlMatcher {
  /**
   * When the URL matches, its capture groups (strategy `regexp`: one per `<…>`, and any groups inside it, in the
   * order of their opening parenthesis; `glob`: none, as in Oathkeeper); else null.
   */
  match(url: string): string[] | null
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')

/** Split `https://<[a-z]+>.example.com/<**>` into literal and pattern parts. */
function splitDelimited(pattern: string): { literal: boolean; text: string }[] {
  const parts: { literal: boolean; text: string }[] = []
  let i = 0
  while (i < pattern.length) {
    const open = pattern.indexOf('<', i)
    if (open === -1) {
      parts.push({ literal: true, text: pattern.slice(i) })
      break
    }
    if (open > i) parts.push({ literal: true, text: pattern.slice(i, open) })
    // find the matching '>' allowing nested '<…>' (e.g. regexp named groups are not supported by Oathkeeper either)
    let depth = 0
    let close = -1
    for (let j = open; j < pattern.length; j++) {
      if (pattern[j] === '\\') {
        j++
        continue
      }
      if (pattern[j] === '<') depth++
      else if (pattern[j] === '>' && --depth === 0) {
        close = j
        break
      }
    }
    if (close === -1) throw new Error(`unbalanced '<' at position ${open}`)
    parts.push({ literal: false, text: pattern.slice(open + 1, close) })
    i = close + 1
  }
  return parts
}

/** A glob (gobwas/glob syntax with separators `.` and `/`) as a regular expression source. */
export function globToRegExpSource(glob: string): string {
  let out = ''
  let inGroup = 0
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string
    if (c === '\\') {
      out += escapeRe(glob[++i] ?? '\\')
    } else if (c === '*') {
      if (glob[i + 1] === '*') {
        out += '.*'
        i++
      } else out += '[^./]*'
    } else if (c === '?') out += '[^./]'
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1)
      if (end === -1) throw new Error(`unbalanced '[' in glob ${JSON.stringify(glob)}`)
      let body = glob.slice(i + 1, end)
      const negate = body.startsWith('!')
      if (negate) body = body.slice(1)
      out += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`
      i = end
    } else if (c === '{') {
      inGroup++
      out += '(?:'
    } else if (c === '}' && inGroup > 0) {
      inGroup--
      out += ')'
    } else if (c === ',' && inGroup > 0) out += '|'
    else out += escapeRe(c)
  }
  if (inGroup) throw new Error(`unbalanced '{' in glob ${JSON.stringify(glob)}`)
  return out
}

/** Compile a rule's `match.url`; throws with a readable message on a bad pattern. */
export function compileUrlMatcher(pattern: string, strategy: MatchingStrategy): UrlMatcher {
  const parts = splitDelimited(pattern)
  let source = '^'
  for (const p of parts) {
    if (p.literal) source += escapeRe(p.text)
    else if (strategy === 'regexp') {
      new RegExp(p.text) // validate alone, for a clear error
      // each `<…>` is a capture group of its own, as Oathkeeper (ory/ladon's CompileRegex) compiles it; groups
      // inside it follow, numbered by their opening parenthesis
      source += `(${p.text})`
    } else source += `(?:${globToRegExpSource(p.text)})`
  }
  source += '$'
  const re = new RegExp(source)
  if (strategy === 'glob') return { match: (url) => (re.test(url) ? [] : null) }
  return {
    match(url) {
      const m = re.exec(url)
      if (!m) return null
      const groups: string[] = new Array(m.length - 1)
      for (let i = 1; i < m.length; i++) groups[i - 1] = m[i] ?? ''
      return groups
    },
  }
}

export class BadPathError extends Error {}

/** Characters kept as-is when a normalised path segment is re-encoded. */
const SEGMENT_SAFE = /[A-Za-z0-9\-._~!$&'()*+,;=:@]/

function encodeSegment(s: string): string {
  let out = ''
  for (const ch of s) {
    if (SEGMENT_SAFE.test(ch)) out += ch
    else out += encodeURIComponent(ch)
  }
  return out
}

/**
 * The canonical form of a request path: percent-decoded once (so `%2e%2e` and `..%2f`
 * are seen for what they are), `\0` refused, empty and `.` segments dropped, `..` resolved
 * (never above the root), then re-encoded. A trailing slash is kept. Oathkeeper CVE-2026-33494.
 */
/** A path that is already canonical: no escapes, no empty, `.` or `..` segments, only safe characters. */
const CANONICAL = /^(?:\/(?!\.{1,2}(?:[/;]|$))[A-Za-z0-9\-._~!$&'()*+,;=:@]+)*\/?$/

export function normalisePath(rawPath: string): string {
  if (CANONICAL.test(rawPath)) return rawPath
  let decoded: string
  try {
    decoded = decodeURIComponent(rawPath)
  } catch {
    throw new BadPathError('the request path is not valid percent-encoding')
  }
  if (decoded.includes('\0')) throw new BadPathError('the request path contains a NUL byte')
  const out: string[] = []
  const segments = decoded.split('/')
  for (const seg of segments) {
    // `..;/` and `.;x/`: servlet containers strip path parameters and then resolve the dot segment
    if (/^\.{1,2};/.test(seg)) throw new BadPathError('the request path has a parameter on a dot segment')
    if (seg === '' || seg === '.') continue
    if (seg === '..') out.pop()
    else out.push(seg)
  }
  const last = segments[segments.length - 1]
  const trailing = out.length > 0 && (last === '' || last === '.' || last === '..')
  return `/${out.map(encodeSegment).join('/')}${trailing ? '/' : ''}`
}

/** The raw (still percent-encoded) path of a request URL string, without query and fragment. */
export function rawPathOf(url: string): string {
  const schemeEnd = url.indexOf('://')
  const start = schemeEnd === -1 ? 0 : url.indexOf('/', schemeEnd + 3)
  if (start === -1) return '/'
  let end = url.length
  const q = url.indexOf('?', start)
  const h = url.indexOf('#', start)
  if (q !== -1) end = q
  if (h !== -1 && h < end) end = h
  return url.slice(start, end) || '/'
}
