/**
 * One request in, one decision out: effective URL (X-Forwarded-* only from trusted
 * proxies), path normalisation, exactly one matching rule, then the rule's pipeline.
 * Shared by /decisions and the reverse-proxy listener.
 */
import type { BlockList } from 'node:net'
import { type AuthenticationSession, type Awaitable, type Decision, type Logger, type PipelineRequest, renderError, BadRequestError, ConfigError, NotFoundError, TesseraError, clientAddressOf } from 'tessera'
import { BadPathError, normalisePath, rawPathOf } from './match.ts'
import { cidrList, inCidrList } from './pipeline.ts'
import { type CompiledRule, findRule } from './rules.ts'

/** The trusted proxies (parsed once with `cidrList`), or null when there are none. */
export type TrustedProxies = BlockList | null

/**
 * The proxies the proxy trusts, and where the list came from: the core's `serve.trustedProxies` (what
 * `RequestContext.clientAddress` and every rate limiter read), or the deprecated `trusted_proxies` alias.
 */
export interface ProxyTrust {
  list: TrustedProxies
  /** True when the list is `serve.trustedProxies`, so `rc.clientAddress` already honours it. */
  fromCore: boolean
}

const ALIAS = 'plugins.proxy.options.trusted_proxies'
const CORE = 'serve.trustedProxies'

/**
 * One trusted-proxy setting: `serve.trustedProxies`. The proxy's own `trusted_proxies` is a deprecated alias
 * for one release: used (with a warning) when it is the only one set; set beside a different core list, it is
 * a ConfigError naming both. The same entries in another order are the same list.
 */
export function resolveTrust(core: readonly string[], alias: readonly string[], log?: Logger): ProxyTrust {
  if (alias.length === 0) return { list: core.length ? cidrList(core, CORE) : null, fromCore: true }
  const list = trustedProxies({ trusted_proxies: alias }) // a bad entry stops boot here, naming it
  if (core.length === 0) {
    log?.warn(`${ALIAS} is deprecated: set ${CORE} (env SERVE_TRUSTED_PROXIES) instead, which the proxy and every rate limiter read`, { trusted_proxies: alias.join(',') })
    return { list, fromCore: false }
  }
  const same = (a: readonly string[], b: readonly string[]) => {
    const x = new Set(a.map((e) => e.trim()))
    const y = new Set(b.map((e) => e.trim()))
    return x.size === y.size && [...x].every((e) => y.has(e))
  }
  if (!same(core, alias)) {
    throw new ConfigError([`${ALIAS} (deprecated) and ${CORE} are both set and differ: set only ${CORE}, the one trusted-proxy setting`])
  }
  log?.warn(`${ALIAS} is deprecated and repeats ${CORE}: remove it`)
  return { list: cidrList(core, CORE), fromCore: true }
}

const parsedTrusted = new WeakMap<readonly string[], TrustedProxies>()
/** The deprecated `trusted_proxies` parsed once per options, a bad entry a ConfigError naming it. */
export function trustedProxies(o: { trusted_proxies: readonly string[] }): TrustedProxies {
  let t = parsedTrusted.get(o.trusted_proxies)
  if (t === undefined) {
    t = o.trusted_proxies.length ? cidrList(o.trusted_proxies, 'plugins.proxy.options.trusted_proxies') : null
    parsedTrusted.set(o.trusted_proxies, t)
  }
  return t
}

/** Is `ip` one of the trusted proxies (addresses or CIDR ranges, IPv4, IPv6 or IPv4-mapped)? */
export function isTrusted(ip: string | undefined, trusted: TrustedProxies): boolean {
  return trusted !== null && inCidrList(trusted, ip)
}

export interface DecisionInput {
  method: string
  /** Scheme and authority of the request as received. */
  scheme: string
  host: string
  /** The raw (percent-encoded) path and query, as received. */
  rawPath: string
  query: string
  headers: Headers
  remoteAddress?: string
  /**
   * The client's address (what `when.request.cidr` / `remote_ip.match` test): the socket peer, or behind a
   * trusted proxy the right-most X-Forwarded-For hop that is not one. Default: `remoteAddress`.
   */
  readonly clientAddress?: string
  tenant: string
  raw?: Request
}

/** The client address of a request from `peer`, under `trust` (`rc.clientAddress` when the list is the core's). */
export function clientAddressUnder(trust: ProxyTrust, peer: string | undefined, headers: Headers, rc?: { readonly clientAddress?: string }): string | undefined {
  if (trust.fromCore && rc) return rc.clientAddress
  return clientAddressOf(peer, headers.get('x-forwarded-for'), trust.list ?? undefined)
}

export type Outcome =
  | { allowed: true; session: AuthenticationSession; rule: CompiledRule; request: PipelineRequest }
  | { allowed: false; response: Response; reason: string; rule?: CompiledRule }

/** Is `name` (lower case) a forwarding header: any `X-Forwarded-*`, or `Forwarded` (RFC 7239)? */
export function isForwardingHeader(name: string): boolean {
  return name.startsWith('x-forwarded') || name === 'forwarded'
}

/** Remove every forwarding header (Oathkeeper's proxy does so for an untrusted peer: CVE-2026-33495). */
export function stripForwarding(headers: Headers): void {
  const names: string[] = []
  for (const [name] of headers) if (isForwardingHeader(name)) names.push(name)
  for (const name of names) headers.delete(name)
}

/**
 * Which forwarded headers describe the request, from a trusted peer only: on `/decisions` the method, scheme,
 * host and URI (the request asked about is elsewhere: Oathkeeper's api/decision.go); on the reverse proxy only
 * the scheme (Oathkeeper's EnrichRequestedURL), because the request matched must be the request forwarded.
 */
export type ForwardedFor = 'decisions' | 'proxy'

export function effectiveRequest(input: DecisionInput, trusted: TrustedProxies, mode: ForwardedFor = 'decisions'): DecisionInput {
  // the peer address is looked at only when there are proxies to trust
  if (!isTrusted(input.remoteAddress, trusted)) return input
  const h = input.headers
  const out: DecisionInput = { ...input, remoteAddress: input.remoteAddress }
  const proto = h.get('x-forwarded-proto')?.toLowerCase()
  if (proto === 'http' || proto === 'https') out.scheme = proto
  if (mode === 'proxy') return out
  const host = h.get('x-forwarded-host')
  if (host && /^[A-Za-z0-9.\-:[\]]+$/.test(host)) out.host = host
  const method = h.get('x-forwarded-method')
  if (method && METHOD_TOKEN.test(method)) out.method = method
  const uri = h.get('x-forwarded-uri')
  if (uri?.startsWith('/')) {
    const q = uri.indexOf('?')
    out.rawPath = q === -1 ? uri : uri.slice(0, q)
    out.query = q === -1 ? '' : uri.slice(q)
  }
  return out
}

/** An HTTP method: an RFC 9110 token (custom methods such as PURGE included). */
export const METHOD_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** The decision for one request; synchronous when the rule's pipeline answered synchronously (await it either way). */
export function decide(rules: readonly CompiledRule[], input: DecisionInput, trusted: TrustedProxies, requestId?: string, mode: ForwardedFor = 'decisions'): Awaitable<Outcome> {
  const eff = effectiveRequest(input, trusted, mode)
  let path: string
  try {
    path = normalisePath(eff.rawPath)
  } catch (e) {
    if (e instanceof BadPathError) return { allowed: false, reason: 'bad_path', response: renderError(new BadRequestError(e.message), requestId) }
    throw e
  }
  const matchUrl = `${eff.scheme}://${eff.host}${path}`
  const href = `${matchUrl}${eff.query}`
  let parsed: URL | undefined
  // The URL object is built on first use (templates, the reverse proxy); a decision that never reads it never
  // pays for it. What could make it unparsable is checked now: the path is normalised and validated, the query
  // comes from a parsed request URL, so only a host that is not a plain host[:port] (forwarded, or odd) is parsed.
  if (!PLAIN_HOST.test(eff.host) || eff !== input) {
    try {
      parsed = new URL(href)
    } catch {
      return { allowed: false, reason: 'bad_url', response: renderError(new BadRequestError('The request URL is not valid'), requestId) }
    }
  }
  const found = findRule(rules, eff.method, matchUrl)
  if (found.kind === 'none') {
    return { allowed: false, reason: 'no_rule', response: renderError(new NotFoundError('Requested url does not match any rules', { id: 'not_found' }), requestId) }
  }
  if (found.kind === 'ambiguous') {
    return {
      allowed: false,
      reason: 'ambiguous_rules',
      response: renderError(new TesseraError('ERR_RULES_AMBIGUOUS', 500, 'Expected exactly one rule but found multiple rules', { reason: `matching rules: ${found.ids.join(', ')}` }), requestId),
    }
  }
  const request: PipelineRequest = {
    method: eff.method,
    get url() {
      parsed ??= new URL(href)
      return parsed
    },
    headers: input.headers,
    // read on first use (a `when.request.cidr` condition, a handler's template): most decisions never need it
    get remoteAddress() {
      return input.remoteAddress
    },
    get clientAddress() {
      return input.clientAddress ?? input.remoteAddress
    },
    tenant: input.tenant,
    raw: input.raw,
  }
  const rule = found.rule
  const d = rule.pipeline.run(request, found.captures)
  return d instanceof Promise ? d.then((x) => outcomeOf(x, rule, request)) : outcomeOf(d, rule, request)
}

function outcomeOf(d: Decision, rule: CompiledRule, request: PipelineRequest): Outcome {
  if (!d.allowed) return { allowed: false, response: d.response, reason: d.error.reasonId, rule }
  return { allowed: true, session: d.session, rule, request }
}

/** A host[:port] that certainly parses in a URL (names, IPv4, bracketed IPv6). */
const PLAIN_HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/

/** Hop-by-hop headers (RFC 9110 §7.6.1) plus every header the Connection header names. */
export function stripHopByHop(headers: Headers): void {
  const named = (headers.get('connection') ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean)
  for (const h of ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', ...named]) {
    headers.delete(h)
  }
}

/** The Cookie header after the cookie mutator: the client's cookies with mutated ones replaced. */
export function mergedCookieHeader(original: string | null, cookies: Record<string, string>): string | null {
  const names = Object.keys(cookies)
  if (names.length === 0) return original
  const kept = (original ?? '')
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s && !names.includes(s.slice(0, s.indexOf('=')).trim()))
  return [...kept, ...names.map((n) => `${n}=${cookies[n]}`)].join('; ')
}
