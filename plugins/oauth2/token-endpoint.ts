/**
 * The token endpoint (`POST /oauth2/token`), revocation (`POST /oauth2/revoke`) and introspection
 * (`POST /admin/oauth2/introspect`): raw routes, the hot paths. Client authentication (RFC 6749 §2.3,
 * OpenID Connect Core §9) is here too, for every endpoint that needs it.
 *
 * Grants are handlers by `grant_type` in `OAuth2.grants`: this part registers `client_credentials` and
 * `refresh_token`; the next registers `authorization_code`, the device code and jwt-bearer grants the same way.
 */
import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose'
import { OAuth2Error, type RawRoute, type RequestContext, type ScopedDb, UniqueViolationError, sha256HexSync, sql } from 'tessera'
import type { Client, ClientRecord } from './clients.ts'
import type { OAuth2 } from './oauth2.ts'
import type { TokenResponse } from './tokens.ts'

/** What a grant handler gets: the authenticated client and the request's parameters. */
export interface TokenRequest {
  client: Client
  form: URLSearchParams
  db: ScopedDb
  rc: RequestContext
  issuer: string
  oauth2: OAuth2
}
/** A grant's answer: the tokens, and whose they are (for the `oauth2.token.issued` event). */
export interface GrantResult {
  tokens: TokenResponse
  subject: string
}
export type GrantHandler = (req: TokenRequest) => Promise<GrantResult>

export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const MAX_BODY = 64 * 1024
/** Parameters that may repeat (Hydra reads `audience` as a list). */
const REPEATABLE = new Set(['audience'])

// one Headers for every answer: a Response copies its init's headers, and copying a Headers is about half a
// microsecond cheaper than building one from a plain object each time
const NO_STORE = new Headers({ 'content-type': 'application/json;charset=utf-8', 'cache-control': 'no-store', pragma: 'no-cache' })
export const tokenJson = (body: unknown) => new Response(JSON.stringify(body), { status: 200, headers: NO_STORE })

const invalidRequest = (why: string) => new OAuth2Error('invalid_request', `The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed. ${why}`)

/**
 * The form body of an OAuth2 request (RFC 6749 §3.2: application/x-www-form-urlencoded, no repeated parameters).
 * A plain function around the body's promise, not an async one: one promise fewer on every token and
 * introspection request (each hop is a microtask the hot paths pay).
 */
export function formOf(request: Request): Promise<URLSearchParams> {
  if (request.method !== 'POST') return Promise.reject(new OAuth2Error('invalid_request', 'The HTTP method must be POST.', 405, { headers: { allow: 'POST' } }))
  const headers = request.headers
  const type = headers.get('content-type') ?? ''
  if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded')) return Promise.reject(invalidRequest('The body must be application/x-www-form-urlencoded.'))
  const length = Number(headers.get('content-length') ?? 0)
  if (length > MAX_BODY) return Promise.reject(invalidRequest('The body is too large.'))
  return request.text().then(parseForm)
}

function parseForm(text: string): URLSearchParams {
  if (text.length > MAX_BODY) throw invalidRequest('The body is too large.')
  let form: URLSearchParams
  try {
    form = new URLSearchParams(text)
  } catch {
    throw invalidRequest('The body could not be parsed.')
  }
  const seen = new Set<string>()
  for (const [k, value] of form) {
    if (seen.has(k) && !REPEATABLE.has(k)) throw invalidRequest(`The parameter ${k} is included more than once.`)
    seen.add(k)
    if (value.length > 8192 || value.includes('\u0000')) throw invalidRequest(`The parameter ${k} is malformed.`)
  }
  return form
}

/** `scope` as a list (empty when absent). */
export const scopesOf = (s: string | null): string[] => (s ? s.split(' ').filter(Boolean) : [])
/** `audience` as a list: repeated parameters, each possibly space-separated (as Hydra reads it). */
export const audiencesOf = (form: URLSearchParams): string[] => form.getAll('audience').flatMap((a) => a.split(' ')).filter(Boolean)

/**
 * The requested `scope` and `audience` of `params`, each within the client's whitelist (exact matching, as Hydra):
 * a scope it may not ask for is `invalid_scope`, an audience `invalid_request`, built by `fail` (an OAuth2Error by
 * default; the authorization endpoint's goes back to the client).
 */
export function whitelisted(
  client: Pick<Client, 'scope' | 'audience'>,
  params: URLSearchParams,
  fail: (error: 'invalid_scope' | 'invalid_request', description: string) => Error = (error, description) => new OAuth2Error(error, description),
): { scope: string[]; audience: string[] } {
  const scope = scopesOf(params.get('scope'))
  const allowed = client.scope.split(' ')
  const notAllowed = scope.filter((s) => !allowed.includes(s))
  if (notAllowed.length) throw fail('invalid_scope', `The requested scope is invalid, unknown, or malformed. The client is not allowed to request scope ${notAllowed.join(' ').slice(0, 200)}.`)
  const audience = audiencesOf(params)
  const foreign = audience.filter((a) => !client.audience.includes(a))
  if (foreign.length) throw fail('invalid_request', `Requested audience ${foreign.join(' ').slice(0, 200)} has not been whitelisted by the OAuth 2.0 Client.`)
  return { scope, audience }
}

const invalidClient = (why: string, basic: boolean) =>
  new OAuth2Error('invalid_client', `Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method). ${why}`, 401, basic ? { headers: { 'www-authenticate': 'Basic realm="oauth2"' } } : {})

/** RFC 6749 §2.3.1: each half of a Basic credential is form-urlencoded. */
function decodeBasic(header: string): { id: string; secret: string } | null {
  if (!/^basic /i.test(header)) return null
  let raw: string
  try {
    raw = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8')
  } catch {
    return null
  }
  const i = raw.indexOf(':')
  if (i < 0) return null
  try {
    // most credentials have nothing encoded (generated ids and secrets are base64url): no decoding to do
    const dec = (s: string) => (s.includes('%') || s.includes('+') ? decodeURIComponent(s.replaceAll('+', ' ')) : s)
    return { id: dec(raw.slice(0, i)), secret: dec(raw.slice(i + 1)) }
  } catch {
    return null
  }
}

const remoteSets = new Map<string, ReturnType<typeof createRemoteJWKSet>>()

/**
 * Authenticate the client of a token, revocation or introspection request by the method it registered:
 * client_secret_basic, client_secret_post, private_key_jwt (RFC 7523 §2.2, jti single-use) or none.
 */
export async function authenticateClient(o: OAuth2, request: Request, form: URLSearchParams, rc: RequestContext, tokenUrl: string, issuer: string): Promise<ClientRecord> {
  const header = request.headers.get('authorization')
  const basic = header ? decodeBasic(header) : null
  if (header && !basic) throw invalidClient('The Authorization header is not a valid Basic credential.', true)
  const assertion = form.get('client_assertion')
  const postSecret = form.get('client_secret')
  const methods = [basic, assertion, postSecret].filter((x) => x !== null).length
  if (methods > 1) throw invalidRequest('Use exactly one client authentication method.')

  let method: Client['token_endpoint_auth_method']
  let id: string
  if (basic) {
    method = 'client_secret_basic'
    id = basic.id
  } else if (assertion !== null) {
    method = 'private_key_jwt'
    if (form.get('client_assertion_type') !== JWT_BEARER_ASSERTION) throw invalidRequest(`client_assertion_type must be ${JWT_BEARER_ASSERTION}.`)
    let sub: unknown
    try {
      sub = decodeJwt(assertion).sub
    } catch {
      throw invalidClient('The client assertion is not a JWT.', false)
    }
    if (typeof sub !== 'string') throw invalidClient('The client assertion has no subject.', false)
    id = sub
  } else {
    method = postSecret !== null ? 'client_secret_post' : 'none'
    const formId = form.get('client_id')
    if (formId === null) throw invalidClient('No client authentication was included.', false)
    id = formId
  }
  const formId = form.get('client_id')
  if (formId !== null && formId !== id) throw invalidRequest('client_id does not match the authenticated client.')
  if (id.length === 0 || id.length > 255) throw invalidClient('The client is unknown.', !!basic)

  if (o.limiter) {
    const wait = o.limiter.take(`${rc.tenant}\u0000${id}`)
    if (wait > 0) throw new OAuth2Error('too_many_requests', 'Too many token requests for this client, try again later.', 429, { headers: { 'retry-after': String(Math.max(1, Math.ceil(wait))) } })
  }

  const got = o.clients.get(rc.db, id)
  const record = got instanceof Promise ? await got : got
  if (!record) {
    // as much work as a wrong secret, so that timing does not tell which client ids exist
    if (method === 'client_secret_basic' || method === 'client_secret_post') await o.ctx.secrets.system.verify('oauth2.client_secret', 'x', 'AAAA')
    throw invalidClient('The client is unknown or the credentials are wrong.', !!basic)
  }
  const c = record.client
  if (c.token_endpoint_auth_method !== method) {
    throw invalidClient(`The client is registered for token_endpoint_auth_method ${c.token_endpoint_auth_method}, but the request used ${method}.`, !!basic)
  }
  if (method === 'client_secret_basic' || method === 'client_secret_post') {
    const secret = basic ? basic.secret : postSecret!
    if (!(await o.secrets.verify(record, secret))) throw invalidClient('The client is unknown or the credentials are wrong.', !!basic)
  } else if (method === 'private_key_jwt') {
    await verifyAssertion(o, rc.db, c, assertion!, tokenUrl, issuer)
  }
  return record
}

/** RFC 7523 §3: iss = sub = client_id, aud the token endpoint (or the issuer), exp within the hour, jti once. */
async function verifyAssertion(o: OAuth2, db: ScopedDb, c: Client, assertion: string, tokenUrl: string, issuer: string): Promise<void> {
  const alg = c.token_endpoint_auth_signing_alg || 'RS256'
  const keys = c.jwks_uri ? (remoteSets.get(c.jwks_uri) ?? remoteSets.set(c.jwks_uri, createRemoteJWKSet(new URL(c.jwks_uri))).get(c.jwks_uri)!) : createLocalJWKSet({ keys: (c.jwks.keys ?? []) as never[] })
  let payload: Record<string, unknown>
  try {
    ;({ payload } = await jwtVerify(assertion, keys, { algorithms: [alg], issuer: c.client_id, subject: c.client_id, audience: [tokenUrl, issuer], requiredClaims: ['exp', 'jti'], clockTolerance: 5 }))
  } catch (e) {
    throw invalidClient(`The client assertion could not be verified: ${(e as Error).message}`, false)
  }
  const exp = payload.exp as number
  if (exp - Date.now() / 1000 > 3600) throw invalidClient('The client assertion must expire within one hour.', false)
  const jti = String(payload.jti)
  try {
    await db.exec(sql`INSERT INTO oauth2_used_jti (nid, jti_hash, expires_at) VALUES (${db.nid}, ${sha256HexSync(`${c.client_id}\u0000${jti}`)}, ${new Date(exp * 1000)})`)
  } catch (e) {
    if (e instanceof UniqueViolationError) throw invalidClient('The client assertion was used before (jti).', false)
    throw e
  }
}

/** RFC 6749 §4.4, with the client's scope and audience whitelists (exact matching). */
export const clientCredentials: GrantHandler = async ({ client, form, db, issuer, oauth2 }) => {
  if (client.token_endpoint_auth_method === 'none') throw new OAuth2Error('invalid_client', 'A public client cannot use the client_credentials grant.', 401)
  const { scope, audience } = whitelisted(client, form)
  const tokens = await oauth2.tokens.issue(db, { client, subject: client.client_id, grantType: 'client_credentials', scope, audience, issuer })
  return { tokens, subject: client.client_id }
}

/** RFC 6749 §6, rotating (RFC 9700 §4.14.2). */
export const refreshToken: GrantHandler = async ({ client, form, db, issuer, oauth2 }) => {
  const token = form.get('refresh_token')
  if (!token) throw invalidRequest('refresh_token is missing.')
  const scope = form.get('scope')
  return oauth2.tokens.refresh(db, client, token, scope === null ? undefined : scopesOf(scope), issuer)
}

/**
 * The token endpoint's work after parsing: authenticate the client, run its grant, say so. The `/oauth2/token`
 * route and the in-process `oauth2.tokens` service (service.ts) both come through here.
 */
export async function exchange(o: OAuth2, request: Request, form: URLSearchParams, rc: RequestContext): Promise<TokenResponse> {
  const grantType = form.get('grant_type')
  if (!grantType) throw invalidRequest('grant_type is missing.')
  const issuer = o.issuer(rc)
  const record = await authenticateClient(o, request, form, rc, `${issuer}/oauth2/token`, issuer)
  const handler = o.grants.get(grantType)
  if (!handler) throw new OAuth2Error('unsupported_grant_type', `The authorization grant type ${JSON.stringify(grantType).slice(0, 100)} is not supported by the authorization server.`)
  if (!record.client.grant_types.includes(grantType)) throw new OAuth2Error('unauthorized_client', `The client is not allowed to use the grant type ${grantType}.`)
  const { tokens, subject } = await handler({ client: record.client, form, db: rc.db, rc, issuer, oauth2: o })
  await o.ctx.emit('oauth2.token.issued', { clientId: record.client.client_id, subject, grantType, refresh: tokens.refresh_token !== undefined }, { tenant: rc.tenant, requestId: rc.requestId })
  return tokens
}

export function tokenRoutes(o: OAuth2): { public: RawRoute<any, any>[]; admin: RawRoute<any, any>[] } {
  const token: RawRoute<any, any> = {
    path: '/oauth2/token',
    async handle(request, rc) {
      return tokenJson(await exchange(o, request, await formOf(request), rc))
    },
  }
  const revoke: RawRoute<any, any> = {
    path: '/oauth2/revoke',
    async handle(request, rc) {
      const form = await formOf(request)
      const value = form.get('token')
      if (value === null) throw invalidRequest('token is missing.')
      const issuer = o.issuer(rc)
      const record = await authenticateClient(o, request, form, rc, `${issuer}/oauth2/token`, issuer)
      await o.tokens.revoke(rc.db, record.client, value)
      return new Response(null, { status: 200, headers: { 'cache-control': 'no-store' } })
    },
  }
  const introspect: RawRoute<any, any> = {
    path: '/admin/oauth2/introspect',
    // promise steps rather than an async function: the hot path's answer is one microtask after the body's
    handle: (request, rc) =>
      formOf(request).then((form) => {
        const value = form.get('token')
        if (value === null || value === '') throw invalidRequest('token is missing.')
        const got = o.tokens.introspect(rc.db, value, o.issuer(rc), scopesOf(form.get('scope')))
        return got instanceof Promise ? got.then(tokenJson) : tokenJson(got)
      }),
  }
  return { public: [token, revoke], admin: [introspect] }
}
