/** Error handlers: json, redirect, www_authenticate. Which one answers is chosen by each rule's `when`. */
import * as v from 'valibot'
import { type ErrorHandler, STATUS_TEXT } from 'tessera'

const json: ErrorHandler<{ verbose: boolean }> = {
  id: 'json',
  config: v.object({ verbose: v.optional(v.boolean(), false) }),
  handle(error, _req, config) {
    const body: Record<string, unknown> = { code: error.status, status: STATUS_TEXT[error.status] ?? 'Error', message: error.message }
    if (config.verbose) body.reason = error.reasonId
    return Response.json({ error: body }, { status: error.status })
  },
}

/**
 * Oathkeeper's `to` is a URI reference: an absolute http(s) URL, or a path (`/login`, `login`) resolved against
 * the request's path as Go's http.Redirect does. A network-path reference (`//host/…`) is refused: write the scheme.
 */
const RedirectTarget = v.pipe(
  v.string(),
  v.check((s) => (URL.canParse(s) ? /^https?:/i.test(s) : !s.startsWith('//') && !/[\s\\]/.test(s) && URL.canParse(s, 'http://x/')), 'expected an http(s) URL or a path such as /login'),
)
const RedirectConfig = v.object({
  to: RedirectTarget,
  code: v.optional(v.picklist([301, 302, 303, 307, 308]), 302),
  return_to_query_param: v.optional(v.string()),
})
const redirect: ErrorHandler<v.InferOutput<typeof RedirectConfig>> = {
  id: 'redirect',
  config: RedirectConfig,
  handle(_error, req, config) {
    const absolute = URL.canParse(config.to)
    const to = new URL(config.to, req.url)
    if (config.return_to_query_param) to.searchParams.set(config.return_to_query_param, req.url.toString())
    // a relative target stays relative (resolved against the request's path, as Go's http.Redirect does)
    const location = absolute ? to.toString() : `${to.pathname}${to.search}${to.hash}`
    return new Response(null, { status: config.code, headers: { location } })
  },
}

const wwwAuthenticate: ErrorHandler<{ realm: string }> = {
  id: 'www_authenticate',
  config: v.object({ realm: v.optional(v.pipe(v.string(), v.regex(/^[^"\\\r\n]*$/, 'a realm without quotes or backslashes')), 'Please authenticate.') }),
  handle(_error, _req, config) {
    return new Response(null, { status: 401, headers: { 'www-authenticate': `Basic realm="${config.realm}"` } })
  },
}

export const errorHandlers: ErrorHandler<any>[] = [json, redirect, wwwAuthenticate]
