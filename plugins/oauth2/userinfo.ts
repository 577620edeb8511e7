/**
 * `GET|POST /userinfo` (OpenID Connect Core §5.3): the bearer access token in the Authorization header or, for
 * POST, the form body (RFC 6750 §2.1, §2.2 — never the query). The claims: `sub`, what the consent put in
 * `session.id_token`, and the identity's claims for the granted scopes through the claims mapping. Plain JSON,
 * or a signed JWT when the client registered `userinfo_signed_response_alg: RS256`.
 */
import { type RawRoute, type RequestContext, sql } from 'tessera'
import type { ClaimsMapping } from './options.ts'
import type { OAuth2 } from './oauth2.ts'
import { signJwt } from './keys.ts'
import { ID_TOKEN_SET } from './options.ts'
import { MAX_TOKEN_LENGTH, signatureOf } from './tokens.ts'

/** The default mapping: the identity's traits named as the standard claims of each scope (OpenID Connect Core §5.4). */
export const defaultClaims: ClaimsMapping = ({ identity, scopes }) => {
  const t = (identity.traits ?? {}) as Record<string, unknown>
  const out: Record<string, unknown> = {}
  const pick = (...names: string[]) => {
    for (const n of names) if (t[n] !== undefined) out[n] = t[n]
  }
  if (scopes.includes('email') && typeof t.email === 'string') {
    out.email = t.email
    const addrs = Array.isArray(identity.verifiable_addresses) ? (identity.verifiable_addresses as { value?: string; verified?: boolean }[]) : []
    out.email_verified = addrs.some((a) => a.value === t.email && a.verified === true)
  }
  if (scopes.includes('profile')) {
    const name = t.name
    if (typeof name === 'string') out.name = name
    else if (name && typeof name === 'object') {
      const n = name as Record<string, unknown>
      if (typeof n.first === 'string') out.given_name = n.first
      if (typeof n.last === 'string') out.family_name = n.last
      if (out.given_name || out.family_name) out.name = [out.given_name, out.family_name].filter(Boolean).join(' ')
    }
    pick('given_name', 'family_name', 'middle_name', 'nickname', 'preferred_username', 'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale')
  }
  if (scopes.includes('phone')) {
    if (typeof t.phone_number === 'string') out.phone_number = t.phone_number
    else if (typeof t.phone === 'string') out.phone_number = t.phone
  }
  if (scopes.includes('address') && t.address && typeof t.address === 'object') out.address = t.address
  return out
}

const bearerError = (status: number, error: string, description: string) =>
  new Response(JSON.stringify({ error, error_description: description }), {
    status,
    headers: { 'content-type': 'application/json;charset=utf-8', 'cache-control': 'no-store', 'www-authenticate': `Bearer error="${error}", error_description="${description}"` },
  })

async function tokenOf(request: Request): Promise<string | null | Response> {
  const header = request.headers.get('authorization')
  let fromBody: string | null = null
  if (request.method === 'POST' && (request.headers.get('content-type') ?? '').startsWith('application/x-www-form-urlencoded')) {
    const text = await request.text()
    if (text.length > 16384) return bearerError(400, 'invalid_request', 'The body is too large.')
    fromBody = new URLSearchParams(text).get('access_token')
  }
  if (header && fromBody) return bearerError(400, 'invalid_request', 'Use exactly one way to send the access token.')
  if (header) return /^bearer /i.test(header) ? header.slice(7).trim() : null
  return fromBody
}

export function userinfoRoutes(o: OAuth2): RawRoute<any, any>[] {
  const handle = async (request: Request, rc: RequestContext): Promise<Response> => {
    if (request.method !== 'GET' && request.method !== 'POST') return new Response(null, { status: 405, headers: { allow: 'GET, POST' } })
    const token = await tokenOf(request)
    if (token instanceof Response) return token
    if (!token) return new Response(null, { status: 401, headers: { 'www-authenticate': 'Bearer', 'cache-control': 'no-store' } })
    if (token.length > MAX_TOKEN_LENGTH) return bearerError(401, 'invalid_token', 'The access token is invalid.')
    const row = await rc.db.one<{ client_id: string; subject: string; scope: string; consent_id: string | null; active: boolean; expires_at: Date; grant_type: string }>(
      sql`SELECT client_id, subject, scope, consent_id, active, expires_at, grant_type FROM oauth2_access_tokens WHERE nid = ${rc.db.nid} AND signature = ${signatureOf(token)}`,
    )
    if (!row || !row.active || row.expires_at.getTime() <= Date.now()) return bearerError(401, 'invalid_token', 'The access token is invalid, expired or revoked.')
    const scopes = row.scope === '' ? [] : row.scope.split(' ')
    if (!scopes.includes('openid') || row.grant_type === 'client_credentials') return bearerError(403, 'insufficient_scope', 'The access token was not granted the openid scope.')
    const claims: Record<string, unknown> = {}
    if (row.consent_id) {
      const c = await rc.db.one<{ session: { session?: { id_token?: Record<string, unknown> } } }>(sql`SELECT session FROM oauth2_consents WHERE nid = ${rc.db.nid} AND id = ${row.consent_id}`)
      Object.assign(claims, c?.session.session?.id_token ?? {})
    }
    const identity = await o.ctx.services.get('identity.login')?.identity(rc.tenant, row.subject)
    if (identity) Object.assign(claims, await (o.options.claims ?? defaultClaims)({ identity, scopes }))
    claims.sub = row.subject
    const client = (await o.clients.get(rc.db, row.client_id))?.client
    if (client?.userinfo_signed_response_alg === 'RS256') {
      const issuer = o.issuer(rc)
      const now = Math.floor(Date.now() / 1000)
      const jwt = await signJwt(o.keys, rc.tenant, ID_TOKEN_SET, { ...claims, iss: issuer, aud: [row.client_id], iat: now, exp: now + 3600, jti: crypto.randomUUID() }, { typ: 'JWT', alg: 'RS256' })
      return new Response(jwt, { headers: { 'content-type': 'application/jwt', 'cache-control': 'no-store' } })
    }
    return new Response(JSON.stringify(claims), { headers: { 'content-type': 'application/json;charset=utf-8', 'cache-control': 'no-store' } })
  }
  return [{ path: '/userinfo', handle }]
}
