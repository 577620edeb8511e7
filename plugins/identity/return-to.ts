/**
 * return_to allow-list with Kratos' semantics (selfservice.allowed_return_urls):
 * scheme, host and port must match; `*.example.com` admits sub-domains only at a
 * DNS-label boundary; the path must equal the allowed path or continue it after
 * a `/`. Security checklist: `https://*.example.com` must not admit
 * `https://evilexample.com`; `/app` must not admit `/application`.
 */
export function isAllowedReturnTo(candidate: string, allowed: readonly string[]): boolean {
  let c: URL
  try {
    c = new URL(candidate)
  } catch {
    return false
  }
  if (c.username || c.password) return false
  for (const a of allowed) {
    const wildcard = a.includes('://*.')
    let u: URL
    try {
      u = new URL(wildcard ? a.replace('://*.', '://wildcard-label.') : a)
    } catch {
      continue
    }
    if (u.protocol !== c.protocol || u.port !== c.port) continue
    if (wildcard) {
      const suffix = `.${u.hostname.slice('wildcard-label.'.length)}`
      if (!c.hostname.endsWith(suffix) || c.hostname.length <= suffix.length) continue
    } else if (u.hostname !== c.hostname) continue
    const base = u.pathname
    if (base === '/' || base === '' || c.pathname === base || c.pathname.startsWith(base.endsWith('/') ? base : `${base}/`)) return true
  }
  return false
}

/** Multi-label public suffixes a wildcard must not sit directly on (a short list of the common ones). */
const PUBLIC_SUFFIXES = new Set([
  'co.uk', 'org.uk', 'ac.uk', 'gov.uk', 'me.uk', 'com.au', 'net.au', 'org.au', 'co.nz', 'co.jp', 'ne.jp', 'or.jp',
  'com.br', 'com.cn', 'com.mx', 'co.in', 'co.kr', 'co.za', 'com.tr', 'com.tw', 'com.sg', 'github.io', 'herokuapp.com',
])

/**
 * Why an allow-list entry is unsafe, or null when it is fine. Refused (security checklist, Kratos d027980ec):
 * a bare `*`, a wildcard on a TLD or public suffix (`*.com`, `*.co.uk`), a wildcard not at a label boundary
 * (`*foo.com`), and a wildcard that is not the first label (`foo.*.com`).
 */
export function unsafeReturnToEntry(entry: string): string | null {
  if (!entry.includes('*')) {
    try {
      new URL(entry)
      return null
    } catch {
      return 'expected an absolute URL'
    }
  }
  const m = /^([a-z][a-z0-9+.-]*:\/\/)\*\.([^/:*]+)(:\d+)?(\/[^*]*)?$/i.exec(entry)
  if (!m) return 'a wildcard may only be the whole first label of the host, as in https://*.example.com'
  const suffix = m[2]!.toLowerCase()
  if (!suffix.includes('.') || PUBLIC_SUFFIXES.has(suffix)) return `a wildcard on a public suffix (${suffix}) admits every site under it`
  return null
}
