/**
 * The reverse-proxy listener: decide, then forward to the rule's upstream with the
 * mutated headers, streaming bodies both ways and stripping hop-by-hop headers.
 */
import { type Awaitable, type Logger, type PluginContext, type RequestContext, TesseraError, listen as bind, renderError, requestIdFor } from 'tessera'
import { type DecisionInput, type Outcome, type ProxyTrust, clientAddressUnder, decide, isTrusted, mergedCookieHeader, stripForwarding, stripHopByHop } from './engine.ts'
import { rawPathOf } from './match.ts'
import type { ResolvedProxyOptions } from './options.ts'
import type { CompiledRule } from './rules.ts'

/**
 * A listener of the proxy's own (not one of the core's): each request gets its context from the core, with
 * this server as the peer lookup, and an error becomes an Ory-shaped answer, logged when it is the server's.
 */
function listen(
  ctx: PluginContext<ResolvedProxyOptions>,
  at: { host: string; port: number; reuse_port: boolean },
  handle: (request: Request, rc: RequestContext) => Promise<Response>,
): { port: number; stop(): Promise<void> } {
  const server = bind({ host: at.host, port: at.port, reusePort: at.reuse_port }, {
    async fetch(request, srv) {
      let rc: RequestContext
      try {
        rc = await ctx.requestContext(request, srv)
      } catch (e) {
        // no context (a tenant the resolver refused): still a request id, in the body and the header
        const requestId = requestIdFor(request)
        const response = renderError(e, requestId)
        response.headers.set('x-request-id', requestId)
        return response
      }
      try {
        return await handle(request, rc)
      } catch (e) {
        if (!(e instanceof TesseraError) || e.status >= 500) rc.log.error('proxy request failed', { err: e })
        return renderError(e, rc.requestId)
      }
    },
  })
  return { port: server.port as number, stop: () => server.stop() }
}

/** The reverse-proxy listener. */
export function startReverseProxy(ctx: PluginContext<ResolvedProxyOptions>, rules: () => readonly CompiledRule[], trust: ProxyTrust) {
  return listen(ctx, ctx.options.serve, (request, rc) => forward(ctx, rules(), trust, request, rc))
}

/** A listener that serves only `/decisions` (any method), knowing the peer address. */
export function startDecisionsListener(ctx: PluginContext<ResolvedProxyOptions>, rules: () => readonly CompiledRule[], trust: ProxyTrust) {
  return listen(ctx, ctx.options.decisions_listener, async (request, rc) => {
    const raw = rawPathOf(request.url)
    if (raw !== '/decisions' && !raw.startsWith('/decisions/')) throw new TesseraError('ERR_NOT_FOUND', 404, 'The requested resource could not be found')
    return decisionResponse(ctx, rules(), trust, request, rc)
  })
}

/**
 * Who is asking: the request's tenant and id, the socket's peer address and the client's address (behind
 * `serve.trustedProxies`), each read only when needed.
 */
export interface DecisionContext {
  tenant: string
  requestId: string
  readonly remoteAddress?: string
  readonly clientAddress?: string
}

/**
 * `/decisions`: 200 with the mutated headers (and Cookie when the cookie mutator ran), or the error handler's
 * answer; either carries X-Request-Id.
 */
export function decisionResponse(
  ctx: PluginContext<ResolvedProxyOptions>,
  rules: readonly CompiledRule[],
  trust: ProxyTrust,
  request: Request,
  rc: DecisionContext,
): Awaitable<Response> {
  const outcome = decide(rules, decisionInput(request, rc, trust, '/decisions'), trust.list, rc.requestId)
  // synchronous when the whole pipeline was (a cached token, allow, header): no promise on the hot path
  return outcome instanceof Promise ? outcome.then((o) => decisionOf(o, request, rc, ctx.log)) : decisionOf(outcome, request, rc, ctx.log)
}

/**
 * What a decision is asked about, read from the request as it arrived: method, scheme, Host, the raw path
 * (after `prefix`, for /decisions) and query. request.url is already a serialised URL: it is sliced, not
 * parsed again. The peer address is read only if the decision needs it.
 */
export function decisionInput(request: Request, rc: DecisionContext, trust: ProxyTrust, prefix = ''): DecisionInput {
  const href = request.url
  // `/decisions` with nothing after it asks about the bare host: an empty path, which a rule URL without a
  // path matches (Oathkeeper's api/decision.go); the reverse proxy's path is at least `/`
  const rawPath = prefix ? rawPathOf(href).slice(prefix.length) : rawPathOf(href)
  const q = href.indexOf('?')
  const hash = href.indexOf('#')
  const queryEnd = hash === -1 ? href.length : hash
  return {
    method: request.method,
    scheme: href.slice(0, href.indexOf(':')),
    host: request.headers.get('host') ?? new URL(href).host,
    rawPath,
    query: q === -1 || (hash !== -1 && q > hash) || q + 1 >= queryEnd ? '' : href.slice(q, queryEnd),
    headers: request.headers,
    get remoteAddress() {
      return rc.remoteAddress
    },
    get clientAddress() {
      return clientAddressUnder(trust, rc.remoteAddress, request.headers, rc)
    },
    tenant: rc.tenant,
    raw: request,
  }
}

function decisionOf(outcome: Outcome, request: Request, rc: DecisionContext, log: Logger): Response {
  if (!outcome.allowed) {
    // as the reverse proxy logs a denial, but at debug: a gateway asks /decisions about every request
    if (log.enabled('debug')) log.debug('access denied', { rule: outcome.rule?.rule.id, reason_id: outcome.reason, request_id: rc.requestId })
    try {
      outcome.response.headers.set('x-request-id', rc.requestId)
    } catch {
      // an error handler's immutable response: leave it
    }
    return outcome.response
  }
  // the session's headers are this request's own (a fresh Headers per pipeline run): answer with them
  const headers = outcome.session.header
  // never the client's Content-Length (the noop mutator echoes the request's headers): Oathkeeper's api/decision.go
  headers.delete('content-length')
  headers.set('x-request-id', rc.requestId)
  const original = request.headers.get('cookie')
  const cookie = mergedCookieHeader(original, outcome.session.cookies)
  if (cookie !== original && cookie !== null) headers.set('cookie', cookie)
  return new Response(null, { status: 200, headers })
}

export async function forward(
  ctx: PluginContext<ResolvedProxyOptions>,
  rules: readonly CompiledRule[],
  trust: ProxyTrust,
  request: Request,
  rc: DecisionContext,
): Promise<Response> {
  const o = ctx.options
  const { requestId } = rc
  const peer = rc.remoteAddress
  // whether to believe the peer's X-Forwarded-* is a decision on the socket peer, against the one list
  const trusted = isTrusted(peer, trust.list)
  // The headers the pipeline sees are the ones forwarded (Oathkeeper's proxy runs it on the outgoing request):
  // 1. hop-by-hop, including whatever Connection names (GHSA-w9mr-28mw-j8hg), before mutators' headers go on
  // 2. from an untrusted peer every X-Forwarded-* and Forwarded is removed (CVE-2026-33495)
  const headers = new Headers(request.headers)
  stripHopByHop(headers)
  if (!trusted) stripForwarding(headers)
  const input = { ...decisionInput(request, rc, trust), headers }
  // the request matched is the request forwarded: its own method, Host and path (only X-Forwarded-Proto counts)
  const outcome = await decide(rules, input, trust.list, requestId, 'proxy')
  if (!outcome.allowed) {
    ctx.log.info('access denied', { rule: outcome.rule?.rule.id, reason_id: outcome.reason })
    return outcome.response
  }
  const upstream = outcome.rule.rule.upstream
  if (!upstream) {
    return renderError(new TesseraError('ERR_NO_UPSTREAM', 502, 'The matching rule has no upstream', { reason: `rule ${outcome.rule.rule.id}` }), requestId)
  }
  // The path forwarded is the normalised path that was matched (Oathkeeper CVE-2026-33494).
  let path = outcome.request.url.pathname
  if (upstream.strip_path && path.startsWith(upstream.strip_path)) path = path.slice(upstream.strip_path.length) || '/'
  if (!path.startsWith('/')) path = `/${path}`
  const base = new URL(upstream.url)
  const target = new URL(base.toString())
  target.pathname = `${base.pathname.replace(/\/$/, '')}${path}`
  target.search = outcome.request.url.search

  // 3. the mutators' headers replace client-sent copies (the noop mutator's echo of these headers changes nothing);
  // hop-by-hop names are never set from a session
  const mutated = new Headers(outcome.session.header)
  stripHopByHop(mutated)
  for (const [name, value] of mutated) headers.set(name, value)
  const cookie = mergedCookieHeader(request.headers.get('cookie'), outcome.session.cookies)
  if (cookie !== null) headers.set('cookie', cookie)
  const originalHost = input.host
  if (upstream.preserve_host) headers.set('host', outcome.request.url.host)
  else headers.set('host', target.host)
  const xff = trusted ? request.headers.get('x-forwarded-for') : null
  if (peer) headers.set('x-forwarded-for', xff ? `${xff}, ${peer}` : peer)
  if (!trusted || !headers.has('x-forwarded-proto')) headers.set('x-forwarded-proto', outcome.request.url.protocol.replace(/:$/, ''))
  if (!trusted || !headers.has('x-forwarded-host')) headers.set('x-forwarded-host', originalHost)

  let res: Response
  try {
    res = await fetch(target, {
      method: request.method,
      headers,
      body: request.body,
      redirect: 'manual',
      decompress: false,
      signal: AbortSignal.timeout(o.serve.timeout_ms),
      // Bun and undici accept duplex for streamed request bodies
      duplex: 'half',
    } as RequestInit)
  } catch (e) {
    ctx.log.warn('upstream unreachable', { rule: outcome.rule.rule.id, reason: (e as Error).message })
    return renderError(new TesseraError('ERR_BAD_GATEWAY', 502, 'The upstream could not be reached', { id: 'bad_gateway' }), requestId)
  }
  const out = new Headers(res.headers)
  stripHopByHop(out)
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers: out })
}
