/**
 * The standalone server (`tessera serve`, `tessera/server`): a public listener (default 4433) and an admin
 * listener (default 4434, loopback) around a kernel. Each request gets a request id (echoed as X-Request-Id),
 * a server span, and one access-log line. An app embedding Tessera (`tessera/elysia`) does not run it.
 *
 * Shutdown (SIGTERM/SIGINT in the CLI): stop accepting, let in-flight requests
 * finish within `serve.shutdownTimeout`, then stop plugins and close storage.
 */
import type { Server } from 'bun'
import { type Span, SpanKind, context, trace } from '@opentelemetry/api'
import { TesseraError, renderError } from '../core/errors.ts'
import { type Listener, buildListenerApp, errorHandler, rawRoutesFor } from '../core/http/app.ts'
import { corsFor } from './cors.ts'
import { type RequestContext, requestIdFor } from '../core/http/context.ts'
import { urlProblem } from '../core/http/edge.ts'
import type { Kernel } from '../core/kernel/kernel.ts'
import { type ListenAddress, listen } from '../core/listen.ts'
import { extractContext, tracer, tracingEnabled } from '../core/telemetry.ts'
import type { Awaitable } from '../core/types.ts'

export interface RunningServer {
  /** `http://host:port` of each listener (the actual port when 0 was configured). */
  publicUrl: string
  adminUrl: string | null
  /** Requests being served right now. */
  inFlight(): number
  /** Stop accepting, drain (bounded by serve.shutdownTimeout), stop plugins, close storage. */
  stop(reason?: string): Promise<void>
}

export interface ServeOptions {
  /** Apply pending migrations before listening (`serve --migrate`). */
  migrate?: boolean
}

function displayHost(host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
}

/** The path of an absolute request URL, without parsing the whole URL. */
function pathOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2)
  if (start < 0) return '/'
  let end = url.length
  const q = url.indexOf('?', start)
  if (q >= 0) end = q
  const h = url.indexOf('#', start)
  if (h >= 0 && h < end) end = h
  return url.slice(start, end)
}

/** Bun's own body limit: the configured one plus room (the edge refuses by Content-Length first). */
function bodyCeiling(configured: number): number {
  return Math.max(configured * 2, configured + 1024 * 1024)
}

export async function serve(kernel: Kernel, opts: ServeOptions = {}): Promise<RunningServer> {
  const serverTracer = tracer()
  await kernel.start({ migrate: opts.migrate })
  const cfg = kernel.config.serve
  let inFlight = 0
  let draining = false

  const start = (listener: Listener, at: ListenAddress): Server<undefined> => {
    // Raw routes go to Bun's router; everything else to the listener's Elysia app.
    const app = buildListenerApp(kernel, listener, { rawRoutes: false, urlChecked: true })
    const elysia = app.fetch
    const onError = errorHandler(kernel)
    // CORS: the public listener only (Kratos' serve.public.cors); off unless configured
    const cors = listener === 'public' ? corsFor(cfg.public.cors) : undefined

    /** What a listener serves: a handler, how its failures render, and whether it stamps X-Request-Id itself. */
    interface Served {
      handle(request: Request, rc: RequestContext): Awaitable<Response>
      fail(error: unknown, request: Request, rc: RequestContext | undefined): Awaitable<Response>
      stamped: boolean
    }

    /**
     * The core's part of every request: context (with the peer address looked up on first use), span, request id,
     * access log. Synchronous from end to end when the handler answers synchronously: no promise on the way.
     */
    const serveWith =
      (route: Served) =>
      (request: Request, server: Server<undefined>): Response | Promise<Response> => {
        if (cors) {
          const preflight = cors.preflight(request)
          if (preflight) return preflight
        }
        inFlight++
        const t0 = performance.now()
        // the edge before any context: a URL the Host header can form, a body within the limit
        const refused = urlProblem(request) ?? tooLarge(request)
        if (refused) {
          const edge = { requestId: requestIdFor(request), remoteAddress: server.requestIP(request)?.address }
          return end({ ...route, stamped: false }, request, edge, undefined, t0, renderError(refused, edge.requestId))
        }
        const c = kernel.contextOf(request, server)
        if (!(c instanceof Promise)) return begin(route, request, c, t0)
        return c.then(
          (rc) => begin(route, request, rc, t0),
          // no context (e.g. its tenant resolver refused the request): render why, in Ory's shape, with a request id
          async (error) => {
            const edge = { requestId: requestIdFor(request), remoteAddress: server.requestIP(request)?.address }
            return end({ ...route, stamped: false }, request, edge, undefined, t0, await onError({ code: 'UNKNOWN', error, request, requestId: edge.requestId }))
          },
        )
      }

    const begin = (route: Served, request: Request, rc: RequestContext, t0: number): Response | Promise<Response> => {
      let span: Span | undefined
      let out: Awaitable<Response>
      try {
        if (tracingEnabled()) {
          const path = pathOf(request.url)
          const parent = extractContext(request.headers)
          span = serverTracer.startSpan(
            `${request.method} ${path}`,
            { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method, 'url.path': path, 'tessera.listener': listener } },
            parent,
          )
          out = context.with(trace.setSpan(parent, span), () => route.handle(request, rc))
        } else {
          out = route.handle(request, rc)
        }
      } catch (e) {
        out = route.fail(e, request, rc)
      }
      if (out instanceof Promise) {
        // one reaction on the answer's way (a failure takes the slower path through `failed`)
        return out.then(
          (response) => end(route, request, rc, span, t0, response),
          (e) => failed(route, request, rc, span, t0, e),
        )
      }
      return end(route, request, rc, span, t0, out)
    }

    /** A handler's rejection: its route's rendering, or the last resort when that fails too. */
    const failed = async (route: Served, request: Request, rc: RequestContext, span: Span | undefined, t0: number, e: unknown): Promise<Response> => {
      let response: Response
      try {
        response = await route.fail(e, request, rc)
      } catch (e2) {
        response = lastResort(e2, rc)
      }
      return end(route, request, rc, span, t0, response)
    }

    /** A body its Content-Length says is over serve.maxRequestBodySize: 413 in Ory's shape, before it is read. */
    const tooLarge = (request: Request): TesseraError | undefined => {
      const length = request.headers.get('content-length')
      if (length === null || !(Number(length) > cfg.maxRequestBodySize)) return undefined
      return new TesseraError('ERR_PAYLOAD_TOO_LARGE', 413, 'The request body is too large', { reason: `The request body exceeds ${cfg.maxRequestBodySize} bytes.`, headers: { connection: 'close' } })
    }

    const lastResort = (e: unknown, rc: RequestContext | undefined): Response => {
      kernel.log.error('unhandled error', { err: e, request_id: rc?.requestId, tenant: rc?.tenant })
      return renderError(e, rc?.requestId)
    }

    const end = (route: Served, request: Request, rc: Pick<RequestContext, 'requestId' | 'remoteAddress'> & { tenant?: string } | undefined, span: Span | undefined, t0: number, response: Response): Response => {
      inFlight--
      cors?.decorate(request, response)
      if (rc && !route.stamped) {
        try {
          response.headers.set('x-request-id', rc.requestId)
        } catch {
          // immutable headers (e.g. a proxied response): leave them
        }
      }
      if (draining) {
        try {
          response.headers.set('connection', 'close')
        } catch {}
      }
      let traceId: string | undefined
      if (span) {
        span.setAttribute('http.response.status_code', response.status)
        span.end()
        const id = span.spanContext().traceId
        if (id !== '00000000000000000000000000000000') traceId = id
      }
      // the root logger with the request's fields: no per-request child logger just for the access line
      if (!kernel.log.enabled(response.status >= 500 ? 'error' : 'info')) return response
      const log = kernel.log
      const fields = {
        request_id: rc?.requestId,
        tenant: rc?.tenant,
        listener,
        method: request.method,
        path: pathOf(request.url),
        status: response.status,
        ms: Math.round((performance.now() - t0) * 100) / 100,
        remote: rc?.remoteAddress,
        trace_id: traceId,
      }
      if (response.status >= 500) log.error('request', fields)
      else log.info('request', fields)
      return response
    }

    const routes: Record<string, (request: Request, server: Server<undefined>) => Response | Promise<Response>> = {}
    for (const r of rawRoutesFor(kernel, listener)) {
      routes[r.path] = serveWith({
        handle: (request, rc) => r.handle(request, rc),
        fail: async (error, request, rc) => {
          const response = await onError({ code: 'UNKNOWN', error, request })
          if (rc && r.stampsRequestId) response.headers.set('x-request-id', rc.requestId)
          return response
        },
        stamped: r.stampsRequestId,
      })
    }

    return listen(at, {
      // Bun answers a body over its own limit with a bare 413 before any handler runs: its limit is a ceiling
      // above the configured one, so that the edge (tooLarge) answers in Ory's shape, with a request id and a log line
      maxRequestBodySize: bodyCeiling(cfg.maxRequestBodySize),
      routes,
      fetch: serveWith({ handle: (request) => elysia(request), fail: (e, _request, rc) => lastResort(e, rc), stamped: false }),
      error(e) {
        kernel.log.error('server error', { err: e })
        return renderError(e)
      },
    })
  }

  const pub = start('public', cfg.public)
  let adm: Server<undefined> | null = null
  try {
    adm = cfg.admin.enabled ? start('admin', cfg.admin) : null
  } catch (e) {
    pub.stop(true)
    throw e
  }
  const publicUrl = `http://${displayHost(cfg.public.host)}:${pub.port}`
  const adminUrl = adm ? `http://${displayHost(cfg.admin.host)}:${adm.port}` : null
  kernel.listeningAt(publicUrl)
  kernel.log.info('tessera is listening', { public: publicUrl, admin: adminUrl ?? 'disabled', dsn_driver: kernel.db.driver })
  await kernel.events.emit('server.started', { public: publicUrl, admin: adminUrl ?? undefined })

  let stopping: Promise<void> | null = null
  const stop = (reason?: string): Promise<void> => {
    stopping ??= (async () => {
      draining = true
      kernel.log.info('shutting down: draining in-flight requests', { reason, in_flight: inFlight, timeout_ms: cfg.shutdownTimeout })
      await kernel.events.emit('server.stopping', { signal: reason })
      const drained = Promise.all([pub.stop(false), adm?.stop(false)])
      const deadline = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), cfg.shutdownTimeout).unref?.())
      const waitIdle = (async () => {
        while (inFlight > 0) await Bun.sleep(10)
      })()
      const outcome = await Promise.race([Promise.all([drained, waitIdle]).then(() => 'drained' as const), deadline])
      if (outcome === 'timeout') {
        kernel.log.warn('shutdown timeout reached; closing remaining connections', { in_flight: inFlight })
        await Promise.all([pub.stop(true), adm?.stop(true)])
      }
      await kernel.stop()
      kernel.log.info('stopped')
    })()
    return stopping
  }

  return { publicUrl, adminUrl, inFlight: () => inFlight, stop }
}
