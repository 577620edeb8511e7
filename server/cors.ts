/**
 * CORS for the public listener (Kratos' `serve.public.cors`), for a browser app on another origin that calls the
 * flow APIs: a preflight (`OPTIONS` with `Access-Control-Request-Method`) from an allowed origin is answered `204`
 * with the allowed methods and headers; every other answer to an allowed origin carries
 * `Access-Control-Allow-Origin: <that origin>`, `Vary: Origin` and, with `allowCredentials`, the credentials flag.
 * A request from any other origin gets no CORS header (the browser then refuses the page access) and is served as
 * without CORS. Off by default.
 */
import type { CorsConfig } from '../core/config/schema.ts'

export interface Cors {
  /** The answer to a preflight from an allowed origin; undefined for anything else (served as usual). */
  preflight(request: Request): Response | undefined
  /** Add the CORS headers for the request's origin, when it is allowed. */
  decorate(request: Request, response: Response): void
}

/** `https://*.example.com` → a test of an origin; a plain origin compares exactly (lower-cased). */
function originTest(pattern: string): (origin: string) => boolean {
  const p = pattern.toLowerCase()
  if (p === '*') return () => true
  const star = p.indexOf('*')
  if (star < 0) return (o) => o === p
  const head = p.slice(0, star)
  const tail = p.slice(star + 1)
  // the wildcard stands for one or more DNS labels: letters, digits, hyphens and dots, nothing else
  return (o) => o.length > head.length + tail.length && o.startsWith(head) && o.endsWith(tail) && /^[a-z0-9.-]+$/.test(o.slice(head.length, o.length - tail.length))
}

export function corsFor(config: CorsConfig | undefined): Cors | undefined {
  if (!config?.enabled) return undefined
  const tests = config.allowedOrigins.map(originTest)
  const allowed = (origin: string | null): origin is string => origin !== null && tests.some((t) => t(origin.toLowerCase()))
  const methods = config.allowedMethods.join(', ')
  const headers = config.allowedHeaders.join(', ')
  const exposed = config.exposedHeaders.join(', ')
  const set = (h: Headers, origin: string) => {
    h.set('access-control-allow-origin', origin)
    if (config.allowCredentials) h.set('access-control-allow-credentials', 'true')
    h.append('vary', 'Origin')
  }
  return {
    preflight(request) {
      if (request.method !== 'OPTIONS' || !request.headers.has('access-control-request-method')) return undefined
      const origin = request.headers.get('origin')
      const h = new Headers({ 'cache-control': 'no-store' })
      if (!allowed(origin)) {
        h.set('vary', 'Origin')
        return new Response(null, { status: 204, headers: h })
      }
      set(h, origin)
      h.set('access-control-allow-methods', methods)
      h.set('access-control-allow-headers', headers)
      if (config.maxAge > 0) h.set('access-control-max-age', String(config.maxAge))
      return new Response(null, { status: 204, headers: h })
    },
    decorate(request, response) {
      const origin = request.headers.get('origin')
      if (!allowed(origin)) return
      try {
        set(response.headers, origin)
        if (exposed) response.headers.set('access-control-expose-headers', exposed)
      } catch {
        // immutable headers (a proxied response): leave them
      }
    },
  }
}
