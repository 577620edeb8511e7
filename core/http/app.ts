/**
 * Building the public and admin Elysia apps: error rendering in Ory's shape,
 * health and version endpoints, and every plugin's routes for that listener.
 */
import { Elysia } from 'elysia'
import { rewriteDefaultMessage } from '../config/issues.ts'
import { MalformedBodyError, NotFoundError, TesseraError, ValidationError, renderError } from '../errors.ts'
import { type Kernel, registerListenerAppBuilder } from '../kernel/kernel.ts'
import { VERSION } from '../version.ts'
import type { Awaitable } from '../types.ts'
import { type RequestContext, createRouteApp } from './context.ts'
import { listenerDocument } from './openapi.ts'

export type { Listener } from '../types.ts'
import type { Listener } from '../types.ts'

/** Map whatever a route threw (or Elysia raised) to a Tessera error. */
function toTesseraError(code: string | number, error: unknown): TesseraError | unknown {
  if (error instanceof TesseraError) return error
  switch (code) {
    case 'NOT_FOUND':
      return new NotFoundError()
    case 'PARSE':
      return new MalformedBodyError('The request body could not be parsed: check that it is well-formed and matches its Content-Type')
    case 'VALIDATION': {
      const all = (error as { all?: { path?: unknown; message?: string; summary?: string }[] }).all ?? []
      const issues = all.map((i) => {
        const message = String(i.summary ?? i.message ?? 'invalid value')
        return {
          path: typeof i.path === 'string' && i.path.startsWith('/') ? i.path.slice(1).replaceAll('/', '.') : '',
          message: rewriteDefaultMessage(message) ?? message,
        }
      })
      return new ValidationError(issues.length ? issues : [{ path: '', message: 'invalid request' }])
    }
    case 'INVALID_COOKIE_SIGNATURE':
      return new TesseraError('ERR_BAD_REQUEST', 400, 'The request was malformed or contained invalid parameters', { reason: 'a signed cookie was tampered with' })
    default:
      return error
  }
}

/** Elysia onError handler: render Ory-shaped errors, log server errors with their cause. */
export function errorHandler(kernel: Kernel) {
  return async ({ code, error, request, requestId: edgeId }: { code: string | number; error: unknown; request: Request; requestId?: string }) => {
    const mapped = toTesseraError(code, error)
    let requestId: string | undefined
    let log = kernel.log
    try {
      const rc = await kernel.requestContext(request)
      requestId = rc.requestId
      log = rc.log
    } catch {
      // the context itself failed (e.g. a tenant the resolver refused): the id the server gave the request, if any
      requestId = edgeId
      if (edgeId) log = kernel.log.child({ request_id: edgeId })
    }
    if (!(mapped instanceof TesseraError) || mapped.status >= 500) {
      log.error('request failed', { err: error, path: safePath(request), method: request.method })
    }
    return renderError(mapped, requestId)
  }
}

function safePath(request: Request): string {
  try {
    return new URL(request.url).pathname
  } catch {
    return ''
  }
}

/** Health and version in Ory's shapes. */
export function metadataRoutes(kernel: Kernel) {
  return new Elysia()
    .get('/health/alive', () => Response.json({ status: 'ok' }))
    .get('/health/ready', async () => {
      const errors = await kernel.readiness()
      if (Object.keys(errors).length > 0) return Response.json({ errors }, { status: 503 })
      return Response.json({ status: 'ok' })
    })
    .get('/version', () => Response.json({ version: VERSION }))
}

export interface BuildOptions {
  /** Include /health/* and /version (standalone listeners). */
  metadata?: boolean
  /** Mount every route under this prefix. */
  prefix?: string
  /**
   * Mount plugins' raw routes as Elysia routes (default true). The standalone server serves them with
   * Bun's router instead and passes false.
   */
  rawRoutes?: boolean
  /** The server in front checks every request's URL at its edge (`urlProblem`) before the app sees it: not again. */
  urlChecked?: boolean
}

/** A plugin's raw route and who owns it, for one listener. */
interface MountedRawRoute {
  path: string
  handle(request: Request, rc: RequestContext): Awaitable<Response>
  stampsRequestId: boolean
}

/** Every plugin's raw routes for one listener, bound to their plugin's context. */
export function rawRoutesFor(kernel: Kernel, listener: Listener): MountedRawRoute[] {
  const out: MountedRawRoute[] = []
  for (const p of kernel.plugins) {
    for (const r of p.rawRoutes[listener] ?? []) {
      out.push({ path: r.path, handle: (request, rc) => r.handle(request, rc, p.ctx), stampsRequestId: r.stampsRequestId === true })
    }
  }
  return out
}

/** Every plugin's routes for one listener, in plugin order, with errors rendered. */
export function buildListenerApp(kernel: Kernel, listener: Listener, opts: BuildOptions = {}) {
  const app = new Elysia({ name: `tessera-${listener}`, prefix: opts.prefix ?? '' }).onError(errorHandler(kernel))
  if (opts.metadata !== false) app.use(metadataRoutes(kernel))
  // the listener's OpenAPI document, built on first request (every plugin's routes are known by then)
  let document: string | undefined
  app.get('/openapi.json', () => {
    document ??= JSON.stringify(listenerDocument(kernel, listener, { prefix: opts.prefix, metadata: opts.metadata }))
    return new Response(document, { headers: { 'content-type': 'application/json; charset=utf-8' } })
  })
  // without a code resolver the tenant needs no lookup: every context is there at once
  const immediate = kernel.config.tenancy.resolve ? undefined : (request: Request) => kernel.contextOf(request) as RequestContext
  const routeApp = () => createRouteApp(kernel.requestContext, immediate, { urlChecked: opts.urlChecked })
  if (opts.rawRoutes !== false) {
    for (const r of rawRoutesFor(kernel, listener)) {
      // a raw route reads its own body: Elysia leaves it unparsed
      app.use(createRouteApp(kernel.requestContext, immediate, { raw: true, urlChecked: opts.urlChecked }).all(r.path, ({ request, tessera }) => r.handle(request, tessera), { parse: 'none' }))
    }
  }
  for (const p of kernel.plugins) {
    const fn = p.definition.routes?.[listener]
    if (!fn) continue
    const routes = fn(routeApp(), p.ctx)
    app.use(routes)
  }
  return app
}

// how the kernel answers a listener's requests in-process (`kernel.handle`, `ctx.handle`): the listener's whole app, un-prefixed
registerListenerAppBuilder((kernel, listener) => buildListenerApp(kernel, listener))
