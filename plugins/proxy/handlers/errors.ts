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

const RedirectConfig = v.object({
  to: v.pipe(v.string(), v.url()),
  code: v.optional(v.picklist([301, 302, 303, 307, 308]), 302),
  return_to_query_param: v.optional(v.string()),
})
const redirect: ErrorHandler<v.InferOutput<typeof RedirectConfig>> = {
  id: 'redirect',
  config: RedirectConfig,
  handle(_error, req, config) {
    const to = new URL(config.to)
    if (config.return_to_query_param) to.searchParams.set(config.return_to_query_param, req.url.toString())
    return new Response(null, { status: config.code, headers: { location: to.toString() } })
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
