/**
 * The per-request context every Tessera route gets as `tessera`:
 * request id, tenant (resolved once), a logger bound to both, and the
 * database scoped to the tenant.
 */
import { Elysia } from 'elysia'
import type { Logger } from '../logger.ts'
import type { ScopedDb } from '../storage/scoped.ts'
import { bodyProblem, urlProblem } from './edge.ts'

export interface RequestContext {
  requestId: string
  /** The tenant (network id) this request acts in. */
  tenant: string
  /** A logger whose lines carry request_id and tenant. */
  log: Logger
  /** The database, scoped to `tenant`. */
  db: ScopedDb
  /** performance.now() when the request arrived. */
  startedAt: number
  /** The connecting peer's address (the socket's, never X-Forwarded-For); absent when embedded. */
  remoteAddress?: string
  /**
   * The client's address, what rate limiters key on: the socket peer, or, when the peer is one of
   * `serve.trustedProxies`, the right-most X-Forwarded-For hop that is not a trusted proxy. Absent without a peer.
   */
  readonly clientAddress?: string
  /**
   * Where browsers and apps reach the public API for this request, without a trailing slash: the public
   * listener's root, for building URLs (a flow's `ui.action`, links, redirects back to Tessera).
   * `serve.public.baseUrl` when set; otherwise standalone `http://localhost:<public port>`, and embedded the
   * host app's origin as this request reached it plus the public prefix (see docs/embedding.md).
   */
  readonly publicBaseUrl: string
}

/** Works out a request's public base URL (RequestContext.publicBaseUrl). */
export type PublicBaseUrlResolver = (request: Request) => string

/** The public base URL from the configuration alone: `serve.public.baseUrl`, else `http://localhost:<port>`. */
export function configuredPublicBaseUrl(config: { serve: { public: { baseUrl?: string; port: number } } }): string {
  return (config.serve.public.baseUrl ?? `http://localhost:${config.serve.public.port}`).replace(/\/+$/, '')
}

/** Where the socket's peer address of a request can be looked up: Bun's server. */
export interface PeerLookup {
  requestIP(request: Request): { address: string } | null
}

/**
 * A request's context, resolved once per request. A plugin serving its own listener passes its Bun server
 * as `peer`, so `remoteAddress` is the socket's peer, looked up only when read.
 */
export type ContextResolver = (request: Request, peer?: PeerLookup) => Promise<RequestContext>

/**
 * The Elysia instance a plugin's route function receives. Its routes see
 * `tessera: RequestContext` in their handler context.
 */
export function createRouteApp(resolve: ContextResolver, immediate?: (request: Request) => RequestContext, opts: { raw?: boolean; urlChecked?: boolean } = {}): RouteApp {
  // the standalone server checked the URL of every request before Elysia saw it (urlChecked): the body is left
  const checked = opts.urlChecked ? (opts.raw ? new Elysia() : bodyEdge()) : opts.raw ? urlEdge() : edge()
  // When the tenant needs no lookup, the context is there at once: a synchronous derive saves an await per request.
  if (immediate) return checked.derive(({ request }) => ({ tessera: immediate(request) })) as RouteApp
  return checked.derive(async ({ request }) => ({ tessera: await resolve(request) })) as RouteApp
}

/**
 * The edge every route's request passes (core/http/edge.ts), after the body is parsed and before anything else:
 * the URL (Host, path, query) and the parsed body, whatever its content type.
 */
const edge = () =>
  new Elysia().onTransform(({ request, body }) => {
    const bad = urlProblem(request) ?? (body === undefined ? undefined : bodyProblem(body))
    if (bad) throw bad
  })

/** The edge's body check alone (the URL checked already), a no-op for a request without a parsed body. */
const bodyEdge = () =>
  new Elysia().onTransform(({ body }) => {
    if (body === undefined) return
    const bad = bodyProblem(body)
    if (bad) throw bad
  })

/** The edge of a raw route, which reads its body itself (with parseJsonBody): the URL only, the body left unread. */
const urlEdge = () =>
  new Elysia().onTransform(({ request }) => {
    const bad = urlProblem(request)
    if (bad) throw bad
  })

function deferredRouteApp(resolve: ContextResolver) {
  return edge().derive(async ({ request }) => ({ tessera: await resolve(request) }))
}

export type RouteApp = ReturnType<typeof deferredRouteApp>

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** Honour a sane incoming X-Request-Id; otherwise make a new one (UUIDv7, time-ordered). */
export function requestIdFor(request: Request): string {
  const incoming = request.headers.get('x-request-id')
  if (incoming && REQUEST_ID.test(incoming)) return incoming
  return Bun.randomUUIDv7()
}
