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
