/** Mutators: noop, header, cookie, id_token, hydrator. Templates see Subject, Extra and MatchContext. */
import { type CryptoKey, type JWK, SignJWT } from 'jose'
import * as v from 'valibot'
import { type AuthenticationSession, type Mutator, PipelineError } from 'tessera'
import { templateData } from '../template.ts'
import { ProxyTemplate } from '../sprig.ts'
import { Duration, jsonEscape } from '../util.ts'
const HeaderName = v.pipe(v.string(), v.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected an HTTP header name'))

/** Headers a request's header map never holds in Go (Host) or that belong to one connection only. */
const NOT_ECHOED = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade'])

/**
 * noop: the request's headers become the session's (Oathkeeper's mutator_noop.go), so `/decisions` answers with
 * them; on the reverse proxy they are the headers forwarded anyway.
 */
const noop: Mutator = {
  id: 'noop',
  mutate(req, session) {
    for (const [name, value] of req.headers) if (!NOT_ECHOED.has(name)) session.header.set(name, value)
  },
}

const HeaderConfig = v.object({ headers: v.record(HeaderName, ProxyTemplate) })
const header: Mutator<v.InferOutput<typeof HeaderConfig>> = {
  id: 'header',
  config: HeaderConfig,
  mutate(_req, session, config) {
    const headers = config.headers
    for (const name in headers) {
      const value = (headers[name] as (typeof headers)[string])(session).replace(/[\r\n\0]/g, '')
      session.header.set(name, value)
    }
  },
}

const CookieConfig = v.object({ cookies: v.record(v.pipe(v.string(), v.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/)), ProxyTemplate) })
const cookie: Mutator<v.InferOutput<typeof CookieConfig>> = {
  id: 'cookie',
  config: CookieConfig,
  mutate(_req, session, config) {
    for (const [name, t] of Object.entries(config.cookies)) session.cookies[name] = t(session).replace(/[\r\n\0;,\s]/g, '')
  },
}

/** The signing key the id_token mutator uses and /.well-known/jwks.json publishes. */
export interface IdTokenKeys {
  get(): Promise<{ privateKey: CryptoKey; kid: string; alg: string; publicJwk: JWK }>
}

const IdTokenConfig = v.object({
  issuer_url: v.pipe(v.string(), v.url()),
  ttl: v.optional(Duration, '15m'),
  claims: v.optional(ProxyTemplate),
  jwks_url: v.optional(v.string()),
})

function idToken(keys: IdTokenKeys): Mutator<v.InferOutput<typeof IdTokenConfig>> {
  return {
    id: 'id_token',
    config: IdTokenConfig,
    async mutate(_req, session, config) {
      let claims: Record<string, unknown> = {}
      if (config.claims) {
        try {
          claims = JSON.parse(config.claims(session, jsonEscape))
        } catch (e) {
          throw new PipelineError('internal_server_error', 500, 'The id_token claims template is not valid JSON', 'id_token_claims', { cause: e })
        }
      }
      const key = await keys.get()
      const now = Math.floor(Date.now() / 1000)
      const jwt = await new SignJWT({ ...claims })
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
        .setIssuer(config.issuer_url)
        .setSubject(session.subject)
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + Math.floor(config.ttl / 1000))
        .setJti(crypto.randomUUID())
        .sign(key.privateKey)
      session.header.set('authorization', `Bearer ${jwt}`)
    },
  }
}

const HydratorConfig = v.object({
  api: v.object({
    url: v.pipe(v.string(), v.url()),
    auth: v.optional(v.object({ basic: v.object({ username: v.string(), password: v.string() }) })),
  }),
})

/** hydrator: POSTs the session to an API and takes `extra` and `header` from its answer. */
const hydrator: Mutator<v.InferOutput<typeof HydratorConfig>> = {
  id: 'hydrator',
  config: HydratorConfig,
  async mutate(_req, session, config) {
    const headers = new Headers({ 'content-type': 'application/json', accept: 'application/json' })
    if (config.api.auth) headers.set('authorization', `Basic ${btoa(`${config.api.auth.basic.username}:${config.api.auth.basic.password}`)}`)
    const res = await fetch(config.api.url, { method: 'POST', headers, body: JSON.stringify(sessionJson(session)), signal: AbortSignal.timeout(5000) }).catch((e) => {
      throw new PipelineError('internal_server_error', 500, 'The hydrator API could not be reached', 'hydrator_unreachable', { cause: e })
    })
    if (res.status !== 200) {
      await res.body?.cancel()
      throw new PipelineError('internal_server_error', 500, 'The hydrator API failed', 'hydrator_failed')
    }
    const body = (await res.json().catch(() => null)) as { extra?: unknown; header?: Record<string, string[] | string> } | null
    if (!body || typeof body !== 'object') throw new PipelineError('internal_server_error', 500, 'The hydrator API answered with invalid JSON', 'hydrator_invalid')
    if (body.extra && typeof body.extra === 'object') session.extra = body.extra as Record<string, unknown>
    for (const [k, val] of Object.entries(body.header ?? {})) session.header.set(k, Array.isArray(val) ? val.join(', ') : String(val))
  },
}

/** The session as Oathkeeper's hydrator sends it. */
export function sessionJson(session: AuthenticationSession) {
  const d = templateData(session)
  const header: Record<string, string[]> = {}
  for (const [k, val] of session.header) header[k] = [val]
  return { subject: d.Subject, extra: d.Extra, header, match_context: { regexp_capture_groups: d.MatchContext.RegexpCaptureGroups, url: d.MatchContext.URL.String } }
}

export function mutators(keys: IdTokenKeys): Mutator<any>[] {
  return [noop, header, cookie, idToken(keys), hydrator]
}
