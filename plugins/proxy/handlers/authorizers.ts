/**
 * Authorizers: allow, deny, remote, remote_json, and `permissions` (permissions.ts), which asks the
 * `permissions.check` service: a rule naming it without that service is refused when the rules load.
 */
import * as v from 'valibot'
import { type Authorizer, type AuthorizerResult, PipelineError, type PluginContext, forbidden } from 'tessera'
import { permissionsAuthorizer } from './permissions.ts'
import { ProxyTemplate } from '../sprig.ts'
import { jsonEscape } from '../util.ts'

const allow: Authorizer = { id: 'allow', authorize: () => ({ allowed: true }) }
const deny: Authorizer = { id: 'deny', authorize: () => ({ allowed: false, error: forbidden('deny_authorizer') }) }

async function askRemote(url: string, init: RequestInit, forward: string[], header: Headers): Promise<AuthorizerResult> {
  let res: Response
  try {
    res = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(5000) })
  } catch (e) {
    throw new PipelineError('internal_server_error', 500, 'The remote authorizer could not be reached', 'remote_authorizer_unreachable', { cause: e })
  }
  await res.body?.cancel()
  if (res.status === 403) return { allowed: false, error: forbidden('remote_authorizer_denied') }
  if (res.status < 200 || res.status >= 300) {
    throw new PipelineError('internal_server_error', 500, 'The remote authorizer failed', 'remote_authorizer_failed')
  }
  for (const h of forward) {
    const val = res.headers.get(h)
    if (val !== null) header.set(h, val)
  }
  return { allowed: true }
}

const RemoteJsonConfig = v.object({
  remote: v.pipe(v.string(), v.url()),
  payload: ProxyTemplate,
  headers: v.optional(v.record(v.string(), ProxyTemplate), {}),
  forward_response_headers_to_upstream: v.optional(v.array(v.string()), []),
})

/** remote_json: POSTs the payload template (values JSON-escaped) and allows on 2xx, denies on 403. */
const remoteJson: Authorizer<v.InferOutput<typeof RemoteJsonConfig>> = {
  id: 'remote_json',
  config: RemoteJsonConfig,
  async authorize(req, session, config) {
    const headers = new Headers({ 'content-type': 'application/json' })
    for (const [k, t] of Object.entries(config.headers)) headers.set(k, t(session))
    const auth = req.headers.get('authorization')
    if (auth && !headers.has('authorization')) headers.set('authorization', auth)
    const body = config.payload(session, jsonEscape)
    try {
      JSON.parse(body)
    } catch (e) {
      throw new PipelineError('internal_server_error', 500, 'The remote_json payload is not valid JSON', 'remote_json_payload', { cause: e })
    }
    return askRemote(config.remote, { method: 'POST', headers, body }, config.forward_response_headers_to_upstream, session.header)
  },
}

const RemoteConfig = v.object({
  remote: v.pipe(v.string(), v.url()),
  headers: v.optional(v.record(v.string(), ProxyTemplate), {}),
  forward_response_headers_to_upstream: v.optional(v.array(v.string()), []),
})

/** remote: POSTs the original request body with its content type. */
const remote: Authorizer<v.InferOutput<typeof RemoteConfig>> = {
  id: 'remote',
  config: RemoteConfig,
  async authorize(req, session, config) {
    const headers = new Headers()
    const ct = req.headers.get('content-type')
    if (ct) headers.set('content-type', ct)
    for (const [k, t] of Object.entries(config.headers)) headers.set(k, t(session))
    const body = req.raw && req.raw.body ? await req.raw.clone().arrayBuffer() : undefined
    return askRemote(config.remote, { method: 'POST', headers, body }, config.forward_response_headers_to_upstream, session.header)
  },
}

export function authorizers(ctx: PluginContext<unknown>): Authorizer<any>[] {
  return [allow, deny, remote, remoteJson, permissionsAuthorizer(ctx)]
}
