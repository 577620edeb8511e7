/**
 * The Sprig functions Oathkeeper's templates offer (it renders with `sprig.TxtFuncMap()`), the common subset
 * Oathkeeper configs use: strings, defaults, encodings, lists. Argument order is Sprig's: the value a
 * pipeline passes is the last argument (`{{ .Subject | replace "a" "b" }}`). Functions that read the
 * environment or the clock, or make random values, are left out: a rule's template must not leak or vary.
 */
import { sha256HexSync } from 'tessera'
import { type TemplateFunctions, templateString } from './template.ts'

const str = (x: unknown): string => (x === undefined || x === null ? '' : typeof x === 'object' ? JSON.stringify(x) : String(x))

/** Sprig's `empty`: nil, false, 0, "" and empty lists and maps. */
function isEmpty(x: unknown): boolean {
  if (x === undefined || x === null || x === false || x === 0 || x === '') return true
  if (Array.isArray(x)) return x.length === 0
  if (typeof x === 'object') return Object.keys(x).length === 0
  return false
}

const list = (x: unknown): unknown[] => (Array.isArray(x) ? x : x === undefined || x === null ? [] : [x])

function b64decode(s: string): string {
  try {
    return Buffer.from(atob(s), 'latin1').toString('utf8')
  } catch {
    // Sprig answers a bad input with the error's text; an empty value says the same without leaking it
    return ''
  }
}

export const sprigFunctions: TemplateFunctions = {
  // strings
  upper: (s) => str(s).toUpperCase(),
  lower: (s) => str(s).toLowerCase(),
  title: (s) => str(s).replace(/(^|[^\p{L}\p{N}'])(\p{L})/gu, (_, sep: string, c: string) => sep + c.toUpperCase()),
  trim: (s) => str(s).trim(),
  trimAll: (cut, s) => {
    const chars = [...str(cut)]
    let out = str(s)
    while (out && chars.includes(out[0] as string)) out = out.slice(1)
    while (out && chars.includes(out[out.length - 1] as string)) out = out.slice(0, -1)
    return out
  },
  trimPrefix: (prefix, s) => (str(s).startsWith(str(prefix)) ? str(s).slice(str(prefix).length) : str(s)),
  trimSuffix: (suffix, s) => (str(suffix) && str(s).endsWith(str(suffix)) ? str(s).slice(0, -str(suffix).length) : str(s)),
  replace: (old, replacement, s) => str(s).replaceAll(str(old), str(replacement)),
  contains: (sub, s) => str(s).includes(str(sub)),
  hasPrefix: (prefix, s) => str(s).startsWith(str(prefix)),
  hasSuffix: (suffix, s) => str(s).endsWith(str(suffix)),
  quote: (...xs) => xs.map((x) => JSON.stringify(str(x))).join(' '),
  squote: (...xs) => xs.map((x) => `'${str(x)}'`).join(' '),
  cat: (...xs) => xs.filter((x) => x !== undefined && x !== null).map(str).join(' '),
  nospace: (s) => str(s).replace(/\s/g, ''),
  repeat: (n, s) => str(s).repeat(Math.max(0, Math.min(Number(n) || 0, 1024))),
  substr: (start, end, s) => str(s).slice(Number(start), Number(end) < 0 ? undefined : Number(end)),
  trunc: (n, s) => (Number(n) >= 0 ? str(s).slice(0, Number(n)) : str(s).slice(Number(n))),
  toString: (x: unknown) => str(x),
  // defaults and conditions
  default: (fallback, ...given) => (given.length === 0 || isEmpty(given[0]) ? fallback : given[0]),
  empty: (x) => isEmpty(x),
  coalesce: (...xs) => xs.find((x) => !isEmpty(x)),
  ternary: (yes, no, cond) => (cond === true ? yes : no),
  // encodings
  b64enc: (s) => Buffer.from(str(s), 'utf8').toString('base64'),
  b64dec: (s) => b64decode(str(s)),
  toJson: (x) => JSON.stringify(x ?? null),
  sha256sum: (s) => sha256HexSync(str(s)),
  urlquery: (...xs) => encodeURIComponent(xs.map(str).join('')).replace(/%20/g, '+'),
  // lists
  list: (...xs) => xs,
  join: (sep, xs) => list(xs).map(str).join(str(sep)),
  splitList: (sep, s) => str(s).split(str(sep)),
  first: (xs) => list(xs)[0],
  last: (xs) => list(xs).at(-1),
  has: (x, xs) => list(xs).includes(x),
}

/** A template in a proxy handler's config: Oathkeeper's Go-template subset (template.ts) plus Sprig's common functions. */
export const ProxyTemplate = templateString(sprigFunctions)
